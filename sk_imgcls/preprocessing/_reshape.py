"""Flat rows to images and back, and the image <-> tensor layout of the transformers."""

import numpy as np
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context

from .._validation import check_images, resolve_image_shape


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


def _image_tags(tags, preserves_dtype=("float64", "float32", "uint8")):
    """Tags shared by the stateless image transformers."""
    tags.requires_fit = False
    tags.input_tags.three_d_array = True
    tags.transformer_tags.preserves_dtype = list(preserves_dtype)
    return tags


class ImageReshaper(TransformerMixin, BaseEstimator):
    """Reshape flat rows of pixel values into images.

    Each row of a 2-D X of shape (n_samples, n_features) is read, row-major and
    channels last, as one image of shape ``image_shape``:
    ``X.reshape(n_samples, *image_shape)``. X that is already images (3-D or
    4-D) is returned unchanged.

    Parameters
    ----------
    image_shape : tuple of int of length 2 or 3, or None, default=None
        ``(height, width)`` or ``(height, width, n_channels)`` of one image;
        ``height * width * n_channels`` must equal n_features. None reads each
        row as a single-channel image of height 1 and width n_features.

    Attributes
    ----------
    n_features_in_ : int
        Values per image seen in ``fit`` (height * width * n_channels).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when X was a DataFrame with string column names.
    image_shape_ : tuple of int
        (height, width, n_channels) of the images seen in ``fit``.

    See Also
    --------
    Flatten : The inverse: images to flat rows.
    sk_imgcls.CNNClassifier : Reads 2-D X through its own ``image_shape``.

    Notes
    -----
    A stateless transformer: ``transform`` works without ``fit``, which only
    validates the parameters and records the input shape. Parameters are
    validated in ``fit`` only, so prefer ``fit_transform`` or a Pipeline.

    The output is a new array (``numpy.reshape`` then a copy), never a view
    of X, in the dtype of X (uint8 stays uint8).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sk_imgcls.preprocessing import ImageReshaper
    >>> X, y = load_digits(return_X_y=True)
    >>> X.shape
    (1797, 64)
    >>> ImageReshaper(image_shape=(8, 8)).fit_transform(X).shape
    (1797, 8, 8)
    >>> ImageReshaper().fit_transform(X).shape
    (1797, 1, 64)
    """

    _parameter_constraints: dict = {"image_shape": [tuple, list, None]}

    def __init__(self, image_shape=None):
        self.image_shape = image_shape

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate ``image_shape`` against X and record the input shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, \
                width) or (n_samples, height, width, n_channels)
            Flat rows, or images channels last. Any real numeric dtype.
        y : None
            Ignored.

        Returns
        -------
        self : ImageReshaper
            The fitted transformer.

        Raises
        ------
        ValueError
            If ``image_shape`` is malformed or does not hold n_features values,
            or X is not valid images (see :meth:`transform`).
        TypeError
            If X is sparse.
        """
        self._reshape(X, reset=True)
        return self

    def transform(self, X):
        """Reshape each row of X into an image.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, \
                width) or (n_samples, height, width, n_channels)
            Flat rows, read through ``image_shape``; or images, channels last,
            returned as they are. Any real numeric dtype.

        Returns
        -------
        images : ndarray of shape (n_samples, height, width) or \
                (n_samples, height, width, n_channels)
            For 2-D X, ``(n_samples, *image_shape)``, or (n_samples, 1,
            n_features) when ``image_shape`` is None. For 3-D or 4-D X, a copy
            of X. dtype of X (object becomes float64).

        Raises
        ------
        ValueError
            If ``image_shape`` does not hold n_features values (the message
            names both), if images given as 3-D or 4-D X are not of shape
            ``image_shape``, if X is empty, complex, holds NaN or infinity, is
            not 2-, 3- or 4-D, looks channels-first, or differs in shape from
            the X seen in ``fit``.
        TypeError
            If X is sparse.
        """
        return self._reshape(X, reset=False)

    def _reshape(self, X, *, reset):
        images, input_ndim = _validate(self, X, reset=reset, image_shape=self.image_shape)
        if input_ndim == 2:
            shape = (1, images.shape[2]) if self.image_shape is None else tuple(self.image_shape)
            return _new_array(images.reshape(len(images), *shape), images)
        if self.image_shape is not None:
            n_values = int(np.prod(images.shape[1:]))
            if resolve_image_shape(n_values, self.image_shape) != images.shape[1:]:
                raise ValueError(
                    f"X holds images of shape {images.shape[1:]} (height, width, "
                    f"n_channels), but image_shape={tuple(self.image_shape)!r}."
                )
        shape = images.shape if input_ndim == 4 else images.shape[:3]
        return _new_array(images.reshape(shape), images)

    def __sklearn_tags__(self):
        return _image_tags(super().__sklearn_tags__())


class Flatten(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Flatten images into rows of pixel values, for estimators that take 2-D X.

    Image ``i`` becomes row ``i`` of ``X.reshape(n_samples, -1)``: values in
    row-major order over (height, width, n_channels), the inverse of
    :class:`ImageReshaper`. Use it before an estimator such as
    :class:`~sklearn.svm.SVC` in a Pipeline.

    Attributes
    ----------
    n_features_in_ : int
        Values per image seen in ``fit`` (height * width * n_channels).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when X was a DataFrame with string column names.
    image_shape_ : tuple of int
        (height, width, n_channels) of the images seen in ``fit``.

    See Also
    --------
    ImageReshaper : The inverse: flat rows to images.
    torch.nn.Flatten : The same reshape inside a network.

    Notes
    -----
    A stateless transformer: ``transform`` works without ``fit``, which only
    records the input shape.

    The output is a new array (``numpy.reshape`` then a copy), never a view
    of X, in the dtype of X (uint8 stays uint8). Its feature names
    (``get_feature_names_out``) are the column names of a DataFrame X, else
    ``x0``, ..., ``x{n_features_in_ - 1}`` in the flattening order.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.svm import SVC
    >>> from sk_imgcls.preprocessing import Flatten, Resize
    >>> X, y = load_digits(return_X_y=True)
    >>> images = X.reshape(-1, 8, 8)
    >>> Flatten().fit_transform(images).shape
    (1797, 64)
    >>> clf = make_pipeline(Resize(size=(16, 16)), Flatten(), SVC())
    >>> clf.fit(images[:1000], y[:1000]).score(images[1000:], y[1000:]) > 0.9
    True
    """

    _parameter_constraints: dict = {}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the input shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, \
                width) or (n_samples, height, width, n_channels)
            Images, channels last; a 2-D X is read as 1 x n_features images.
            Any real numeric dtype.
        y : None
            Ignored.

        Returns
        -------
        self : Flatten
            The fitted transformer.

        Raises
        ------
        ValueError
            If X is not valid images (see :meth:`transform`).
        TypeError
            If X is sparse.
        """
        check_images(self, X, reset=True)
        return self

    def transform(self, X):
        """Flatten each image into one row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, height, \
                width) or (n_samples, height, width, n_channels)
            Images, channels last. Any real numeric dtype.

        Returns
        -------
        X_flat : ndarray of shape (n_samples, height * width * n_channels)
            One row per image, dtype of X (object becomes float64). A 2-D X
            comes back as a copy.

        Raises
        ------
        ValueError
            If X is empty, complex, holds NaN or infinity, is not 2-, 3- or
            4-D, looks channels-first, or differs in shape from the X seen in
            ``fit``.
        TypeError
            If X is sparse.
        """
        images = check_images(self, X, reset=False)
        return _new_array(images.reshape(len(images), -1), images)

    def __sklearn_tags__(self):
        return _image_tags(super().__sklearn_tags__())
