"""Resizing and center-cropping images with torchvision."""

from numbers import Integral

from sklearn.utils._param_validation import Interval, StrOptions
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from .._doc_link import DocLinkMixin
from ._base import _fill_doc, _ImageTransformer

# The modes torchvision's tensor kernels implement ("box", "hamming" and
# "lanczos" exist for PIL images only).
_INTERPOLATIONS = ("nearest", "nearest-exact", "bilinear", "bicubic")


def _check_size(size, *, square_int):
    """``size`` as torchvision takes it, or ValueError.

    An int stays an int for ``resize`` (shorter side) and becomes a square
    for ``center_crop``; a pair becomes the list [height, width].
    """
    if isinstance(size, Integral) and not isinstance(size, bool) and size > 0:
        return [int(size)] * 2 if square_int else int(size)
    if (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        return [int(s) for s in size]
    raise ValueError(
        "size must be a positive int or a (height, width) pair of positive ints; "
        f"got size={size!r}."
    )


@_fill_doc
class Resize(DocLinkMixin, _ImageTransformer):
    """Resize images to a given size, with torchvision's ``resize``.

    Every image of X is resampled to the same new height and width; the
    channels and the dtype are kept.

    Parameters
    ----------
    size : int or tuple of (int, int), default=(32, 32)
        Output size in pixels. ``(height, width)`` gives exactly that size. An
        int ``s`` resizes the shorter side to ``s`` and keeps the aspect ratio,
        as torchvision does: an image of height h and width w > h becomes
        ``(s, int(s * w / h))``. Pass ``(s, s)`` for squares.
    interpolation : {"nearest", "nearest-exact", "bilinear", "bicubic"}, \
            default="bilinear"
        Resampling filter, a ``torchvision.transforms.InterpolationMode``.
        "nearest" is PIL's and OpenCV's nearest neighbour, "nearest-exact" the
        one of scikit-image.
    antialias : bool, default=True
        Low-pass filter when downsampling with "bilinear" or "bicubic" (as
        PIL does); ignored by the nearest modes. Without it, downsampling by
        large factors aliases.

    Attributes
    ----------
    {image_attributes}

    See Also
    --------
    CenterCrop : Cut or pad images to a size without resampling.
    torchvision.transforms.v2.Resize : The transform this one applies.

    Notes
    -----
    Each image is resized by ``torchvision.transforms.v2.functional.resize``,
    all images of X at once on the CPU, every channel alike. The dtype of X is
    kept: torchvision resamples uint8 images in uint8 or float32 arithmetic
    and rounds the result back to uint8 (bicubic overshoot is clamped to
    [0, 255]); float images keep their precision, and bicubic interpolation
    can take them slightly outside the range of the input.

    {stateless_notes}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sk_imgcls.preprocessing import Resize
    >>> images = load_digits().images
    >>> images.shape
    (1797, 8, 8)
    >>> Resize(size=(16, 16)).fit_transform(images).shape
    (1797, 16, 16)
    >>> Resize(size=4).fit_transform(images[:, :, :6]).shape
    (1797, 5, 4)
    """

    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "interpolation": [StrOptions(set(_INTERPOLATIONS))],
        "antialias": ["boolean"],
    }

    def __init__(self, size=(32, 32), *, interpolation="bilinear", antialias=True):
        self.size = size
        self.interpolation = interpolation
        self.antialias = antialias

    def transform(self, X):
        """Resize each image.

        Parameters
        ----------
        {images_param}

        Returns
        -------
        images : ndarray of shape (n_samples, new_height, new_width) or \
                (n_samples, new_height, new_width, n_channels)
            Resized images, channels last, in the dtype of X (object becomes
            float64). 3-D when X was 2-D or 3-D (one channel), else 4-D.

        Raises
        ------
        ValueError
            If ``size`` is not a positive int or pair of them.
        {invalid_images}
        """
        return self._apply(
            X,
            lambda tensor: F.resize(
                tensor,
                _check_size(self.size, square_int=False),
                interpolation=InterpolationMode(self.interpolation),
                antialias=self.antialias,
            ),
        )

    def _check_params(self):
        _check_size(self.size, square_int=False)


@_fill_doc
class CenterCrop(DocLinkMixin, _ImageTransformer):
    """Crop the center of images to a given size, padding images that are smaller.

    Keeps the central ``size`` pixels of every image of X, without
    resampling; the channels and the dtype are kept.

    Parameters
    ----------
    size : int or tuple of (int, int), default=(32, 32)
        ``(height, width)`` of the output in pixels; an int ``s`` gives
        ``(s, s)``. Along an axis where the image is shorter than the
        output, it is padded with zeros on both sides (torchvision's
        semantics).

    Attributes
    ----------
    {image_attributes}

    See Also
    --------
    Resize : Resample images to a size.
    torchvision.transforms.v2.CenterCrop : The transform this one applies.

    Notes
    -----
    Each image is cropped by
    ``torchvision.transforms.v2.functional.center_crop``: the top-left corner
    of the crop is at ``round((height - crop_height) / 2)``,
    ``round((width - crop_width) / 2)``; padding puts the extra odd pixel on
    the bottom and right. No pixel is resampled and the dtype of X is kept.

    {stateless_notes}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sk_imgcls.preprocessing import CenterCrop
    >>> images = load_digits().images
    >>> CenterCrop(size=6).fit_transform(images).shape
    (1797, 6, 6)
    >>> padded = CenterCrop(size=(10, 10)).fit_transform(images)
    >>> padded.shape
    (1797, 10, 10)
    >>> bool((padded[:, 0] == 0).all() and (padded[:, 1:9, 1:9] == images).all())
    True
    """

    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, None, closed="left"), tuple, list],
    }

    def __init__(self, size=(32, 32)):
        self.size = size

    def transform(self, X):
        """Crop (or pad) each image around its center.

        Parameters
        ----------
        {images_param}

        Returns
        -------
        images : ndarray of shape (n_samples, crop_height, crop_width) or \
                (n_samples, crop_height, crop_width, n_channels)
            Cropped images, channels last, in the dtype of X (object becomes
            float64); a new array, never a view of X. 3-D when X was 2-D or
            3-D (one channel), else 4-D.

        Raises
        ------
        ValueError
            If ``size`` is not a positive int or pair of them.
        {invalid_images}
        """
        return self._apply(
            X, lambda tensor: F.center_crop(tensor, _check_size(self.size, square_int=True))
        )

    def _check_params(self):
        _check_size(self.size, square_int=True)
