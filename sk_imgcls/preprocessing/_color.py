"""Color and value-range conversions of images with torchvision."""

from numbers import Integral

import torch
from sklearn.utils._param_validation import Options
from torchvision.transforms.v2 import functional as F

from .._doc_link import DocLinkMixin
from ._base import _fill_doc, _ImageTransformer, _to_chw_tensor, _to_images

# Integer dtypes whose maximum torchvision's ``to_dtype(..., scale=True)``
# knows; it scales the others (uint32, uint64) by 1, silently.
_SCALABLE_INTEGERS = ("uint8", "int8", "int16", "uint16", "int32", "int64")


@_fill_doc
class Grayscale(DocLinkMixin, _ImageTransformer):
    """Convert RGB images to grayscale, with torchvision's ``rgb_to_grayscale``.

    Each RGB pixel becomes its luma, in the dtype of X; single-channel images
    pass through, so the transformer can sit in front of any model.

    Parameters
    ----------
    num_output_channels : {1, 3}, default=1
        Channels of the output: 1, or 3 identical channels for models that
        expect RGB input.

    Attributes
    ----------
    {image_attributes}

    See Also
    --------
    Rescale : Convert uint8 values to floats in [0, 1].
    torchvision.transforms.v2.Grayscale : The transform this one applies.

    Notes
    -----
    ``torchvision.transforms.v2.functional.rgb_to_grayscale`` computes the
    luma of ITU-R BT.601, ``0.2989 R + 0.587 G + 0.114 B``, in floating point
    and casts it back to the dtype of X: integer results are truncated, not
    rounded, so a white uint8 pixel (255, 255, 255) becomes 254. Images that
    already have one channel are returned as they are (or repeated 3 times).

    {stateless_notes}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_sample_images
    >>> from sk_imgcls.preprocessing import Grayscale
    >>> photos = np.stack(load_sample_images().images)
    >>> photos.shape, photos.dtype
    ((2, 427, 640, 3), dtype('uint8'))
    >>> gray = Grayscale().fit_transform(photos)
    >>> gray.shape, gray.dtype
    ((2, 427, 640, 1), dtype('uint8'))
    >>> Grayscale(num_output_channels=3).fit_transform(photos).shape
    (2, 427, 640, 3)
    """

    _parameter_constraints: dict = {
        "num_output_channels": [Options(Integral, {1, 3})],
    }

    def __init__(self, num_output_channels=1):
        self.num_output_channels = num_output_channels

    def transform(self, X):
        """Convert each image to grayscale.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, \
                width) or (n_samples, height, width, n_channels)
            Images, channels last, with 1 or 3 (RGB) channels; a 2-D X is read
            as 1 x n_features single-channel images. Any real numeric dtype.

        Returns
        -------
        images : ndarray of shape (n_samples, height, width) or \
                (n_samples, height, width, num_output_channels)
            Grayscale images in the dtype of X (object becomes float64). With
            one output channel, 3-D when X was 2-D or 3-D and 4-D when X was
            4-D.

        Raises
        ------
        ValueError
            If the images do not have 1 or 3 channels.
        {invalid_images}
        """
        return self._apply(
            X,
            lambda tensor: F.rgb_to_grayscale(
                tensor, num_output_channels=self.num_output_channels
            ),
        )

    def _check_images(self, images):
        if images.shape[3] not in (1, 3):
            raise ValueError(
                f"Grayscale takes images with 1 channel or 3 (RGB); got images of "
                f"shape {images.shape[1:]} (height, width, n_channels). Drop an "
                "alpha channel with X[..., :3]."
            )


@_fill_doc
class Rescale(DocLinkMixin, _ImageTransformer):
    """Convert integer pixel values to float32 in [0, 1]; floats become float32 unscaled.

    uint8 images are scaled by 1/255, as ``torchvision.transforms.v2.ToDtype(
    torch.float32, scale=True)`` does, the usual first step before a network
    or a scale-sensitive estimator.

    Attributes
    ----------
    {image_attributes}

    See Also
    --------
    sklearn.preprocessing.MinMaxScaler : Scales each feature by its range in the training data.
    torchvision.transforms.v2.ToDtype : The transform this one applies.

    Notes
    -----
    ``torchvision.transforms.v2.functional.to_dtype(X, torch.float32,
    scale=True)`` multiplies integer values, in float32, by the reciprocal of
    the maximum of their dtype (so uint8 51 becomes 0.20000002):

    - uint8: 255; uint16: 65535; int8, int16, int32, int64: 127, 32767,
      2**31 - 1, 2**63 - 1 (negative values stay negative). Pixel values in
      [0, 255] held in a wider integer dtype (``np.array`` of Python ints is
      int64) thus come out near 0: cast them with ``X.astype(np.uint8)``;
    - bool: False and True become 0.0 and 1.0;
    - uint32 and uint64 have no maximum in torchvision and raise ValueError.

    Floating-point values are cast to float32 and not scaled: they are taken
    to be in [0, 1] already.

    A stateless transformer: ``transform`` works without ``fit``, which only
    records the input shape. Unlike the other image transformers, the output
    has the shape of X, flat rows included: it changes values, not layout.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_imgcls.preprocessing import Rescale
    >>> X = np.array([[[0, 51], [102, 255]]], dtype=np.uint8)
    >>> Rescale().fit_transform(X).round(6)
    array([[[0. , 0.2],
            [0.4, 1. ]]], dtype=float32)
    >>> Rescale().fit_transform(X / 255.0).dtype
    dtype('float32')
    """

    def transform(self, X):
        """Convert X to float32, scaling integer values to [0, 1].

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, \
                width) or (n_samples, height, width, n_channels)
            Images, channels last; a 2-D X holds flat rows. Any real numeric
            dtype except uint32 and uint64.

        Returns
        -------
        X_float : ndarray of the shape of X, dtype float32
            Integer values divided by the maximum of their dtype, floats cast
            as they are. A new array, never a view of X.

        Raises
        ------
        ValueError
            If X is uint32 or uint64.
        {invalid_images}
        """
        images, input_ndim = self._validate_images(X, reset=False)
        scaled = F.to_dtype(_to_chw_tensor(images), torch.float32, scale=True)
        out = _to_images(scaled, images, input_ndim=input_ndim)
        return out.reshape(len(out), -1) if input_ndim == 2 else out

    def _check_images(self, images):
        if images.dtype.kind == "u" and images.dtype.name not in _SCALABLE_INTEGERS:
            raise ValueError(
                f"Rescale cannot scale {images.dtype} values: torchvision knows the "
                f"maximum of {', '.join(_SCALABLE_INTEGERS)} only. Cast X to one of "
                "them, or to float."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
