"""A convolutional network trained from scratch, as a scikit-learn classifier."""

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ._base import BaseImageClassifier
from ._docs import fill_doc
from ._image_io import check_size
from ._input import ResizeImages


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
    head : {"avg", "flatten"}, default="avg"
        How the last feature map reaches the linear layer: global average
        pooling, or flattened with its spatial layout.
    mean, std : array-like of shape (n_channels,)
        Per-channel standardization, in input units.
    """

    def __init__(
        self, image_shape, n_classes, *, depth, width, residual, dropout, mean, std, head="avg"
    ):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        pools, (height, width_px) = block_pools(image_shape, depth)
        blocks = []
        in_channels = image_shape[2]
        for i, pool in enumerate(pools):
            out_channels = width * 2**i
            blocks.append(ConvBlock(in_channels, out_channels, residual=residual, pool=pool))
            in_channels = out_channels
        self.features = nn.Sequential(*blocks)
        flatten = head == "flatten"
        self.head = nn.Sequential(
            nn.Identity() if flatten else nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(in_channels * (height * width_px if flatten else 1), n_classes),
        )

    def forward(self, x):
        # (N, H, W, C) -> (N, C, H, W) as a view: channels_last strides, which
        # oneDNN convolutions prefer on the CPU.
        x = x.permute(0, 3, 1, 2).to(torch.float32)
        x = (x - self.mean) / self.std
        return self.head(self.features(x))


# depth="auto" adds blocks until the longer side of the feature map is at
# most this many pixels, so that the head sees a small map (global average
# pooling does not average a large layout away; a flattened map stays small,
# and head="auto" flattens single-channel maps this small); at most
# _MAX_AUTO_DEPTH blocks (512 channels in the last one at the default width).
_AUTO_MAP_SIDE = 3
_MAX_AUTO_DEPTH = 5


def _halvings(side, until):
    """How many 2x poolings (rounding down) bring ``side`` pixels to ``until`` or fewer."""
    n = 0
    while side > until:
        side //= 2
        n += 1
    return n


def resolve_depth(depth, image_shape):
    """The number of blocks of a ``depth`` parameter for images of ``image_shape``.

    Parameters
    ----------
    depth : int or "auto"
    image_shape : tuple of int
        (height, width, n_channels) of the images the network takes.

    Returns
    -------
    depth : int
        "auto": the blocks that bring the longer side to at most
        ``_AUTO_MAP_SIDE`` pixels, between 1 and ``_MAX_AUTO_DEPTH``.

    Raises
    ------
    ValueError
        If an int ``depth`` is larger than the images allow: beyond the
        blocks that bring the map to 1x1, one more is allowed; more would
        only double the channels (and the memory) without seeing anything
        new. Raised before any memory is allocated.
    """
    longest = max(image_shape[:2])
    largest = _halvings(longest, 1) + 1
    if depth == "auto":
        return min(max(1, _halvings(longest, _AUTO_MAP_SIDE)), _MAX_AUTO_DEPTH, largest)
    if depth > largest:
        height, width = image_shape[:2]
        raise ValueError(
            f"depth={depth} is too large for images of {height}x{width} pixels: each block "
            f"halves the height and width, so at most {largest} blocks fit (the last one on "
            f"a 1x1 map). Pass depth<={largest}, depth='auto', or a larger image_size."
        )
    return depth


def block_pools(image_shape, depth):
    """The max-pooling kernel of each of ``depth`` blocks, and the last map's size.

    Each block halves (rounding down) every spatial axis longer than 1 pixel.

    Returns
    -------
    pools : list of (int, int)
        The (height, width) kernel of each block's pooling, 1 or 2.
    map_size : (int, int)
        (height, width) in pixels of the feature map after the last block.
    """
    height, width = image_shape[:2]
    pools = []
    for _ in range(depth):
        pool = (2 if height > 1 else 1, 2 if width > 1 else 1)
        pools.append(pool)
        height, width = height // pool[0], width // pool[1]
    return pools, (height, width)


def last_map_side(image_shape, depth):
    """The longer side, in pixels, of the feature map after ``depth`` blocks."""
    return max(block_pools(image_shape, depth)[1])


def resolve_head(head, image_shape, depth):
    """The head of a ``head`` parameter for images of ``image_shape`` after ``depth`` blocks.

    "auto" is "flatten" for single-channel images whose last feature map is
    at most ``_AUTO_MAP_SIDE`` pixels on its longer side, else "avg".
    """
    if head != "auto":
        return head
    small = last_map_side(image_shape, depth) <= _AUTO_MAP_SIDE
    return "flatten" if image_shape[2] == 1 and small else "avg"


# max_epochs="auto" trains until the network has seen about this many
# images (epochs times n_samples), at most _MAX_AUTO_EPOCHS epochs: small
# sets get the epochs they need to fit, and the cost of a large one stops
# growing with its size (10 epochs of Fashion-MNIST's 60,000 images).
_AUTO_IMAGES_SEEN = 600_000
_MAX_AUTO_EPOCHS = 30


# Images decoded from files to estimate the per-channel statistics: enough
# for a standard error far below the pixel quantization step.
_N_STATS_IMAGES = 256


def _channel_stats(data, num_workers=0):
    """Per-channel mean and standard deviation of the images of ``data``.

    In-memory images all count, weighted by the sample weights, in float64
    chunks (so integer weights and repeated images give the same
    statistics); of image files, a fixed random sample of at most
    ``_N_STATS_IMAGES``, unweighted.
    """
    sample = data.stats_sample(_N_STATS_IMAGES)
    weights = sample.sample_weight
    total = total_sq = count = 0
    start = 0
    for images in sample.batches(4096, num_workers):
        pixels = images.reshape(len(images), -1, images.shape[-1]).to(torch.float64)
        if weights is None:
            weight = torch.ones(len(images), dtype=torch.float64)
        else:
            weight = weights[start : start + len(images)].to(torch.float64)
        start += len(images)
        # Per-image channel sums, then one weighted sum over images.
        total = total + weight @ pixels.sum(dim=1)
        total_sq = total_sq + weight @ pixels.square().sum(dim=1)
        count = count + weight.sum() * pixels.shape[1]
    mean = total / count
    std = (total_sq / count - mean**2).clamp(min=0).sqrt()
    std[std < 1e-8] = 1.0
    return mean, std


@fill_doc
class CNNClassifier(BaseImageClassifier):
    """Convolutional neural network classifier for images, trained from scratch.

    ``depth`` blocks of 3x3 convolution, batch normalization, ReLU (with an
    optional residual connection) and 2x2 max pooling, the first with
    ``width`` channels and each next one with twice as many; then global
    average pooling or the flattened last feature map (``head``), dropout
    and a linear layer. Trained on cross-entropy by skorch's
    ``NeuralNetClassifier``.

    Parameters
    ----------
    depth : int or "auto", default="auto"
        Number of convolution blocks. Each one halves the height and width
        (an axis of length 1 is left as is). "auto" stacks blocks until the
        longer side of the last feature map is 3 pixels or fewer, so that
        the head sees a small map (global average pooling does not average
        a large layout away, and a flattened map stays at 9 values per
        channel at most): 1 block for images up to 7 pixels, 2 for 8x8, 3 for
        28x28, 4 for 32x32 and 5 (the most "auto" chooses) for 64x64 and
        larger.
        The value used is ``depth_``. An int larger than the images allow
        (more than one block past a 1x1 map) raises a ValueError in ``fit``
        that states the largest depth.
    width : int, default=32
        Channels of the first block; block ``i`` has ``width * 2**i``.
    residual : bool, default=False
        Add a second conv + batch norm to each block with an identity
        shortcut (He et al., 2016).
    dropout : float in [0, 1), default=0.2
        Dropout probability before the linear head.
    head : {{"auto", "avg", "flatten"}}, default="auto"
        How the last feature map, of C channels and h x w pixels, reaches
        the linear layer. "avg": global average pooling to C values (Lin et
        al., "Network in Network", 2014), the same wherever in the image a
        pattern appears: suited to photos, whose objects can be anywhere.
        "flatten": the C * h * w values, which keep where each pattern is:
        suited to aligned images (scanned digits and letters, centred
        product shots), where position is informative. "auto": "flatten"
        for single-channel images whose last map is at most 3 pixels on its
        longer side (with ``depth="auto"``, all of them), "avg" otherwise.
        The value used is ``head_``. Measured choices are in the
        benchmarks page.
    image_shape : tuple of int or None, default=None
        How a 2-D X of shape (n_samples, n_features) is read: ``(height,
        width)`` or ``(height, width, n_channels)``, row-major and channels
        last, as ``X.reshape(n_samples, *image_shape)``. None reads each row
        as a single-channel image of height 1 and width n_features. Ignored
        for other kinds of X.
    image_size : int, tuple of (int, int) or None, default=None
        The (height, width) in pixels images are brought to before the
        network (an int gives a square): every image, whether a file, a PIL
        image or an array, is resized to it (bilinear, antialiased:
        torchvision's ``resize``). None keeps the images' own size, which
        must then be the same for all of them, in ``fit`` and ``predict``.
{training_parameters}

    Attributes
    ----------
{input_attributes}
    depth_ : int
        The number of convolution blocks of ``module_``: ``depth``, or the
        depth "auto" chose for ``image_shape_``.
    head_ : {{"avg", "flatten"}}
        The head of ``module_``: ``head``, or the one "auto" chose.
    preprocess_ : sk_imgcls._input.ResizeImages or None
        The resize to ``image_size``; None without one.
    module_ : torch.nn.Module
        The trained network, a plain torch module in eval mode. It maps a
        float or uint8 tensor of shape (batch, height, width, n_channels)
        (``image_shape_``) to logits of shape (batch, n_classes).
    net_ : skorch.NeuralNetClassifier
        The skorch net that trained ``module_``.

    See Also
    --------
    TransferClassifier : Fine-tunes a pretrained backbone instead.
    sklearn.neural_network.MLPClassifier : Fully connected network on flat features.
    sk_imgcls.preprocessing.ImageReshaper : Flat rows to images in a Pipeline.

    Notes
    -----
    X is one of:

    - (n_samples, height, width): grayscale;
    - (n_samples, height, width, n_channels): channels last;
    - (n_samples, n_features): read through ``image_shape``;
    - a list or 1-D array of image file paths, decoded to RGB (or to
      grayscale for a model fitted on 1-channel arrays);
    - a list of PIL images, converted as their files would be.

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
        "depth": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "width": [Interval(Integral, 1, None, closed="left")],
        "residual": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "head": [StrOptions({"auto", "avg", "flatten"})],
        "image_shape": [tuple, list, None],
        "image_size": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    }

    _max_epochs_doc = """\
max_epochs : int or "auto", default={max_epochs}
    Passes over the training data (fewer with early stopping). "auto":
    ``round(600_000 / n_samples)`` passes, between 1 and 30: 30 up to
    20,000 training images, 10 for 60,000, 1 above 400,000. Small sets
    are fitted, and the cost of a large one stops growing with its size.
    The value used is ``max_epochs_``.
    Measured choices are in the benchmarks page."""

    def __init__(
        self,
        depth="auto",
        *,
        width=32,
        residual=False,
        dropout=0.2,
        head="auto",
        image_shape=None,
        image_size=None,
        lr=1e-3,
        optimizer="adam",
        momentum=0.9,
        weight_decay=0.0,
        batch_size=32,
        max_epochs="auto",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        augment=None,
        horizontal_flip=True,
        mixup=0.0,
        cutmix=0.0,
        class_weight=None,
        label_smoothing=0.0,
        lr_schedule="cosine",
        warmup_epochs=0,
        tta=None,
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
        self.depth = depth
        self.width = width
        self.residual = residual
        self.dropout = dropout
        self.head = head
        self.image_shape = image_shape
        self.image_size = image_size

    def _flat_image_shape(self):
        return self.image_shape

    def _n_epochs(self, n_samples):
        if self.max_epochs == "auto":
            return max(1, min(_MAX_AUTO_EPOCHS, round(_AUTO_IMAGES_SEEN / n_samples)))
        return self.max_epochs

    def _prepare(self, X):
        size = check_size(self.image_size, name="image_size")
        return (None if size is None else ResizeImages(size)), None

    def _build_module(self, backbone, data, n_classes):
        self.depth_ = resolve_depth(self.depth, data.image_shape)
        self.head_ = resolve_head(self.head, data.image_shape, self.depth_)
        mean, std = _channel_stats(data, self.num_workers)
        return CNN(
            data.image_shape,
            n_classes,
            depth=self.depth_,
            head=self.head_,
            width=self.width,
            residual=self.residual,
            dropout=self.dropout,
            mean=mean,
            std=std,
        )
