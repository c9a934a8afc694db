"""The learning-rate range test: an exponential sweep of the rate over a short training."""

import functools
import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import _num_samples
from skorch.callbacks import Callback, LRScheduler
from torch.optim.lr_scheduler import LambdaLR

from ._optional import import_pyplot


def _exponential(step, *, ratio, n_steps):
    """Factor of the start rate at ``step``: from 1 to ``ratio`` over ``n_steps`` steps."""
    return ratio ** (step / max(n_steps - 1, 1))


class _SweepOver(Exception):
    """Raised by the recorder to end the sweep's training."""


class _LossRecorder(Callback):
    """Passes the rate and the loss of each training batch to ``sink``; ends the sweep.

    The loss is smoothed by an exponential moving average with bias
    correction (fastai's ``AvgSmoothLoss``). After ``n_steps`` batches, or
    once the smoothed loss exceeds ``diverge`` times its minimum or is not
    finite, it raises ``_SweepOver``, which ends the fit of the clone.
    Records go to ``sink`` (a callable, kept as is when the estimator copies
    its callbacks) rather than to the callback's own state.
    """

    def __init__(self, n_steps, *, beta, diverge, sink):
        self.n_steps = n_steps
        self.beta = beta
        self.diverge = diverge
        self.sink = sink

    def initialize(self):
        self._rate = None
        self._average = 0.0
        self._count = 0
        self._best = math.inf
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self._rate = max(group["lr"] for group in net.optimizer_.param_groups)

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        loss = kwargs["loss"].detach().item()
        self._count += 1
        self._average = self.beta * self._average + (1 - self.beta) * loss
        smoothed = self._average / (1 - self.beta**self._count)
        self._best = min(self._best, smoothed)
        self.sink((self._rate, loss, smoothed))
        if (
            self._count >= self.n_steps
            or not math.isfinite(smoothed)
            or smoothed > self.diverge * self._best
        ):
            raise _SweepOver


def _valley(rates, losses):
    """fastai's "valley" suggestion: a rate half-way down the longest stretch of falling loss.

    On the losses without the first tenth and the last five points of the
    sweep, the longest decreasing subsequence is found; the suggestion is
    the rate at ``start + int(length / 3) + int(length / 6)`` of it, as in
    fastai's ``valley``.
    """
    n_points = len(losses)
    skip_start, skip_end = n_points // 10, 5 if n_points > 20 else 0
    rates = rates[skip_start : n_points - skip_end]
    losses = losses[skip_start : n_points - skip_end]
    n_points = len(losses)
    if n_points == 0:
        return float("nan")
    longest = [1] * n_points
    start = end = 0
    for i in range(1, n_points):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
            if longest[end] < longest[i]:
                end = i
                start = end - longest[end]
    section = (end - start) / 3
    return float(rates[start + int(section) + int(section / 2)])


@validate_params(
    {
        "start_lr": [Interval(Real, 0, None, closed="neither")],
        "end_lr": [Interval(Real, 0, None, closed="neither")],
        "n_steps": [Interval(Integral, 2, None, closed="left")],
        "diverge": [Interval(Real, 1, None, closed="neither")],
        "beta": [Interval(Real, 0, 1, closed="left")],
    },
    prefer_skip_nested_validation=False,
)
def lr_find(estimator, X, y, *, start_lr=1e-7, end_lr=10.0, n_steps=100, diverge=4.0, beta=0.98):
    """Learning-rate range test: train a clone while the rate grows exponentially.

    A clone of ``estimator`` trains from its fresh initialization, one batch
    per step, with the learning rate multiplied by a constant factor at each
    step, from ``start_lr`` to ``end_lr``; the loss of each batch is
    recorded. A good rate is on the steep descent of the loss, well before
    its minimum. ``estimator`` itself is not touched.

    Parameters
    ----------
    estimator : CNNClassifier or TransferClassifier
        Fitted or not; only its parameters are used. The clone keeps every
        parameter (augmentation, batch size, freezing, ...) except the ones
        the sweep sets: ``lr``, ``lr_schedule``, ``warmup_epochs``,
        ``early_stopping``, ``max_epochs``, ``verbose`` and two added
        ``callbacks``.
    X : array-like, list of paths or list of PIL images
        Training images, as ``fit`` takes them.
    y : array-like of shape (n_samples,)
        Labels.
    start_lr : float, default=1e-7
        Rate of the first step.
    end_lr : float, default=10.0
        Rate of step ``n_steps``.
    n_steps : int, default=100
        Training batches of the sweep at most (the data is passed over as
        many times as needed).
    diverge : float > 1, default=4.0
        The sweep stops early once the smoothed loss exceeds ``diverge``
        times its minimum.
    beta : float in [0, 1), default=0.98
        Smoothing of the loss: exponential moving average with this decay,
        bias-corrected.

    Returns
    -------
    result : sklearn.utils.Bunch
        - ``lr``: ndarray of shape (n_done,), the rate of each step;
        - ``loss``: ndarray of shape (n_done,), the smoothed loss;
        - ``raw_loss``: ndarray of shape (n_done,), each batch's loss;
        - ``suggested_lr``: float, fastai's "valley" suggestion (NaN when
          the sweep is too short to suggest one).

    Raises
    ------
    ValueError
        If ``end_lr`` is not larger than ``start_lr``; and as ``fit``.

    See Also
    --------
    LRFinderDisplay : Draws the loss against the rate.

    Notes
    -----
    Smith, "Cyclical Learning Rates for Training Neural Networks", WACV
    2017; the smoothing, stopping rule and "valley" suggestion are those of
    fastai's ``lr_find`` (Howard and Gugger, 2020). The sweep runs on
    skorch callbacks: an ``LRScheduler`` with a per-batch ``LambdaLR``
    policy, and a recorder that stops the training.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_imgcls import CNNClassifier
    >>> from sk_imgcls.inspection import lr_find
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 256, size=(64, 12, 12)).astype(np.uint8)
    >>> y = np.array([0, 1] * 32)
    >>> clf = CNNClassifier(batch_size=8, random_state=0)
    >>> result = lr_find(clf, X, y, n_steps=20)
    >>> result.lr.shape == result.loss.shape
    True
    >>> hasattr(clf, "module_")  # clf itself is not fitted
    False
    """
    if not end_lr > start_lr:
        raise ValueError(f"end_lr={end_lr} must be larger than start_lr={start_lr}.")
    batches_per_epoch = math.ceil(_num_samples(X) / estimator.batch_size)
    schedule = LRScheduler(
        policy=LambdaLR,
        lr_lambda=functools.partial(_exponential, ratio=end_lr / start_lr, n_steps=n_steps),
        step_every="batch",
    )
    records = []
    recorder = _LossRecorder(n_steps, beta=beta, diverge=diverge, sink=records.append)
    sweep = clone(estimator).set_params(
        lr=start_lr,
        lr_schedule=None,
        warmup_epochs=0,
        early_stopping=False,
        max_epochs=math.ceil(n_steps / batches_per_epoch),
        verbose=0,
        callbacks=[
            *(estimator.callbacks or []),
            ("lr_finder_schedule", schedule),
            ("lr_finder_recorder", recorder),
        ],
    )
    try:
        sweep.fit(X, y)
    except _SweepOver:
        pass
    rates, raw, smoothed = (np.array(column, dtype=np.float64) for column in zip(*records))
    return Bunch(lr=rates, loss=smoothed, raw_loss=raw, suggested_lr=_valley(rates, smoothed))


class LRFinderDisplay:
    """Smoothed loss against learning rate (log scale), the suggested rate marked.

    Build it with :meth:`from_estimator` (which runs :func:`lr_find`) or
    from a result of :func:`lr_find` with the constructor and :meth:`plot`.

    Parameters
    ----------
    lr : ndarray of shape (n_steps,)
        Learning rates.
    loss : ndarray of shape (n_steps,)
        Smoothed losses.
    suggested_lr : float or None, default=None
        Rate to mark; None or NaN marks none.

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure drawn into.
    ax_ : matplotlib.axes.Axes
        The axes drawn into.

    See Also
    --------
    lr_find : The sweep.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_imgcls.inspection import LRFinderDisplay
    >>> lr = np.logspace(-6, 0, 50)
    >>> loss = 1 + (np.log10(lr) + 3) ** 2 / 10
    >>> display = LRFinderDisplay(lr, loss, suggested_lr=1e-3).plot()
    >>> display.ax_.get_xscale()
    'log'
    """

    def __init__(self, lr, loss, *, suggested_lr=None):
        self.lr = lr
        self.loss = loss
        self.suggested_lr = suggested_lr

    @classmethod
    def from_estimator(cls, estimator, X, y, *, ax=None, **kwargs):
        """Run :func:`lr_find` on a clone of ``estimator`` and draw the result.

        Parameters
        ----------
        estimator : CNNClassifier or TransferClassifier
            Left untouched.
        X : array-like, list of paths or list of PIL images
            Training images.
        y : array-like of shape (n_samples,)
            Labels.
        ax : matplotlib.axes.Axes or None, default=None
            Axes to draw into; None makes a new figure.
        **kwargs : dict
            Passed to :func:`lr_find` (``start_lr``, ``end_lr``, ``n_steps``,
            ...).

        Returns
        -------
        display : LRFinderDisplay
            Also holds the whole result of :func:`lr_find` as ``result_``.
        """
        import_pyplot("LRFinderDisplay")
        result = lr_find(estimator, X, y, **kwargs)
        display = cls(result.lr, result.loss, suggested_lr=result.suggested_lr)
        display.result_ = result
        return display.plot(ax=ax)

    def plot(self, *, ax=None):
        """Draw the curve.

        Parameters
        ----------
        ax : matplotlib.axes.Axes or None, default=None
            Axes to draw into; None makes a new figure.

        Returns
        -------
        display : LRFinderDisplay
            With ``figure_`` and ``ax_`` set.
        """
        plt = import_pyplot("LRFinderDisplay")
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(self.lr, self.loss, color="tab:blue", label="smoothed loss")
        if self.suggested_lr is not None and np.isfinite(self.suggested_lr):
            at = np.argmin(np.abs(np.log(self.lr) - np.log(self.suggested_lr)))
            ax.plot(self.lr[at], self.loss[at], "o", color="tab:red",
                    label=f"suggested lr {self.suggested_lr:.1e} (valley)")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        ax.legend(loc="best", fontsize=8)
        self.figure_, self.ax_ = ax.figure, ax
        return self
