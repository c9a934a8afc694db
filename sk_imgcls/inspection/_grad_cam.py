"""Grad-CAM heatmaps of a fitted classifier, in the frame of the images as passed."""

import copy

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torchvision.transforms.v2 import functional as F

from .._backbones._preprocess import BackbonePreprocessing
from .._input import ResizeImages, check_input
from ._optional import import_grad_cam
from ._source import source_sizes


class _ChannelsFirst(nn.Module):
    """A fitted ``module_`` that takes (batch, n_channels, height, width) float images.

    pytorch_grad_cam reads the image size from the last two axes of its input,
    while the package's networks take channels-last batches. The input is
    cast back to ``dtype`` (the dtype the estimator feeds its network), so the
    network computes exactly what it computes in ``predict``.
    """

    def __init__(self, module, dtype):
        super().__init__()
        self.module = module
        self.dtype = dtype

    def forward(self, x):
        return self.module(x.permute(0, 2, 3, 1).to(self.dtype))


def _network_copy(module):
    """A copy of ``module`` in eval mode whose parameters all require gradients.

    Grad-CAM needs the gradient of the class score at the chosen layer: a
    frozen backbone would have none. The copy leaves the fitted ``module_``
    (its ``requires_grad`` flags and its hooks) untouched.
    """
    network = copy.deepcopy(module).eval()
    for param in network.parameters():
        param.requires_grad_(True)
    return network


def _stage_container(module):
    """The module whose children are the stages of the feature extractor, and its name prefix.

    Follows ``features`` and ``backbone`` attributes: ``CNN.features`` (the
    conv blocks), ``TransferNet.features.backbone`` (the timm or torchvision
    network) and a torchvision ``features`` Sequential inside it.
    """
    prefix, node = "", module
    while True:
        for attr in ("features", "backbone"):
            child = getattr(node, attr, None)
            if isinstance(child, nn.Module) and len(child._modules):
                prefix, node = f"{prefix}{attr}.", child
                break
        else:
            return node, prefix


def candidate_layers(network, images):
    """Stages with a spatial output, in the order they run: a dict name -> output shape.

    One forward pass on ``images`` (network input, channels last) records
    which children of the stage container return a 4-D (batch, channels, h,
    w) tensor with more than one position; global pooling (1 x 1) and
    flattened outputs are left out.
    """
    container, prefix = _stage_container(network)
    found = {}
    handles = []
    for name, child in container.named_children():

        def record(layer, args, output, name=name):
            if isinstance(output, torch.Tensor) and output.ndim == 4:
                if output.shape[2] * output.shape[3] > 1:
                    found.pop(prefix + name, None)
                    found[prefix + name] = tuple(output.shape[1:])

        handles.append(child.register_forward_hook(record))
    try:
        with torch.no_grad():
            network(images)
    finally:
        for handle in handles:
            handle.remove()
    return found


def _resolve_layer(network, layer, candidates):
    """The submodule of ``network`` Grad-CAM is taken at, and its name."""
    if layer is None:
        if not candidates:
            raise ValueError(
                "No layer of the network has a spatial output larger than 1 x 1 at this "
                "image size, so Grad-CAM has nothing to localize; pass layer=<name> of "
                "an earlier module, or use larger images."
            )
        layer = next(reversed(candidates))
    names = dict(network.named_modules())
    if not isinstance(layer, str) or layer not in names or layer == "":
        listed = ", ".join(repr(name) for name in candidates) or "none found"
        raise ValueError(
            f"layer={layer!r} is not a module of the fitted network. Candidate layers "
            f"(stages with a spatial output, the last is the default): {listed}; any "
            "name of module_.named_modules() is accepted."
        )
    return names[layer], layer


def _target_indices(estimator, target, n_samples):
    """Column of ``classes_`` per sample for ``target``, or None for the predicted class."""
    if target is None:
        return None
    classes = estimator.classes_
    targets = np.asarray(target, dtype=object if classes.dtype == object else None)
    if targets.ndim == 0:
        targets = np.full(n_samples, targets.item(), dtype=object)
    if targets.shape != (n_samples,):
        raise ValueError(
            f"target must be one label or one label per sample ({n_samples}); got an "
            f"array of shape {targets.shape}."
        )
    unknown = [t for t in dict.fromkeys(targets.tolist()) if t not in set(classes.tolist())]
    if unknown:
        raise ValueError(
            f"target holds labels {unknown} that are not classes of the estimator; "
            f"classes_ is {classes.tolist()}."
        )
    lookup = {label: i for i, label in enumerate(classes.tolist())}
    return np.array([lookup[t] for t in targets.tolist()], dtype=np.int64)


def _in_source_frame(heatmap, preprocess, size):
    """A heatmap (h, w) over the network's input, mapped onto the image of ``size`` as passed.

    Undoes the estimator's preprocessing: a plain :class:`~sk_imgcls._input.ResizeImages`
    is resized back; for :class:`BackbonePreprocessing` the crop is put back in
    place in the resized frame (what was cropped away gets 0) before resizing
    to the original size.
    """
    height, width = size
    if preprocess is None:
        return heatmap
    if isinstance(preprocess, BackbonePreprocessing):
        # torchvision's resize of the shorter side to an int: the longer side
        # is int(size * long / short) (torchvision's _compute_resized_output_size).
        short, long = sorted((height, width))
        new_long = int(preprocess.resize * long / short)
        frame = (preprocess.resize, new_long) if height <= width else (new_long, preprocess.resize)
        canvas = torch.zeros(frame, dtype=heatmap.dtype)
        crop = preprocess.crop
        slices_canvas, slices_heat = [], []
        for extent in frame:
            # center_crop's offset; a crop larger than the image is padded
            # with (crop - extent) // 2 pixels before it.
            start = int(round((extent - crop) / 2.0)) if extent >= crop else -((crop - extent) // 2)
            first, last = max(start, 0), min(start + crop, extent)
            slices_canvas.append(slice(first, last))
            slices_heat.append(slice(first - start, last - start))
        canvas[tuple(slices_canvas)] = heatmap[tuple(slices_heat)]
        heatmap = canvas
    elif not isinstance(preprocess, ResizeImages):
        raise TypeError(f"Cannot map heatmaps back through a {type(preprocess).__name__}.")
    if tuple(heatmap.shape) == (height, width):
        return heatmap
    resized = F.resize(heatmap[None], [height, width], antialias=True)[0]
    return resized.clamp(0.0, 1.0)


def grad_cam(estimator, X, target=None, *, layer=None, batch_size=None):
    """Grad-CAM heatmaps: where in each image the evidence for a class lies.

    The gradient of the class score with respect to the activations of a
    convolutional ``layer``, averaged over positions, weighs its channels;
    their weighted sum, through a ReLU and scaled to [0, 1] per image, is the
    heatmap. It is computed at the network's input (after the estimator's
    resize and crop) and mapped back onto the images as passed.

    Parameters
    ----------
    estimator : CNNClassifier or TransferClassifier
        A fitted classifier of this package (not a Pipeline).
    X : array-like, list of paths or list of PIL images
        Images in any kind ``fit`` takes: arrays of shape (n_samples, height,
        width), (n_samples, height, width, n_channels) or flat rows, file
        paths, or PIL images.
    target : label, array-like of shape (n_samples,) or None, default=None
        Class whose evidence is shown, as labels of ``classes_``: one for
        all images or one per image. None takes, for each image, the class
        with the highest logit (``predict`` without test-time augmentation).
    layer : str or None, default=None
        Name of the module of ``estimator.module_`` to take the activations
        of, as in ``module_.named_modules()`` (e.g. ``"features.1"`` for a
        ``CNNClassifier`` of depth 2, ``"features.backbone.layer4"`` for a
        ResNet). None takes the last stage of the feature extractor whose
        output is a spatial map larger than 1 x 1: the last conv block of a
        ``CNNClassifier``, ``layer4`` of a ResNet, the final conv stage
        (with its batch norm) of an EfficientNet.
    batch_size : int or None, default=None
        Images per forward and backward pass; None uses the estimator's
        ``batch_size``.

    Returns
    -------
    heatmaps : ndarray of shape (n_samples, height, width) or list of ndarray
        float32 values in [0, 1], 1 at the strongest evidence of each image,
        aligned pixel for pixel with the images as passed (before the
        estimator's resize and crop; 0 where the crop cut the image). An
        ndarray when all images have one size (always for arrays), else a
        list of n_samples arrays of shape (height_i, width_i).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    TypeError
        If ``estimator`` is not a classifier of this package.
    ValueError
        If X is not valid input for the estimator; if ``target`` holds a
        label not in ``classes_`` or has the wrong length; if ``layer`` is
        not a module of the network (the message lists the candidate
        layers), or no layer has a spatial output.
    ImportError
        If the ``grad-cam`` package is not installed.

    See Also
    --------
    GradCAMDisplay : Draws the heatmaps over the images.

    Notes
    -----
    Grad-CAM: Selvaraju et al., "Grad-CAM: Visual Explanations from Deep
    Networks via Gradient-based Localization", ICCV 2017. The heatmaps are
    computed by ``pytorch_grad_cam.GradCAM`` of the ``grad-cam`` package
    (Gildenblat et al.) on a copy of ``module_``, which is left as it is.
    Networks whose stages return channels-last or token outputs (Swin,
    vision transformers) are not supported.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_imgcls import CNNClassifier
    >>> from sk_imgcls.inspection import grad_cam
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 256, size=(8, 20, 20)).astype(np.uint8)
    >>> clf = CNNClassifier(max_epochs=1, random_state=0).fit(X, [0, 1] * 4)
    >>> heatmaps = grad_cam(clf, X, target=1)
    >>> heatmaps.shape
    (8, 20, 20)
    >>> bool(heatmaps.min() >= 0 and heatmaps.max() <= 1)
    True
    """
    check_is_fitted(estimator)
    if not (hasattr(estimator, "module_") and hasattr(estimator, "preprocess_")):
        raise TypeError(
            "grad_cam takes a fitted CNNClassifier or TransferClassifier (a Pipeline's "
            f"last step, not the Pipeline); got {type(estimator).__name__}."
        )
    GradCAM, ClassifierOutputTarget = import_grad_cam("grad_cam")
    data = check_input(
        estimator,
        X,
        reset=False,
        preprocess=estimator.preprocess_,
        image_shape=estimator._flat_image_shape(),
    )
    targets = _target_indices(estimator, target, len(data))
    batch_size = batch_size or estimator.batch_size
    first = next(data.batches(1))
    network = _ChannelsFirst(_network_copy(estimator.module_), first.dtype)
    candidates = candidate_layers(network.module, first.to(next(network.parameters()).device))
    target_layer, _ = _resolve_layer(network.module, layer, candidates)
    cam = GradCAM(model=network, target_layers=[target_layer])
    maps = []
    try:
        start = 0
        for images in data.batches(batch_size):
            inputs = images.permute(0, 3, 1, 2).to(torch.float32)
            batch_targets = None
            if targets is not None:
                batch_targets = [
                    ClassifierOutputTarget(int(c)) for c in targets[start : start + len(images)]
                ]
            maps.append(cam(input_tensor=inputs, targets=batch_targets))
            start += len(images)
    finally:
        cam.activations_and_grads.release()
    heatmaps = torch.from_numpy(np.concatenate(maps))
    sizes = source_sizes(estimator, X)
    mapped = [
        _in_source_frame(heatmap, estimator.preprocess_, size).numpy()
        for heatmap, size in zip(heatmaps, sizes)
    ]
    if len(set(sizes)) == 1:
        return np.stack(mapped).astype(np.float32)
    return mapped
