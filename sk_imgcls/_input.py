"""One route for every image: X of any kind becomes one validated input object.

:func:`check_input` decides once what X holds (an array of images, file paths
or PIL images) and returns an :class:`ImageData`, a map-style
``torch.utils.data.Dataset`` with ``__getitems__``, holding images exactly as
the network takes them. Every image, whatever it came as, goes through the
same steps: decoding to uint8 pixels (files with Pillow, PIL images with the
same EXIF rotation and mode conversion), then the estimator's per-image
preprocessing (resize, crop; see ``Preprocess`` below). So a photo by path, as
a PIL image or as its decoded array gives the same network input.

A ``Preprocess`` is any callable mapping a uint8 or float tensor of images
(n, height, width, n_channels) to (n, h, w, c) images of one fixed shape, in
uint8 or float32, with a method ``output_shape(n_channels)`` giving that
(h, w, c); None keeps images as they are (then they must all have the fitted
shape).
"""

import copy
import os
import warnings

import numpy as np
import torch
from PIL import Image
from sklearn.utils.validation import check_consistent_length, column_or_1d
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as F

from ._image_io import image_to_array, open_image, read_image_size
from ._net import batch_as_is
from ._validation import check_images
from ._warnings import caller_stacklevel

# Arrays are preprocessed in chunks of this many images, to bound the memory
# of the float32 intermediate of a resize.
_CHUNK = 256
# Distinct sizes named in the error about files of mixed sizes.
_MAX_LISTED = 5
_FILE_MODES = {1: "L", 3: "RGB"}


class ResizeImages:
    """Resize images (n, H, W, C) to (n, height, width, C): torchvision's ``resize``.

    Bilinear with antialiasing (``torchvision.transforms.v2.functional.resize``,
    which matches Pillow's filter); uint8 stays uint8, other dtypes become
    float32.

    Parameters
    ----------
    size : tuple of (int, int)
        (height, width) in pixels.
    """

    def __init__(self, size):
        self.size = tuple(int(s) for s in size)

    def output_shape(self, n_channels):
        """(height, width, n_channels) of the resized images."""
        return (*self.size, n_channels)

    def __call__(self, images):
        if tuple(images.shape[1:3]) == self.size:
            return images
        chw = images.permute(0, 3, 1, 2)
        if chw.dtype != torch.uint8:
            chw = chw.to(torch.float32)
        chw = F.resize(chw, list(self.size), antialias=True)
        return chw.permute(0, 2, 3, 1).contiguous()


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def images_to_tensor(images):
    """Validated channels-last images as a tensor: uint8 stays uint8, the rest float32.

    Shares memory with ``images`` when no conversion is needed and never
    writes to it (read-only arrays are copied, as torch cannot wrap them).

    Raises
    ------
    ValueError
        If a value is beyond float32's range (it would become infinite).
    """
    if images.dtype.itemsize > 4 and images.size:
        largest = float(np.abs(images).max())
        if largest > _FLOAT32_MAX:
            raise ValueError(
                f"X holds values up to {largest:.3g}, beyond float32's range "
                f"({_FLOAT32_MAX:.3g}) in which the network computes; rescale the images."
            )
    dtype = np.uint8 if images.dtype == np.uint8 else np.float32
    array = np.ascontiguousarray(images, dtype=dtype)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array)


def _apply(preprocess, images):
    """``preprocess`` over a tensor of images in chunks; the tensor itself when None."""
    if preprocess is None:
        return images
    return torch.cat([preprocess(chunk) for chunk in images.split(_CHUNK)])


class ImageData(Dataset):
    """Validated images with their labels and sample weights, for training or prediction.

    Items are ``(images, y)`` batches through ``__getitems__`` (one gather per
    batch, no per-sample collation): ``images`` a tensor (n, height, width,
    n_channels), uint8 or float32, or ``{"X": images, "sample_weight": w}``
    when weights are attached; ``y`` int64 labels (zeros without labels).
    Use ``DataLoader(data, collate_fn=batch_as_is)``.

    Attributes
    ----------
    image_shape : tuple of int
        (height, width, n_channels) of every image the network gets.
    lazy : bool
        True when images are decoded as they are read (files): worth
        DataLoader workers, and too costly to read all of just for statistics.
    flippable : bool
        False for feature rows: single-channel images one pixel high, as the
        rows of a 2-D X are read without an ``image_shape``. A row of
        features is not a picture, and reversing it is no mirror image of
        anything: such data get no horizontal flips (augmentation, mirrored
        views of cached features, test-time views).
    """

    lazy = False
    flippable = True

    def __init__(self, y=None, sample_weight=None):
        self.y = y
        self.sample_weight = sample_weight

    def with_targets(self, y, sample_weight=None):
        """A copy carrying int labels ``y`` (n_samples,) and optional float weights."""
        data = copy.copy(self)
        data.y = torch.as_tensor(y, dtype=torch.int64)
        data.sample_weight = (
            None if sample_weight is None else torch.as_tensor(sample_weight, dtype=torch.float32)
        )
        return data

    def __getitem__(self, i):
        images, y = self.__getitems__([i])
        if isinstance(images, dict):
            return {k: v[0] for k, v in images.items()}, y[0]
        return images[0], y[0]

    def __getitems__(self, indices):
        index = torch.as_tensor(indices, dtype=torch.int64)
        images = self._images(indices)
        y = torch.zeros(len(index), dtype=torch.int64) if self.y is None else self.y[index]
        if self.sample_weight is None:
            return images, y
        return {"X": images, "sample_weight": self.sample_weight[index]}, y

    def batches(self, batch_size, num_workers=0):
        """Image tensors of ``batch_size`` images, in order (prediction)."""
        loader = DataLoader(
            self,
            batch_size=batch_size,
            num_workers=num_workers if self.lazy else 0,
            collate_fn=batch_as_is,
        )
        for images, _ in loader:
            yield images["X"] if isinstance(images, dict) else images

    def subset(self, indices):
        """The images at ``indices`` (an int array), without labels or weights."""
        subset = self._subset(indices)
        subset.flippable = self.flippable
        return subset

    def stats_sample(self, n_lazy, seed=0):
        """The images to estimate statistics from: all, or ``n_lazy`` random ones if lazy."""
        if not self.lazy or len(self) <= n_lazy:
            return self
        generator = torch.Generator().manual_seed(seed)
        keep = torch.randperm(len(self), generator=generator)[:n_lazy].tolist()
        return self._subset(keep)


class InMemoryImages(ImageData):
    """Images held as one tensor (n_samples, height, width, n_channels)."""

    def __init__(self, images, y=None, sample_weight=None):
        super().__init__(y, sample_weight)
        self.images = images
        self.image_shape = tuple(int(s) for s in images.shape[1:])

    def __len__(self):
        return len(self.images)

    def _images(self, indices):
        return self.images[torch.as_tensor(indices, dtype=torch.int64)]

    def batches(self, batch_size, num_workers=0):
        # Slices are views: nothing is copied or gathered.
        yield from self.images.split(batch_size)

    def _subset(self, keep):
        return InMemoryImages(self.images[keep])


class ImageFiles(ImageData):
    """Image files decoded (and preprocessed) as they are read.

    Parameters
    ----------
    paths : ndarray of shape (n_samples,), dtype object
        File paths as str.
    mode : {"RGB", "L"}
        Pillow mode the files are decoded to.
    preprocess : Preprocess or None
        Applied to each decoded image; None requires every file to have the
        size of ``image_shape``.
    image_shape : tuple of int
        (height, width, n_channels) of the images after ``preprocess``.
    """

    lazy = True

    def __init__(self, paths, *, mode, preprocess, image_shape, y=None, sample_weight=None):
        super().__init__(y, sample_weight)
        self.paths = paths
        self.mode = mode
        self.preprocess = preprocess
        self.image_shape = image_shape

    def __len__(self):
        return len(self.paths)

    def _load(self, path):
        image = torch.from_numpy(open_image(path, mode=self.mode))[None]
        if self.preprocess is not None:
            return self.preprocess(image)[0]
        if tuple(image.shape[1:]) != self.image_shape:
            raise ValueError(
                f"Image {path!r} has shape {tuple(image.shape[1:])} (height, width, "
                f"n_channels), but the model takes images of shape {self.image_shape}; "
                "set image_size to resize every image."
            )
        return image[0]

    def _images(self, indices):
        return torch.stack([self._load(self.paths[i]) for i in indices])

    def _subset(self, keep):
        return ImageFiles(
            self.paths[keep],
            mode=self.mode,
            preprocess=self.preprocess,
            image_shape=self.image_shape,
        )


def _describe(item):
    if isinstance(item, Image.Image):
        return f"a PIL image (mode {item.mode!r})"
    if isinstance(item, (str, os.PathLike)):
        return f"the path {str(os.fspath(item))!r}"
    return f"{item!r} of type {type(item).__name__}"


def as_image_sequence(X):
    """X with a pandas Series or a single column of paths or PIL images made 1-D.

    A one-column DataFrame, 2-D array or nested list whose first element is
    a path or a PIL image (``df[["path"]]``, a column read from a CSV file)
    is taken as that column, as
    :class:`~sk_imgcls.preprocessing.ImageLoader` takes it; a Series becomes
    its values. Anything else is returned as it is.

    Raises
    ------
    ValueError
        If such a table of paths or PIL images has more than one column.
    """
    if hasattr(X, "iloc") and getattr(X, "ndim", 2) == 1:
        return X.to_numpy()
    table = X
    if (
        isinstance(X, (list, tuple)) and len(X) and isinstance(X[0], (list, tuple))
        and len(X[0]) and isinstance(X[0][0], _ITEM_TYPES)
    ):
        table = np.empty((len(X), len(X[0])), dtype=object)
        try:
            table[:] = X
        except ValueError:  # rows of different lengths
            return X
    if hasattr(table, "iloc"):
        if table.ndim != 2 or not table.size or not isinstance(table.iloc[0, 0], _ITEM_TYPES):
            return X
        table = table.to_numpy()
    elif not (
        isinstance(table, np.ndarray) and table.ndim == 2 and table.dtype.kind in "OU"
        and table.size and isinstance(table[0, 0], _ITEM_TYPES)
    ):
        return X
    if table.shape[1] != 1:
        raise ValueError(
            f"X is a table of {table.shape[0]} rows and {table.shape[1]} columns whose "
            f"first cell is {_describe(table[0, 0])}; pass the images as one column: a "
            "list, a 1-D array, a Series or a one-column DataFrame of paths or PIL images."
        )
    return table[:, 0]


_ITEM_TYPES = (str, os.PathLike, Image.Image)


def _kind(X):
    """"paths", "pil" or "array": what X holds, read from its first element."""
    if isinstance(X, (str, bytes, os.PathLike, Image.Image)):
        what = "PIL image" if isinstance(X, Image.Image) else "path"
        raise ValueError(
            f"X is a single {what}, {_describe(X)}; pass a list of images, even of "
            f"one: X=[{'image' if what == 'PIL image' else 'path'}]."
        )
    if isinstance(X, np.ndarray):
        if X.ndim != 1 or X.dtype.kind not in "OU" or len(X) == 0:
            return "array"
    elif not isinstance(X, (list, tuple)) or len(X) == 0:
        return "array"
    first = X[0]
    if isinstance(first, Image.Image):
        return "pil"
    if isinstance(first, (str, os.PathLike, bytes)) or first is None:
        return "paths"
    if isinstance(X, np.ndarray) and X.dtype == object:
        return "paths"  # None, numbers or other objects: named by _check_items
    return "array"


def _check_items(X, kind):
    """The elements of a 1-D X of paths or PIL images; each one checked, none converted."""
    items = list(X)
    for i, item in enumerate(items):
        if kind == "paths" and isinstance(item, bytes):
            raise ValueError(
                f"X[{i}] is the bytes path {item!r}; pass paths as str or pathlib.Path "
                "(for example os.fsdecode(path))."
            )
        ok = isinstance(item, Image.Image) if kind == "pil" else isinstance(item, (str, os.PathLike))
        if not ok:
            expected = "PIL images" if kind == "pil" else "file paths (str or pathlib.Path)"
            raise ValueError(
                f"X must hold only {expected}, as its first element does; X[{i}] is "
                f"{_describe(item)}. Mixing paths, PIL images and arrays in one X is "
                "not supported."
            )
    return items


def _common_size(paths):
    """The (height, width) shared by every file, or a ValueError listing the sizes."""
    sizes = {}
    for path in paths:
        sizes.setdefault(read_image_size(path), path)
    if len(sizes) > 1:
        found = ", ".join(f"{h}x{w} ({p!r})" for (h, w), p in list(sizes.items())[:_MAX_LISTED])
        raise ValueError(
            f"The images have {len(sizes)} different sizes (height x width), e.g. "
            f"{found}; set image_size=(height, width) to resize them all."
        )
    return next(iter(sizes))


# Files whose headers median_shorter_side reads, spread evenly over X.
_N_SIZE_FILES = 256


def _array_shape(X):
    """The shape of an array-like X without converting it when it has one; None if ragged.

    Read through ``.shape`` or ``np.asarray`` (never ``np.shape``, which calls
    ``__array_function__`` on scikit-learn's not-an-array test inputs).
    """
    shape = getattr(X, "shape", None)
    if shape is not None:
        return tuple(shape)
    try:
        return np.asarray(X).shape
    except ValueError:  # ragged nested lists
        return None


def warn_if_feature_rows(estimator, X):
    """Warn that a pretrained backbone will read the rows of a 2-D X as images 1 pixel high.

    A flat 2-D X (n_samples, n_features), such as ``load_digits().data``,
    is valid input (scikit-learn's checks pass it), but its rows are not
    images an ImageNet backbone can recognise: on the digits' rows,
    ``PretrainedFeatures()`` + ``LogisticRegression`` scored 0.345 against
    0.75 on the same rows reshaped to 8x8 (300 training and 200 test
    images), in four times the time.
    """
    X = as_image_sequence(X)
    if _kind(X) != "array":
        return
    shape = _array_shape(X)
    if shape is not None and len(shape) == 2:
        warnings.warn(
            f"{type(estimator).__name__} reads each row of the 2-D X of shape {shape} as an "
            f"image 1 pixel high and {shape[1]} pixels wide, which a pretrained backbone "
            "cannot recognise. Pass images of shape (n_samples, height, width) or "
            "(n_samples, height, width, n_channels), for example X.reshape(-1, 8, 8) for "
            "load_digits().data.",
            UserWarning,
            stacklevel=caller_stacklevel(),
        )


def median_shorter_side(X):
    """The median shorter side, in pixels, of the images of X; None if X is not images.

    Arrays are read from their shape (flat 2-D rows as images 1 pixel high,
    as :class:`~sk_imgcls.TransferClassifier` reads them), PIL images from
    their size, and paths from
    the headers of at most ``_N_SIZE_FILES`` files spread over X (no pixel is
    decoded). What X is not is left to :func:`check_input` to name.

    Raises
    ------
    ValueError
        For a single path or image, or paths that hold other objects (as
        :func:`check_input` does).
    sk_imgcls.ImageReadError
        If a file's header cannot be read.
    """
    X = as_image_sequence(X)
    kind = _kind(X)
    if kind == "array":
        shape = _array_shape(X)
        if shape is None:
            return None
        if len(shape) == 2:
            return 1  # rows of features: images 1 pixel high
        return min(shape[1:3]) if len(shape) in (3, 4) else None
    items = _check_items(X, kind)
    chosen = np.unique(np.linspace(0, len(items) - 1, min(len(items), _N_SIZE_FILES)).astype(int))
    if kind == "pil":
        sides = [min(items[i].size) for i in chosen]
    else:
        sides = [min(read_image_size(items[i])) for i in chosen]
    return int(np.median(sides))


def _file_mode(estimator, reset, kind):
    """Pillow mode files and PIL images decode to: RGB, or the fitted channel count's."""
    if reset:
        return "RGB"
    n_channels = estimator.image_shape_[2]
    if estimator._any_channels:
        return "RGB"
    if n_channels not in _FILE_MODES:
        raise ValueError(
            f"{type(estimator).__name__} was fitted on images of {n_channels} channels; "
            f"{'files' if kind == 'paths' else 'PIL images'} decode to 1 (grayscale) or "
            "3 (RGB) channels, so pass arrays with the fitted channels instead."
        )
    return _FILE_MODES[n_channels]


def _check_fitted_shape(estimator, shape, resizes):
    """Images of ``shape`` must have the fitted channels (and size, without a resize)."""
    fitted = estimator.image_shape_
    channels_differ = not estimator._any_channels and shape[2] != fitted[2]
    if channels_differ or (not resizes and tuple(shape) != tuple(fitted)):
        raise ValueError(
            f"X has images of shape {tuple(int(s) for s in shape)} (height, width, "
            f"n_channels), but {type(estimator).__name__} was fitted on images of "
            f"shape {tuple(fitted)}."
        )


def is_feature_rows(image_shape):
    """Whether images of ``image_shape`` (height, width, n_channels) are rows of features.

    Single-channel images one pixel high are how the rows of a 2-D X are
    read without an ``image_shape``: see ``ImageData.flippable``.
    """
    return image_shape[0] == 1 and image_shape[2] == 1


def check_input(estimator, X, y="no_validation", *, reset, preprocess, image_shape=None):
    """Validate X of any kind once and return it as the network's input.

    Parameters
    ----------
    estimator : estimator instance
        With ``reset=True`` it receives ``image_shape_`` (the (height, width,
        n_channels) the network takes), and ``n_features_in_`` (values per
        image) for arrays; otherwise X is checked against them. Its class
        attribute ``_any_channels`` is True when ``preprocess`` maps any
        channel count to the network's (pretrained backbones); otherwise
        images must have the fitted channels.
    X : array-like, list of paths or list of PIL images
        - an array (n_samples, n_features) of flat rows read through
          ``image_shape``, (n_samples, height, width) or (n_samples, height,
          width, n_channels), uint8 or floats;
        - a 1-D array or list of file paths (str or os.PathLike);
        - a list of ``PIL.Image.Image``.
    y : array-like of shape (n_samples,), None or "no_validation"
        Labels, checked for length.
    reset : bool
        True in ``fit``.
    preprocess : Preprocess or None
        Per-image resize and crop; None keeps the images' own size.
    image_shape : tuple of int or None, default=None
        How flat 2-D rows are read (see :func:`~sk_imgcls._validation.check_images`).

    Returns
    -------
    data : ImageData
    y : ndarray of shape (n_samples,)
        Only when y is not "no_validation".

    Raises
    ------
    ValueError
        For a single path or image, a table of paths or PIL images with
        more than one column, a mix of kinds, bytes, None or numbers
        among paths (naming the element and its position), PIL modes that
        cannot be converted, files of mixed sizes without a resize, images of
        another shape or channel count than fitted, and every array error of
        ``check_images``.
    TypeError
        If X is sparse.
    sk_imgcls.ImageReadError
        If a file cannot be read (when sizes are read in ``fit``).
    """
    with_y = not (isinstance(y, str) and y == "no_validation")
    X = as_image_sequence(X)
    kind = _kind(X)
    if kind == "array" and isinstance(X, (list, tuple)):
        for i, item in enumerate(X):
            if isinstance(item, (str, bytes, os.PathLike, Image.Image)):
                raise ValueError(
                    f"X mixes arrays with other kinds of images: X[{i}] is "
                    f"{_describe(item)}. Pass one kind: arrays, paths or PIL images."
                )
    if kind == "array":
        out = check_images(
            estimator, X, y, reset=reset, image_shape=image_shape, record_shape=False
        )
        images, y = out if with_y else (out, None)
        if not reset:
            _check_fitted_shape(estimator, images.shape[1:], preprocess is not None)
        data = InMemoryImages(_apply(preprocess, images_to_tensor(images)))
        data.flippable = not is_feature_rows(images.shape[1:])
    else:
        items = _check_items(X, kind)
        if reset:
            # Values per image have no meaning for files of any size.
            for attr in ("n_features_in_", "feature_names_in_"):
                if hasattr(estimator, attr):
                    delattr(estimator, attr)
        mode = _file_mode(estimator, reset, kind)
        n_channels = 3 if mode == "RGB" else 1
        if kind == "pil":
            arrays = []
            for i, image in enumerate(items):
                try:
                    arrays.append(torch.from_numpy(image_to_array(image, mode=mode)))
                except ValueError as exc:
                    raise ValueError(f"X[{i}] cannot be used: {exc}") from exc
            if preprocess is None:
                sizes = {tuple(a.shape) for a in arrays}
                if len(sizes) > 1:
                    raise ValueError(
                        f"The PIL images have {len(sizes)} different sizes, e.g. "
                        f"{sorted(sizes)[:_MAX_LISTED]} (height, width, n_channels); set "
                        "image_size=(height, width) to resize them all."
                    )
                data = InMemoryImages(torch.stack(arrays))
            else:
                data = InMemoryImages(torch.cat([preprocess(a[None]) for a in arrays]))
        else:
            paths = np.asarray([str(os.fspath(p)) for p in items], dtype=object)
            if preprocess is not None:
                shape = preprocess.output_shape(n_channels)
            elif reset:
                shape = (*_common_size(paths), n_channels)
            else:
                shape = estimator.image_shape_
            data = ImageFiles(paths, mode=mode, preprocess=preprocess, image_shape=shape)
        if not reset:
            _check_fitted_shape(estimator, data.image_shape, preprocess is not None)
        if with_y:
            if y is None:
                raise ValueError(
                    f"This {type(estimator).__name__} estimator requires y to be passed, "
                    "but the target y is None."
                )
            y = column_or_1d(y, warn=True)
            check_consistent_length(paths if kind == "paths" else items, y)
    if reset:
        estimator.image_shape_ = data.image_shape
    return (data, y) if with_y else data
