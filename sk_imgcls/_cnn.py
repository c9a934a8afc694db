"""A convolutional network trained from scratch, as a scikit-learn classifier."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval
from torch import nn
from torch.utils.data import DataLoader, Subset

from ._base import BaseImageClassifier
from ._validation import check_images, images_to_tensor


class ConvBlock(nn.Module):
    """conv3x3, batch norm, ReLU, an optional residual conv pair, then max pooling.

    Pooling halves each spatial axis longer than 1 pixel, so any image size
    down to 1x1 passes through every block.
    """

    def __init__(self, in_channels, out_channels, *, residual, pool):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.residual = (
            nn.Sequential(
                nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
            )
            if residual
            else None
        )
        self.pool = nn.MaxPool2d(pool) if pool != (1, 1) else nn.Identity()

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        if self.residual is not None:
            x = torch.relu(x + self.residual(x))
        return self.pool(x)


class CNN(nn.Module):
    """The network of :class:`CNNClassifier`.

    Input: a batch of raw images of shape (batch, height, width, n_channels),
    channels last, any real dtype. The module standardizes them with the
    per-channel ``mean`` and ``std`` learned in ``fit``, so ``module_`` can be
    used on its own.

    Parameters
    ----------
    image_shape : tuple of int
        (height, width, n_channels).
    n_classes : int
        Number of output logits.
    depth, width, residual, dropout
        See :class:`CNNClassifier`.
    mean, std : array-like of shape (n_channels,)
        Per-channel standardization, in input units.
    """

    def __init__(self, image_shape, n_classes, *, depth, width, residual, dropout, mean, std):
        super().__init__()
        height, width_px, n_channels = image_shape
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        blocks = []
        in_channels = n_channels
        for i in range(depth):
            pool = (2 if height > 1 else 1, 2 if width_px > 1 else 1)
            out_channels = width * 2**i
            blocks.append(ConvBlock(in_channels, out_channels, residual=residual, pool=pool))
            in_channels = out_channels
            height, width_px = height // pool[0], width_px // pool[1]
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(in_channels, n_classes),
        )

    def forward(self, x):
        # (N, H, W, C) -> (N, C, H, W) as a view: channels_last strides, which
        # oneDNN convolutions prefer on the CPU.
        x = x.permute(0, 3, 1, 2).to(torch.float32)
        x = (x - self.mean) / self.std
        return self.head(self.features(x))


# Images decoded from files to estimate the per-channel statistics: enough
# for a standard error far below the pixel quantization step.
_N_STATS_IMAGES = 256


def _channel_stats(X, sample_weight, num_workers=0):
    """Per-channel mean and standard deviation of images (N, H, W, C).

    X is an in-memory tensor, or a dict holding it under "X": every image
    counts, weighted by ``sample_weight``, in float64 chunks (so integer
    weights and repeated images give the same statistics). Or X is a dataset
    of image files: a fixed random sample of at most ``_N_STATS_IMAGES``
    images, unweighted.
    """
    if isinstance(X, dict):
        X = X["X"]
    if isinstance(X, torch.Tensor):
        weights = torch.as_tensor(sample_weight, dtype=torch.float64)
        chunks = zip(X.split(4096), weights.split(4096))
    else:
        # A fixed generator: the sample is reproducible and leaves the seeded
        # stream that initializes and shuffles the network untouched.
        generator = torch.Generator().manual_seed(0)
        sample = torch.randperm(len(X), generator=generator)[:_N_STATS_IMAGES].tolist()
        loader = DataLoader(
            Subset(X, sample), batch_size=32, num_workers=num_workers, generator=generator
        )
        batches = (b["X"] if isinstance(b, dict) else b for b, _ in loader)
        chunks = ((images, torch.ones(len(images))) for images in batches)
    total = total_sq = count = 0
    for images, weight in chunks:
        pixels = images.reshape(len(images), -1, images.shape[-1]).to(torch.float64)
        weight = weight.to(torch.float64)
        # Per-image channel sums, then one weighted sum over images.
        total = total + weight @ pixels.sum(dim=1)
        total_sq = total_sq + weight @ pixels.square().sum(dim=1)
        count = count + weight.sum() * pixels.shape[1]
    mean = total / count
    std = (total_sq / count - mean**2).clamp(min=0).sqrt()
    std[std < 1e-8] = 1.0
    return mean, std


class CNNClassifier(BaseImageClassifier):
    """Convolutional neural network classifier for images, trained from scratch.

    ``depth`` blocks of 3x3 convolution, batch normalization, ReLU (with an
    optional residual connection) and 2x2 max pooling, the first with
    ``width`` channels and each next one with twice as many; then global
    average pooling, dropout and a linear layer. Trained on cross-entropy by
    skorch's ``NeuralNetClassifier``.

    Parameters
    ----------
    depth : int, default=2
        Number of convolution blocks. Each one halves the height and width
        (an axis of length 1 is left as is), so any image size works.
    width : int, default=32
        Channels of the first block; block ``i`` has ``width * 2**i``.
    residual : bool, default=False
        Add a second conv + batch norm to each block with an identity
        shortcut (He et al., 2016).
    dropout : float in [0, 1), default=0.2
        Dropout probability before the linear head.
    image_shape : tuple of int or None, default=None
        How a 2-D X of shape (n_samples, n_features) is read: ``(height,
        width)`` or ``(height, width, n_channels)``, row-major and channels
        last, as ``X.reshape(n_samples, *image_shape)``. None reads each row
        as a single-channel image of height 1 and width n_features. Ignored
        for 3-D and 4-D X.
    image_size : int or tuple of (int, int) or None, default=None
        Only for X given as file paths: the (height, width) in pixels every
        image is resized to when decoded (an int gives a square). None keeps
        the files' own size, which must then be the same for all of them.
    lr : float, default=1e-3
        Learning rate of the optimizer.
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
        Gradient-descent method: ``torch.optim.Adam``, ``AdamW`` or ``SGD``.
    momentum : float in [0, 1], default=0.9
        Momentum of SGD; ignored by the other optimizers.
    weight_decay : float >= 0, default=0.0
        L2 penalty (decoupled for AdamW).
    batch_size : int, default=32
        Images per gradient step and per prediction batch.
    max_epochs : int, default=30
        Passes over the training data (fewer with early stopping).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified),
        stop when the validation loss has not improved for
        ``n_iter_no_change`` epochs and restore the weights of the best epoch.
        Only with early stopping are ``valid_loss`` and ``valid_acc``
        recorded in ``history_``.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int, default=5
        Epochs without improvement of the validation loss before stopping.
    augment : None, {"light", "standard", "strong"} or torchvision v2 transform, default=None
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
    tta : {"flip", "crop", "flip_crop"} or None, default=None
        Test-time augmentation: ``predict_proba`` averages the softmax over
        the image and its horizontal mirror ("flip"), four copies shifted by
        1/8 of the side ("crop"), or both (10 views).
    warm_start : bool, default=False
        When True, ``fit`` on a fitted estimator continues training the
        current weights for ``max_epochs`` more epochs (same classes and
        image shape) instead of starting anew.
    device : str, default="auto"
        Torch device; "auto" picks "cuda" when a GPU is present, else "cpu".
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, shuffling and the validation split. The
        same int gives identical weights and predictions on the CPU. The
        global torch RNG of the caller is left as it was.
    verbose : int, default=0
        0 is silent; above 0 prints a progress bar per epoch and a table of
        training loss, validation loss and accuracy.
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks (``skorch.callbacks``), for example
        ``Checkpoint`` or ``LRScheduler``. Each fit uses fresh deep copies.
    num_workers : int, default=0
        Worker processes of the ``torch.utils.data.DataLoader`` that decodes
        image files when X holds paths (0 decodes in the main process).
        In-memory arrays are batched without a DataLoader.
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
        (height, width, n_channels) of the images seen in ``fit``.
    n_iter_ : int
        Epochs run.
    history_ : skorch.history.History
        One dict per epoch with ``train_loss`` (and ``valid_loss``,
        ``valid_acc`` with early stopping), ``dur`` in seconds and per-batch
        records; ``history_[:, "train_loss"]`` gives a column.
    module_ : torch.nn.Module
        The trained network, in eval mode. It maps a float or uint8 tensor of
        shape (batch, height, width, n_channels) to logits of shape
        (batch, n_classes).
    net_ : skorch.NeuralNetClassifier
        The skorch net that trained ``module_``.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : Fully connected network on flat features.
    sk_imgcls.preprocessing.ImageReshaper : Flat rows to images in a Pipeline.

    Notes
    -----
    X is one of:

    - (n_samples, height, width): grayscale;
    - (n_samples, height, width, n_channels): channels last;
    - (n_samples, n_features): read through ``image_shape``.

    Values are uint8 in [0, 255] or floats in any range. Each channel is
    standardized with the mean and standard deviation of the training images.

    Batch normalization: Ioffe and Szegedy, 2015. Residual connections: He et
    al., "Deep Residual Learning for Image Recognition", CVPR 2016. The
    training loop is skorch's (https://skorch.readthedocs.io).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sk_imgcls import CNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X.reshape(-1, 8, 8)
    >>> clf = CNNClassifier(max_epochs=5, random_state=0).fit(X[:1000], y[:1000])
    >>> clf.predict(X[1000:1003]).shape
    (3,)
    >>> round(clf.score(X[1000:], y[1000:]), 1) > 0.8
    True
    """

    _parameter_constraints: dict = {
        **BaseImageClassifier._parameter_constraints,
        "depth": [Interval(Integral, 1, None, closed="left")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "residual": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "image_shape": [tuple, list, None],
        "image_size": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
    }

    def __init__(
        self,
        depth=2,
        *,
        width=32,
        residual=False,
        dropout=0.2,
        image_shape=None,
        image_size=None,
        lr=1e-3,
        optimizer="adam",
        momentum=0.9,
        weight_decay=0.0,
        batch_size=32,
        max_epochs=30,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        augment=None,
        horizontal_flip=True,
        mixup=0.0,
        cutmix=0.0,
        class_weight=None,
        label_smoothing=0.0,
        lr_schedule=None,
        warmup_epochs=0,
        tta=None,
        warm_start=False,
        device="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
        num_workers=0,
        precision="fp32",
    ):
        self.depth = depth
        self.width = width
        self.residual = residual
        self.dropout = dropout
        self.image_shape = image_shape
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
        out = check_images(self, X, y, reset=reset, image_shape=self.image_shape)
        images, y = out if isinstance(out, tuple) else (out, None)
        tensor = images_to_tensor(images)
        return tensor if y is None else (tensor, y)

    def _build_module(self, n_classes, X, sample_weight):
        mean, std = _channel_stats(X, sample_weight, self.num_workers)
        return CNN(
            self.image_shape_,
            n_classes,
            depth=self.depth,
            width=self.width,
            residual=self.residual,
            dropout=self.dropout,
            mean=mean,
            std=std,
        )
