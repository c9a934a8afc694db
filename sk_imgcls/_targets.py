"""Labels and loss weights of a fit: classes, sample weights, class weights, splits."""

import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import _check_sample_weight

# Weights beyond float32's range turn the float32 loss into inf or NaN.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_classes(y, classes, name):
    """The sorted classes of a fit: those of ``classes`` if given, else of ``y``.

    Raises
    ------
    ValueError
        If there are fewer than 2 classes, or y holds a label outside
        ``classes``.
    """
    classes_ = np.unique(y if classes is None else classes)
    if len(classes_) < 2:
        raise ValueError(
            f"{name} needs samples of at least 2 classes to train, but y holds only "
            f"1 class: {classes_[0]!r}."
        )
    outside = np.setdiff1d(y, classes_)
    if len(outside):
        raise ValueError(
            f"y holds labels {outside.tolist()} that are not in classes={classes_.tolist()}."
        )
    return classes_


def encode(y, classes_):
    """Labels as int64 indices into ``classes_``."""
    return LabelEncoder().fit(classes_).transform(y).astype(np.int64)


def check_sample_weight(sample_weight, n_samples, name="sample_weight"):
    """Non-negative finite float64 weights, within float32's range; ones for None."""
    weights = _check_sample_weight(
        sample_weight, np.empty((n_samples, 0)), dtype=np.float64, ensure_non_negative=True
    )
    if weights.max(initial=0) > _FLOAT32_MAX:
        raise ValueError(
            f"{name} holds values up to {weights.max():.3g}, beyond float32's range "
            f"({_FLOAT32_MAX:.3g}) in which the network computes its loss; rescale them."
        )
    return weights


def loss_weights(y, classes_, sample_weight, class_weight):
    """Per-sample loss weights: ``sample_weight`` times ``class_weight``, float64.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels, all in ``classes_``.
    classes_ : ndarray of shape (n_classes,)
    sample_weight : array-like of shape (n_samples,) or None
    class_weight : dict, "balanced" or None
        As in scikit-learn.

    Returns
    -------
    weights : ndarray of shape (n_samples,), dtype float64

    Raises
    ------
    ValueError
        If a weight is negative, NaN, infinite or beyond float32's range; if
        ``class_weight`` names a label absent from y or gives a class a
        negative or non-finite weight; if the weights do not sum to a
        positive number.
    """
    weights = check_sample_weight(sample_weight, len(y))
    if class_weight is not None:
        if isinstance(class_weight, dict):
            unknown = [label for label in class_weight if label not in classes_]
            if unknown:
                raise ValueError(
                    f"class_weight names labels absent from y: {unknown}; the classes "
                    f"of y are {classes_.tolist()}."
                )
            bad = {
                label: value
                for label, value in class_weight.items()
                if not (np.isfinite(value) and 0 <= value <= _FLOAT32_MAX)
            }
            if bad:
                raise ValueError(
                    f"class_weight must map labels to non-negative finite weights; got {bad}."
                )
        per_class = compute_class_weight(class_weight, classes=classes_, y=y)
        weights = weights * per_class[np.searchsorted(classes_, y)]
    total = weights.sum()
    if not total > 0:
        raise ValueError(
            f"The sample weights (times class_weight) sum to {total:g}: there is nothing "
            "to learn from. Give some samples a positive weight."
        )
    return weights


def check_stratified_split(y, validation_fraction):
    """Every class of y needs 2 samples for a stratified validation split.

    Raises
    ------
    ValueError
        Naming the classes (as the user's labels) with a single sample.
    """
    labels, counts = np.unique(y, return_counts=True)
    single = labels[counts < 2]
    if len(single):
        raise ValueError(
            f"early_stopping holds out a stratified validation_fraction={validation_fraction} "
            f"of the data, which needs at least 2 samples of each class; classes "
            f"{single.tolist()} have 1. Pass X_val and y_val, or more samples."
        )
