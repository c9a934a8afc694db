"""What the image-array transformers share: their fit, their tensor round trip, their docs.

Each transformer validates X into (n, height, width, n_channels) images with
``check_images``, lets a torchvision kernel work on them as a (n, C, H, W)
tensor, and returns channels-last images again. :class:`_ImageTransformer`
holds that road once; a subclass adds its checks through the hooks
``_check_params`` and ``_check_images`` and its pixel work through
``_apply``.
"""

import re
import textwrap

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context

from .._validation import check_images

# Docstring fragments, named alone on a line of a class or method docstring
# (``{image_attributes}``) and filled by _fill_doc at that line's indentation.
_IMAGE_ATTRIBUTES = """\
n_features_in_ : int
    Values per image seen in ``fit`` (height * width * n_channels).
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Column names, when X was a DataFrame with string column names.
image_shape_ : tuple of int
    (height, width, n_channels) of the images seen in ``fit``."""

_STATELESS_NOTES = """\
A stateless transformer: ``transform`` works without ``fit``, which only
validates the parameters and records the input shape. Parameters are
fully validated in ``fit``, so prefer ``fit_transform`` or a Pipeline."""

# X of the transformers that take any images, flat rows included.
_IMAGES_PARAM = """\
X : array-like of shape (n_samples, n_features), (n_samples, height, \
        width) or (n_samples, height, width, n_channels)
    Images, channels last; a 2-D X is read as 1 x n_features images.
    Any real numeric dtype."""

# What check_images rejects, in every transform's Raises.
_INVALID_IMAGES = """\
ValueError
    If X is empty, complex, holds NaN or infinity, is not 2-, 3- or 4-D,
    looks channels-first, or differs in shape from the X seen in ``fit``.
TypeError
    If X is sparse."""

_FRAGMENTS = {
    "image_attributes": _IMAGE_ATTRIBUTES,
    "stateless_notes": _STATELESS_NOTES,
    "images_param": _IMAGES_PARAM,
    "invalid_images": _INVALID_IMAGES,
}
_PLACEHOLDER = re.compile(r"^( *)\{(" + "|".join(_FRAGMENTS) + r")\}$", flags=re.MULTILINE)


def _fill(doc):
    """``doc`` with each placeholder line replaced by its fragment, indented alike."""
    return _PLACEHOLDER.sub(lambda match: textwrap.indent(_FRAGMENTS[match[2]], match[1]), doc)


def _fill_doc(cls):
    """Class decorator: fill the fragments named in the docstrings of ``cls`` and its methods.

    A placeholder stands alone on its line; unlike ``str.format``, this
    leaves the other braces (option sets such as ``{1, 3}``) as they are.
    """
    cls.__doc__ = _fill(cls.__doc__)
    for member in vars(cls).values():
        if callable(member) and member.__doc__:
            member.__doc__ = _fill(member.__doc__)
    return cls


def _validate(estimator, X, *, reset, image_shape=None):
    """``check_images`` plus the number of dimensions of the caller's X.

    The transformers return single-channel images as 3-D only when X was 2-D
    or 3-D, which the validated (always 4-D) images no longer tell.
    """
    if not hasattr(X, "shape"):
        X = np.asarray(X)
    images = check_images(estimator, X, reset=reset, image_shape=image_shape)
    return images, len(X.shape)


def _new_array(result, source):
    """``result`` as a C-contiguous array that shares no memory with ``source``."""
    result = np.ascontiguousarray(result)
    if np.may_share_memory(result, source):
        result = result.copy()
    return result


def _to_chw_tensor(images):
    """Validated (n, height, width, n_channels) images as a (n, C, H, W) tensor.

    A permuted view of ``images`` when they are C-contiguous (the view then
    has channels_last strides, which torchvision's kernels take as they are),
    native-endian and writeable; otherwise of a copy, since torch rejects other
    byte orders and warns on read-only arrays. The transformers never write to
    it.
    """
    array = np.ascontiguousarray(images)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array).permute(0, 3, 1, 2)


def _to_images(tensor, source, *, input_ndim):
    """(n, C, H, W) tensor to channels-last images that share no memory with ``source``.

    Shape (n, height, width) when there is one channel and X was 2-D or 3-D,
    else (n, height, width, n_channels).
    """
    images = tensor.permute(0, 2, 3, 1).numpy()
    if images.shape[3] == 1 and input_ndim < 4:
        images = images[..., 0]
    return _new_array(images, source)


class _ImageTransformer(TransformerMixin, BaseEstimator):
    """Base of the stateless transformers of image arrays.

    ``fit`` checks the parameters and X and records its shape; ``transform``
    needs no ``fit``. Subclasses put ``DocLinkMixin`` first in their bases,
    define ``_parameter_constraints``, ``transform`` and, where they check
    more than the constraints and ``check_images`` do, ``_check_params`` and
    ``_check_images``.
    """

    _parameter_constraints: dict = {}

    def _check_params(self):
        """Raise ValueError for parameters ``_parameter_constraints`` cannot judge."""

    def _check_images(self, images):
        """Raise ValueError for validated images this transformer cannot take."""

    def _validate_images(self, X, *, reset):
        """X as validated (n, height, width, n_channels) images, and its number of dimensions."""
        images, input_ndim = _validate(self, X, reset=reset)
        self._check_images(images)
        return images, input_ndim

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters and X, and record the input shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, \
                width) or (n_samples, height, width, n_channels)
            Images, channels last, or flat rows: what :meth:`transform` takes.
            Any real numeric dtype.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.

        Raises
        ------
        ValueError
            If a parameter is invalid, or X is not valid images for this
            transformer (see :meth:`transform`).
        TypeError
            If X is sparse.
        """
        self._check_params()
        self._validate_images(X, reset=True)
        return self

    def _apply(self, X, operation):
        """Validate X, apply ``operation`` to it as a (n, C, H, W) tensor, return images.

        ``operation`` is the torchvision kernel of the subclass, with its
        arguments bound; the images come back channels last, 3-D when they
        have one channel and X was 2-D or 3-D.
        """
        images, input_ndim = self._validate_images(X, reset=False)
        return _to_images(operation(_to_chw_tensor(images)), images, input_ndim=input_ndim)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32", "uint8"]
        return tags
