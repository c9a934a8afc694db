"""Loss and accuracy per epoch of a fitted network, from its skorch history."""

import numpy as np

from ._optional import import_pyplot

# History keys drawn, in skorch's names: (key, panel, label).
_CURVES = (
    ("train_loss", "loss", "train"),
    ("valid_loss", "loss", "validation"),
    ("train_acc", "accuracy", "train"),
    ("valid_acc", "accuracy", "validation"),
)


def _column(history, key):
    """The values of ``key`` per epoch as float64 (NaN where missing), or None if never recorded."""
    values = [row.get(key) for row in history]
    if all(v is None for v in values):
        return None
    return np.array([np.nan if v is None else float(v) for v in values])


class TrainingCurveDisplay:
    """Training and validation loss and accuracy per epoch, the best epoch marked.

    Reads the skorch history of a fitted classifier (``history_``): the keys
    ``train_loss``, ``valid_loss``, ``train_acc`` and ``valid_acc`` that
    are present. The best epoch is the one of lowest validation loss, or of
    lowest training loss without validation. Build it with
    :meth:`from_estimator`.

    Parameters
    ----------
    epochs : ndarray of shape (n_epochs,)
        Epoch numbers, from 1.
    train_loss : ndarray of shape (n_epochs,)
        Mean training loss per epoch.
    valid_loss, train_acc, valid_acc : ndarray of shape (n_epochs,) or None, default=None
        Validation loss, training and validation accuracy (in [0, 1]) per
        epoch; None when not recorded.

    Attributes
    ----------
    best_epoch_ : int
        The epoch marked as best.
    figure_ : matplotlib.figure.Figure
        The figure drawn into.
    ax_ : matplotlib.axes.Axes
        The loss axes.
    ax_accuracy_ : matplotlib.axes.Axes or None
        The accuracy axes (a twin of ``ax_`` when ``plot`` got one Axes);
        None when no accuracy was recorded.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : Score against training-set size.

    Notes
    -----
    The history is skorch's ``History`` (https://skorch.readthedocs.io), one
    row per epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_imgcls import CNNClassifier
    >>> from sk_imgcls.inspection import TrainingCurveDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 256, size=(40, 12, 12)).astype(np.uint8)
    >>> clf = CNNClassifier(max_epochs=3, early_stopping=True, validation_fraction=0.25,
    ...                     random_state=0).fit(X, [0, 1] * 20)
    >>> display = TrainingCurveDisplay.from_estimator(clf)
    >>> display.epochs
    array([1, 2, 3])
    >>> display.valid_loss.shape
    (3,)
    """

    def __init__(self, epochs, train_loss, *, valid_loss=None, train_acc=None, valid_acc=None):
        self.epochs = epochs
        self.train_loss = train_loss
        self.valid_loss = valid_loss
        self.train_acc = train_acc
        self.valid_acc = valid_acc

    @classmethod
    def from_estimator(cls, estimator, *, ax=None):
        """Draw the training curves of a fitted classifier.

        Parameters
        ----------
        estimator : fitted classifier or Pipeline
            With a skorch history in ``history_`` (a Pipeline's last step is
            read).
        ax : matplotlib.axes.Axes, pair of Axes or None, default=None
            One Axes: loss on it, accuracy on a twin y-axis. Two: loss, then
            accuracy. None: a new figure with two panels.

        Returns
        -------
        display : TrainingCurveDisplay

        Raises
        ------
        ValueError
            If the estimator has no ``history_`` (not fitted, or not a
            network) or its history has no ``train_loss``.
        """
        import_pyplot("TrainingCurveDisplay")
        if hasattr(estimator, "steps"):
            estimator = estimator.steps[-1][1]
        history = getattr(estimator, "history_", None)
        if history is None or len(history) == 0:
            raise ValueError(
                f"{type(estimator).__name__} has no training history (history_); fit it first."
            )
        curves = {key: _column(history, key) for key, _, _ in _CURVES}
        if curves["train_loss"] is None:
            raise ValueError("The history has no 'train_loss' per epoch.")
        epochs = np.array([row.get("epoch", i + 1) for i, row in enumerate(history)])
        display = cls(
            epochs,
            curves["train_loss"],
            valid_loss=curves["valid_loss"],
            train_acc=curves["train_acc"],
            valid_acc=curves["valid_acc"],
        )
        return display.plot(ax=ax)

    def plot(self, *, ax=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, pair of Axes or None, default=None
            One Axes: loss on it, accuracy on a twin y-axis. Two: loss, then
            accuracy. None: a new figure with two panels (one without
            accuracy).

        Returns
        -------
        display : TrainingCurveDisplay
            With ``best_epoch_``, ``figure_``, ``ax_`` and ``ax_accuracy_`` set.
        """
        plt = import_pyplot("TrainingCurveDisplay")
        from matplotlib.ticker import MaxNLocator

        has_accuracy = self.train_acc is not None or self.valid_acc is not None
        if ax is None:
            n_panels = 2 if has_accuracy else 1
            figure, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 3.5), squeeze=False)
            ax_loss = axes[0, 0]
            ax_accuracy = axes[0, 1] if has_accuracy else None
        elif np.ndim(ax) == 0:
            ax_loss = ax
            ax_accuracy = ax.twinx() if has_accuracy else None
            figure = ax.figure
        else:
            ax_loss, ax_accuracy = np.asarray(ax, dtype=object).ravel()[:2]
            figure = ax_loss.figure
        monitored = self.valid_loss if self.valid_loss is not None else self.train_loss
        self.best_epoch_ = int(self.epochs[np.nanargmin(monitored)])
        values = {"train_loss": self.train_loss, "valid_loss": self.valid_loss,
                  "train_acc": self.train_acc, "valid_acc": self.valid_acc}
        styles = {"train": dict(color="tab:blue"), "validation": dict(color="tab:orange")}
        for key, panel, label in _CURVES:
            target = ax_loss if panel == "loss" else ax_accuracy
            if values[key] is None or target is None:
                continue
            target.plot(self.epochs, values[key], marker="o", markersize=3,
                        linestyle="--" if panel == "accuracy" else "-",
                        label=f"{label} {panel}", **styles[label])
        for target in (ax_loss, ax_accuracy):
            if target is not None:
                target.axvline(self.best_epoch_, color="gray", linestyle=":",
                               label=f"best epoch ({self.best_epoch_})")
                target.set_xlabel("epoch")
                target.xaxis.set_major_locator(MaxNLocator(integer=True))
                target.legend(loc="best", fontsize=8)
        ax_loss.set_ylabel("cross-entropy loss")
        if ax_accuracy is not None:
            ax_accuracy.set_ylabel("accuracy")
        self.figure_, self.ax_, self.ax_accuracy_ = figure, ax_loss, ax_accuracy
        return self
