"""The samples a classifier gets most wrong: the highest per-sample losses, and their image grid."""

from numbers import Integral

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_consistent_length, column_or_1d

from ._grid import grid_axes
from ._optional import import_pyplot
from ._source import displayable, source_images, source_paths

# Probabilities are clipped before the log, as sklearn.metrics.log_loss does,
# so a confidently wrong sample has a large, finite loss.
_EPS = np.finfo(np.float64).eps


def _top_from_proba(y_true, y_proba, classes, k):
    """The fields of :func:`top_losses` from labels and class probabilities."""
    y_true = column_or_1d(y_true)
    y_proba = np.asarray(y_proba, dtype=np.float64)
    classes = np.asarray(classes)
    check_consistent_length(y_true, y_proba)
    if y_proba.ndim != 2 or y_proba.shape[1] != len(classes):
        raise ValueError(
            f"y_proba must have shape (n_samples, {len(classes)}), one column per class; "
            f"got {y_proba.shape}."
        )
    n_samples = len(y_true)
    if k > n_samples:
        raise ValueError(f"k={k} is larger than the number of samples, {n_samples}.")
    lookup = {label: i for i, label in enumerate(classes.tolist())}
    unknown = [label for label in dict.fromkeys(y_true.tolist()) if label not in lookup]
    if unknown:
        raise ValueError(
            f"y holds labels {unknown} that are not classes of the estimator; the classes "
            f"are {classes.tolist()}."
        )
    true_index = np.array([lookup[label] for label in y_true.tolist()], dtype=np.int64)
    proba_true = y_proba[np.arange(n_samples), true_index]
    losses = -np.log(np.clip(proba_true, _EPS, 1.0))
    # Stable: ties keep the order of X.
    order = np.argsort(-losses, kind="stable")[:k]
    predicted = np.argmax(y_proba, axis=1)
    return Bunch(
        index=order,
        y_true=y_true[order],
        y_pred=classes[predicted[order]],
        proba_pred=y_proba[order, predicted[order]],
        proba_true=proba_true[order],
        loss=losses[order],
    )


@validate_params(
    {"k": [Interval(Integral, 1, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def top_losses(estimator, X, y, *, k=9):
    """The k samples of X with the highest loss: what the classifier gets most wrong.

    The loss of a sample is its cross-entropy, ``-log p(true class)`` from
    ``estimator.predict_proba``: confident mistakes come first, then
    hesitant ones.

    Parameters
    ----------
    estimator : fitted classifier
        Any fitted classifier with ``predict_proba`` and ``classes_``
        (a :class:`~sk_imgcls.TransferClassifier`, a Pipeline, ...).
    X : array-like, list of paths or list of PIL images
        Images the estimator takes.
    y : array-like of shape (n_samples,)
        True labels, all among ``estimator.classes_``.
    k : int, default=9
        Number of samples returned, at most n_samples.

    Returns
    -------
    result : sklearn.utils.Bunch
        Arrays of shape (k,), highest loss first:

        - ``index``: int, position of the sample in X;
        - ``y_true``: the true label;
        - ``y_pred``: the predicted label (argmax of ``predict_proba``);
        - ``proba_pred``: float, probability of the predicted label;
        - ``proba_true``: float, probability of the true label;
        - ``loss``: float, ``-log(proba_true)`` in nats (probabilities are
          clipped to machine epsilon);
        - ``path``: the file path of the sample (str) when X holds paths,
          else None.

    Raises
    ------
    ValueError
        If ``k`` is larger than n_samples; if y has another length than X
        or holds labels not in ``classes_``; and as ``predict_proba``.
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.

    See Also
    --------
    TopLossesDisplay : Draws them as an image grid.

    Notes
    -----
    fastai's ``ClassificationInterpretation.top_losses`` (Howard and Gugger,
    "Fastai: A Layered API for Deep Learning", Information 2020).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_imgcls import CNNClassifier
    >>> from sk_imgcls.inspection import top_losses
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 256, size=(12, 16, 16)).astype(np.uint8)
    >>> y = np.array(["ant", "bee"] * 6)
    >>> clf = CNNClassifier(max_epochs=1, random_state=0).fit(X, y)
    >>> worst = top_losses(clf, X, y, k=3)
    >>> worst.index.shape, worst.path
    ((3,), None)
    >>> bool(np.all(np.diff(worst.loss) <= 0))
    True
    """
    y_proba = estimator.predict_proba(X)
    result = _top_from_proba(y, y_proba, estimator.classes_, k)
    paths = source_paths(X)
    result.path = None if paths is None else paths[result.index]
    return result


class TopLossesDisplay:
    """Image grid of the samples with the highest loss, captioned as fastai's ``plot_top_losses``.

    Each image is titled ``predicted / true``, then the loss and the
    probability of the predicted label, then the file name when known.
    Build it with :meth:`from_estimator` or :meth:`from_predictions`.

    Parameters
    ----------
    images : list of ndarray of shape (height, width, n_channels)
        The images, highest loss first, as passed (any size each).
    result : sklearn.utils.Bunch
        What :func:`top_losses` returns for them.

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure of the grid.
    ax_ : ndarray of matplotlib.axes.Axes
        The axes of the grid, one per image (flattened).

    See Also
    --------
    top_losses : The data drawn here.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_imgcls import CNNClassifier
    >>> from sk_imgcls.inspection import TopLossesDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 256, size=(12, 16, 16)).astype(np.uint8)
    >>> y = np.array([0, 1] * 6)
    >>> clf = CNNClassifier(max_epochs=1, random_state=0).fit(X, y)
    >>> display = TopLossesDisplay.from_estimator(clf, X, y, k=4)
    >>> display.ax_.shape
    (4,)
    """

    def __init__(self, images, result):
        self.images = images
        self.result = result

    @classmethod
    def from_estimator(cls, estimator, X, y, *, k=9, ax=None, n_cols=None):
        """Compute the top losses of a fitted classifier and draw them.

        Parameters
        ----------
        estimator : fitted classifier
            As :func:`top_losses` takes.
        X : array-like, list of paths or list of PIL images
            Images.
        y : array-like of shape (n_samples,)
            True labels.
        k : int, default=9
            Number of images.
        ax : array-like of matplotlib.axes.Axes or None, default=None
            At least k axes to draw into; None makes a new figure.
        n_cols : int or None, default=None
            Columns of the new grid; None for about a square.

        Returns
        -------
        display : TopLossesDisplay
        """
        import_pyplot("TopLossesDisplay")
        result = top_losses(estimator, X, y, k=k)
        images = source_images(estimator, X, result.index)
        return cls(images, result).plot(ax=ax, n_cols=n_cols)

    @classmethod
    def from_predictions(cls, X, y_true, y_proba, *, classes, k=9, ax=None, n_cols=None):
        """Draw the top losses from labels and predicted probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width[, n_channels]) or \
list of paths
            The images the probabilities were predicted for (channels last),
            or their file paths.
        y_true : array-like of shape (n_samples,)
            True labels.
        y_proba : array-like of shape (n_samples, n_classes)
            Predicted probabilities, columns in the order of ``classes``.
        classes : array-like of shape (n_classes,)
            The label of each column of ``y_proba``.
        k : int, default=9
            Number of images.
        ax : array-like of matplotlib.axes.Axes or None, default=None
            At least k axes to draw into; None makes a new figure.
        n_cols : int or None, default=None
            Columns of the new grid; None for about a square.

        Returns
        -------
        display : TopLossesDisplay

        Raises
        ------
        ValueError
            If ``k`` exceeds n_samples, ``y_proba`` does not have one column
            per class, or ``y_true`` holds a label not in ``classes``.
        """
        import_pyplot("TopLossesDisplay")
        result = _top_from_proba(y_true, y_proba, classes, k)
        paths = source_paths(X)
        result.path = None if paths is None else paths[result.index]
        images = source_images(None, X, result.index)
        return cls(images, result).plot(ax=ax, n_cols=n_cols)

    def plot(self, *, ax=None, n_cols=None):
        """Draw the grid.

        Parameters
        ----------
        ax : array-like of matplotlib.axes.Axes or None, default=None
            At least as many axes as images; None makes a new figure.
        n_cols : int or None, default=None
            Columns of the new grid; None for about a square.

        Returns
        -------
        display : TopLossesDisplay
            With ``figure_`` and ``ax_`` set.
        """
        plt = import_pyplot("TopLossesDisplay")
        n_images = len(self.images)
        figure, axes = grid_axes(plt, n_images, ax=ax, n_cols=n_cols, row_height=3.2)
        r = self.result
        for i, (axis, image) in enumerate(zip(axes, self.images)):
            pixels, cmap = displayable(image)
            axis.imshow(pixels, cmap=cmap)
            caption = (
                f"{r.y_pred[i]} / {r.y_true[i]}\nloss {r.loss[i]:.2f}, p={r.proba_pred[i]:.2f}"
            )
            if r.path is not None:
                caption += f"\n{_file_name(r.path[i])}"
            axis.set_title(caption, fontsize=9)
            axis.axis("off")
        figure.suptitle("Top losses: predicted / true, loss, probability of the prediction")
        self.figure_, self.ax_ = figure, axes[:n_images]
        return self


def _file_name(path):
    """The last component of ``path``, shortened to fit a caption."""
    name = str(path).replace("\\", "/").rsplit("/", 1)[-1]
    return name if len(name) <= 28 else name[:12] + "..." + name[-13:]
