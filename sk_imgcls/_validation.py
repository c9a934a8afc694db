"""Validation of image inputs shared by every estimator of the package."""

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_array, check_consistent_length, validate_data

# Largest channel count accepted as channels-last; a 4-D array whose last axis
# is larger while axis 1 is not is almost surely channels-first (N, C, H, W).
_MAX_CHANNELS_LAST = 4


def _is_dataframe(X):
    return hasattr(X, "iloc") and hasattr(X, "columns")


def resolve_image_shape(n_features, image_shape):
    """Read a flat row of ``n_features`` values as one image.

    Parameters
    ----------
    n_features : int
        Number of values per row of a 2-D X.
    image_shape : tuple of int of length 2 or 3, or None
        ``(height, width)`` or ``(height, width, n_channels)``. None reads each
        row as a single-channel image of height 1 and width ``n_features``.

    Returns
    -------
    shape : tuple of int
        ``(height, width, n_channels)``.

    Raises
    ------
    ValueError
        If ``image_shape`` has the wrong length, non-positive entries, or a
        number of values that differs from ``n_features``.
    """
    if image_shape is None:
        return (1, n_features, 1)
    shape = tuple(image_shape)
    if len(shape) not in (2, 3) or not all(
        isinstance(s, numbers.Integral) and s > 0 for s in shape
    ):
        raise ValueError(
            "image_shape must be (height, width) or (height, width, n_channels) "
            f"with positive integers; got image_shape={image_shape!r}."
        )
    if len(shape) == 2:
        shape = (*shape, 1)
    shape = tuple(int(s) for s in shape)
    if int(np.prod(shape)) != n_features:
        raise ValueError(
            f"image_shape={tuple(image_shape)!r} holds {int(np.prod(shape))} values "
            f"per image, but X has {n_features} features per sample."
        )
    return shape


def check_images(
    estimator, X, y="no_validation", *, reset, image_shape=None, record_shape=True
):
    """Validate X as a batch of images, channels last, and y as class labels.

    X is one of:

    - 2-D ``(n_samples, n_features)``: each row is read through ``image_shape``
      (None: a single-channel image of height 1 and width ``n_features``);
    - 3-D ``(n_samples, height, width)``: grayscale;
    - 4-D ``(n_samples, height, width, n_channels)``: channels last.

    ``n_features_in_`` is the number of values per image (height * width *
    n_channels) and ``image_shape_`` the ``(height, width, n_channels)`` of the
    images seen when ``reset=True``.

    Parameters
    ----------
    estimator : estimator instance
        Receives ``n_features_in_``, ``feature_names_in_`` and
        ``image_shape_`` when ``reset=True``; checked against them otherwise.
    X : array-like of shape (n_samples, n_features), (n_samples, height, width) \
            or (n_samples, height, width, n_channels)
        Images. Any real numeric dtype; the dtype is preserved (uint8 stays
        uint8) except object arrays, which become float64.
    y : array-like of shape (n_samples,), None or "no_validation"
        Targets, validated with X when given.
    reset : bool
        True in ``fit``: record the input shape. False elsewhere: check it.
    image_shape : tuple of int or None, default=None
        How to read a 2-D X; ignored for 3-D and 4-D X.
    record_shape : bool, default=True
        Record ``image_shape_`` (``reset=True``) or check the images against
        it. False leaves both to the caller (the classifiers, whose
        ``image_shape_`` is what their network takes, after any resize).

    Returns
    -------
    images : ndarray of shape (n_samples, height, width, n_channels)
        A view of the validated array; never the caller's array modified.
    y : ndarray of shape (n_samples,)
        Only returned when y is not "no_validation".

    Raises
    ------
    TypeError
        If X is sparse.
    ValueError
        If X is empty, not numeric, complex, holds NaN or infinity, has the
        wrong number of dimensions, looks channels-first, or has images of
        another shape than those seen in ``fit``.
    """
    name = type(estimator).__name__
    if sp.issparse(X):
        raise TypeError(
            f"{name} needs dense image arrays, but X is a sparse "
            f"{type(X).__name__}; convert it with X.toarray()."
        )
    with_y = not (isinstance(y, str) and y == "no_validation")
    check_params = dict(dtype="numeric", allow_nd=True)
    if not (_is_dataframe(X) or hasattr(X, "shape")):
        X = np.asarray(X)
    ndim = 2 if _is_dataframe(X) else len(X.shape)
    if ndim > 2:
        X = check_array(X, estimator=estimator, input_name="X", **check_params)
        shape = X.shape[1:] if X.ndim == 4 else (*X.shape[1:], 1)
        if X.ndim > 4:
            raise ValueError(
                f"{name} expects X of 2, 3 or 4 dimensions (n_samples, height, "
                f"width[, n_channels]); got an array of shape {X.shape}."
            )
        if X.ndim == 4 and X.shape[3] > _MAX_CHANNELS_LAST >= X.shape[1]:
            raise ValueError(
                f"X has shape {X.shape}, which looks channels-first (n_samples, "
                f"n_channels, height, width). {name} expects channels last "
                "(n_samples, height, width, n_channels): pass "
                "X.transpose(0, 2, 3, 1)."
            )
        if record_shape and not reset:
            _check_same_image_shape(estimator, shape)
        flat = X.reshape(len(X), -1)
        if flat.shape[1] == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={flat.shape}) while a "
                f"minimum of 1 is required by {name}."
            )
        if record_shape or reset:
            # X passed check_array above; what is left is n_features_in_ and
            # feature names (a second check_array of X would cost as much as
            # predicting a small image). Without record_shape the caller
            # checks the image shape, which may differ from fit's when it
            # resizes images.
            validate_data(estimator, flat, reset=reset, skip_check_array=True)
        if with_y:
            y = validate_data(estimator, "no_validation", y, reset=False)
            check_consistent_length(flat, y)
        images = X.reshape(len(X), *shape)
    else:
        out = validate_data(estimator, X, y, reset=reset, **check_params)
        flat, y = out if with_y else (out, None)
        shape = resolve_image_shape(flat.shape[1], image_shape)
        if record_shape and not reset:
            _check_same_image_shape(estimator, shape)
        images = flat.reshape(len(flat), *shape)
    if record_shape and reset:
        estimator.image_shape_ = tuple(int(s) for s in shape)
    return (images, y) if with_y else images


def _check_same_image_shape(estimator, shape):
    fitted = getattr(estimator, "image_shape_", None)
    if fitted is not None and tuple(shape) != tuple(fitted):
        raise ValueError(
            f"X has images of shape {tuple(int(s) for s in shape)} (height, width, "
            f"n_channels), but {type(estimator).__name__} was fitted on images of "
            f"shape {tuple(fitted)}."
        )
