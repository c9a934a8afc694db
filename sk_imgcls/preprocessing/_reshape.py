"""Flat rows of pixel values to images and back."""

import numpy as np
from sklearn.base import OneToOneFeatureMixin

from .._doc_link import DocLinkMixin
from .._validation import resolve_image_shape
from ._base import _fill_doc, _ImageTransformer, _new_array, _validate


@_fill_doc
class ImageReshaper(DocLinkMixin, _ImageTransformer):
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
    {image_attributes}

    See Also
    --------
    Flatten : The inverse: images to flat rows.
    sk_imgcls.CNNClassifier : Reads 2-D X through its own ``image_shape``.

    Notes
    -----
    {stateless_notes}

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
            If ``image_shape`` is malformed or does not hold n_features values
            (the message names both), or if images given as 3-D or 4-D X are
            not of shape ``image_shape``.
        {invalid_images}
        """
        images, input_ndim = self._validate_images(X, reset=False)
        if input_ndim == 2:
            shape = (1, images.shape[2]) if self.image_shape is None else tuple(self.image_shape)
            return _new_array(images.reshape(len(images), *shape), images)
        shape = images.shape if input_ndim == 4 else images.shape[:3]
        return _new_array(images.reshape(shape), images)

    def _validate_images(self, X, *, reset):
        """Read 2-D X through ``image_shape``; images in 3-D or 4-D X must have that shape."""
        images, input_ndim = _validate(self, X, reset=reset, image_shape=self.image_shape)
        if input_ndim > 2 and self.image_shape is not None:
            n_values = int(np.prod(images.shape[1:]))
            if resolve_image_shape(n_values, self.image_shape) != images.shape[1:]:
                raise ValueError(
                    f"X holds images of shape {images.shape[1:]} (height, width, "
                    f"n_channels), but image_shape={tuple(self.image_shape)!r}."
                )
        return images, input_ndim


@_fill_doc
class Flatten(DocLinkMixin, OneToOneFeatureMixin, _ImageTransformer):
    """Flatten images into rows of pixel values, for estimators that take 2-D X.

    Image ``i`` becomes row ``i`` of ``X.reshape(n_samples, -1)``: values in
    row-major order over (height, width, n_channels), the inverse of
    :class:`ImageReshaper`. Use it before an estimator such as
    :class:`~sklearn.svm.SVC` in a Pipeline.

    Attributes
    ----------
    {image_attributes}

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
        {invalid_images}
        """
        images, _ = self._validate_images(X, reset=False)
        return _new_array(images.reshape(len(images), -1), images)
