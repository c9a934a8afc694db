"""What CNNClassifier and TransferClassifier share: a skorch-trained classifier."""

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, ProgressBar
from skorch.dataset import ValidSplit

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}


def resolve_device(device):
    """Map "auto" to "cuda" when a GPU is present, else "cpu"."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class BaseImageClassifier(ClassifierMixin, BaseEstimator):
    """Fit, predict and score for a torch module trained by skorch.

    Subclasses define ``__init__`` (all training parameters below plus their
    own), ``_validate_X(X, y, reset)`` returning the input the module consumes,
    and ``_build_module(n_classes, X)`` returning an initialized
    ``torch.nn.Module`` that maps a batch of that input to class logits.
    """

    _parameter_constraints: dict = {
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(_OPTIMIZERS))],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
    }

    def _optimizer_kwargs(self):
        kwargs = {"optimizer__weight_decay": self.weight_decay}
        if self.optimizer == "sgd":
            kwargs["optimizer__momentum"] = self.momentum
        return kwargs

    def _callbacks(self):
        callbacks = []
        if self.early_stopping:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor="valid_loss",
                        patience=self.n_iter_no_change,
                        load_best=True,
                        sink=print if self.verbose else (lambda *args: None),
                    ),
                )
            )
        if self.verbose:
            callbacks.append(("progress_bar", ProgressBar()))
        for i, callback in enumerate(self.callbacks or []):
            # Fresh copies: skorch initializes callbacks in place, and the
            # parameter must stay as the user passed it.
            named = callback if isinstance(callback, tuple) else (f"user_{i}", callback)
            callbacks.append((named[0], copy.deepcopy(named[1])))
        return callbacks

    def _make_net(self, module, seed):
        train_split = (
            ValidSplit(self.validation_fraction, stratified=True, random_state=seed)
            if self.early_stopping
            else None
        )
        return NeuralNetClassifier(
            module,
            criterion=torch.nn.CrossEntropyLoss,
            optimizer=_OPTIMIZERS[self.optimizer],
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__shuffle=True,
            train_split=train_split,
            callbacks=self._callbacks(),
            device=resolve_device(self.device),
            verbose=int(self.verbose),
            **self._optimizer_kwargs(),
        )

    def _fit(self, X, y):
        X, y = self._validate_X(X, y, reset=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes to "
                f"train, but y holds only 1 class: {self.classes_[0]!r}."
            )
        y_encoded = encoder.transform(y).astype(np.int64)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        # fork_rng: seeding here must not change the caller's global torch RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = self._build_module(len(self.classes_), X)
            self.net_ = self._make_net(module, seed)
            self.net_.fit(X, y_encoded)
        self.module_ = self.net_.module_
        self.module_.eval()
        self.history_ = self.net_.history
        self.n_iter_ = len(self.history_)
        return self

    def predict_proba(self, X):
        """Probability estimates for each class.

        Parameters
        ----------
        X : array-like
            Images in the layout accepted by ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), dtype float64
            Softmax of the network's logits; columns follow ``classes_`` and
            each row sums to 1.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        ValueError
            If X does not have the layout and image shape seen in ``fit``.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        proba = self.net_.predict_proba(X).astype(np.float64)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like
            Images in the layout accepted by ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``, of the dtype ``y`` had in ``fit``
            (strings stay strings).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        ValueError
            If X does not have the layout and image shape seen in ``fit``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
