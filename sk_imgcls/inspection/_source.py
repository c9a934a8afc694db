"""The images of X as the user passed them: their sizes, and their pixels for display.

The network sees X after the estimator's resize and crop; heatmaps and image
grids are drawn on the images as they were given, so these helpers read X
again, without any preprocessing. X has already been validated by
:func:`sk_imgcls._input.check_input`.
"""

import os

import numpy as np
from PIL import Image, ImageOps

from .._image_io import image_to_array, open_image, read_image_size
from .._input import as_image_sequence
from .._validation import resolve_image_shape


def _as_array_images(estimator, X):
    """An array X as images (n_samples, height, width, n_channels), a view when possible."""
    images = X.to_numpy() if hasattr(X, "iloc") else np.asarray(X)
    if images.ndim == 2:
        flat = None if estimator is None else estimator._flat_image_shape()
        shape = resolve_image_shape(images.shape[1], flat)
        return images.reshape(len(images), *shape)
    return images if images.ndim == 4 else images[..., np.newaxis]


def _items(X):
    """A 1-D X of paths or PIL images as a list, or None when X is an array of images."""
    X = as_image_sequence(X)
    if isinstance(X, np.ndarray) and (X.ndim != 1 or X.dtype.kind not in "OU"):
        return None
    if isinstance(X, (list, tuple, np.ndarray)) and len(X) and isinstance(
        X[0], (str, os.PathLike, Image.Image)
    ):
        return list(X)
    return None


def source_paths(X):
    """The file paths of X as str (ndarray of dtype object), or None when X holds no paths."""
    items = _items(X)
    if items is None or isinstance(items[0], Image.Image):
        return None
    return np.asarray([os.fspath(p) for p in items], dtype=object)


def source_sizes(estimator, X):
    """(height, width) of each image of X as passed, after EXIF rotation: a list of pairs."""
    items = _items(X)
    if items is None:
        return [tuple(_as_array_images(estimator, X).shape[1:3])] * len(X)
    if isinstance(items[0], Image.Image):
        return [ImageOps.exif_transpose(image).size[::-1] for image in items]
    return [read_image_size(path) for path in items]


def source_images(estimator, X, indices):
    """The images ``X[i]`` for i in ``indices`` as passed: a list of (height, width, n_channels).

    Arrays keep their dtype and values; files and PIL images are decoded to
    uint8 RGB upright, as the estimator reads them.
    """
    items = _items(X)
    if items is None:
        images = _as_array_images(estimator, X)
        return [images[i] for i in indices]
    if isinstance(items[0], Image.Image):
        return [image_to_array(items[i], mode="RGB") for i in indices]
    return [open_image(items[i], mode="RGB") for i in indices]


def displayable(image):
    """An image (height, width, n_channels) as ``imshow`` takes it, and its colormap.

    uint8 stays as is; other dtypes are scaled to [0, 1] by their own minimum
    and maximum. One channel is drawn in gray.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = image.astype(np.float64)
        low, high = image.min(), image.max()
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    if image.shape[-1] == 1:
        return image[..., 0], "gray"
    return image[..., :3], None
