"""The estimator that CNNClassifier and TransferClassifier share: fit, predict and score."""

import copy
import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit
from skorch.helper import predefined_split
from torch.utils.data import DataLoader

from ._augment import (
    PRESETS,
    TTA_OPTIONS,
    BatchAugmentation,
    make_augmentation,
    make_batch_mix,
    mean_proba,
)
from ._batch_invariance import predict_batches
from ._device import (
    MIXED_PRECISION_OPTIONS,
    OPTIMIZERS,
    autocast_dtype,
    resolve_device,
    supports_fused,
)
from ._input import check_input
from ._net import ImageClassifierNet, batch_as_is, logging_callbacks, lr_schedule_callback
from ._random import draw_seed, seeded_torch


def _silent(*args, **kwargs):
    """A sink that prints nothing (a module-level function, so the estimator pickles)."""


class BaseImageClassifier(ClassifierMixin, BaseEstimator):
    """Fit, predict and score for an image network trained by skorch.

    Subclasses pass the shared training parameters to ``__init__`` and
    define:

    - ``_prepare(self)``: called once per new fit, under the fit's seed;
      returns ``(preprocess, backbone)``, the per-image preprocessing of
      :func:`~sk_imgcls._input.check_input` (None keeps the images' size) and
      whatever ``_build_module`` needs besides the data (or None);
    - ``_build_module(self, backbone, data, n_classes)``: the initialized
      ``torch.nn.Module`` mapping a batch of images (n, height, width,
      n_channels) to logits (n, n_classes);
    - optionally ``_extra_callbacks(self)``, ``_optimizer_kwargs(self)``,
      ``_flat_image_shape(self)``.
    """

    _parameter_constraints: dict = {
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "augment": [StrOptions(set(PRESETS)), callable, None],
        "horizontal_flip": ["boolean"],
        "mixup": [Interval(Real, 0, None, closed="left")],
        "cutmix": [Interval(Real, 0, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "lr_schedule": [StrOptions({"cosine", "onecycle", "plateau"}), None],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "tta": [StrOptions(set(TTA_OPTIONS)), None],
        "warm_start": ["boolean"],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "mixed_precision": [StrOptions(set(MIXED_PRECISION_OPTIONS))],
    }

    # Whether the preprocessing maps images of any channel count to the
    # network's (see check_input); else images keep the fitted channels.
    _any_channels = False

    def __init__(
        self,
        *,
        lr,
        optimizer,
        momentum,
        weight_decay,
        batch_size,
        max_epochs,
        early_stopping,
        validation_fraction,
        n_iter_no_change,
        augment,
        horizontal_flip,
        mixup,
        cutmix,
        class_weight,
        label_smoothing,
        lr_schedule,
        warmup_epochs,
        tta,
        warm_start,
        device,
        random_state,
        verbose,
        callbacks,
        num_workers,
        mixed_precision,
    ):
        self.lr = lr
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.augment = augment
        self.horizontal_flip = horizontal_flip
        self.mixup = mixup
        self.cutmix = cutmix
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.lr_schedule = lr_schedule
        self.warmup_epochs = warmup_epochs
        self.tta = tta
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.num_workers = num_workers
        self.mixed_precision = mixed_precision

    # -- hooks with defaults ------------------------------------------------

    def _flat_image_shape(self):
        """How flat 2-D rows are read: None, 1 x n_features single-channel images."""
        return None

    def _extra_callbacks(self):
        return []

    def _optimizer_kwargs(self):
        kwargs = {"optimizer__weight_decay": self.weight_decay}
        if self.optimizer == "sgd":
            kwargs["optimizer__momentum"] = self.momentum
        if supports_fused(self.optimizer, resolve_device(self.device)):
            kwargs["optimizer__fused"] = True
        return kwargs

    # -- the skorch net -----------------------------------------------------

    def _callbacks(self, n_train, *, validates):
        callbacks = []
        schedule = lr_schedule_callback(
            self.lr_schedule,
            lr=self.lr,
            warmup_epochs=self.warmup_epochs,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            n_train=n_train,
            monitor="valid_loss" if validates else "train_loss",
            patience=self.n_iter_no_change,
        )
        if schedule is not None:
            callbacks.append(("lr_schedule", schedule))
        callbacks += self._extra_callbacks()
        if self.early_stopping:
            stopping = EarlyStopping(
                monitor="valid_loss",
                patience=self.n_iter_no_change,
                load_best=True,
                sink=print if self.verbose else _silent,
            )
            callbacks.append(("early_stopping", stopping))
        progress, _ = logging_callbacks(self.verbose)
        callbacks += progress
        for i, callback in enumerate(self.callbacks or []):
            # Fresh copies: skorch initializes callbacks in place, and the
            # parameter must stay as the user passed it.
            named = callback if isinstance(callback, tuple) else (f"user_{i}", callback)
            callbacks.append((named[0], copy.deepcopy(named[1])))
        return callbacks

    def _train_split(self, seed, valid):
        """skorch's ``train_split``: the given validation set, a held-out share, or none."""
        if valid is not None:
            return predefined_split(valid)
        if self.early_stopping:
            return ValidSplit(self.validation_fraction, stratified=True, random_state=seed)
        return None

    def _make_net(self, module, data, *, seed, valid=None):
        n_train = len(data)
        if valid is None and self.early_stopping:
            n_train -= math.ceil(self.validation_fraction * n_train)
        transform = make_augmentation(
            self.augment, data.image_shape, horizontal_flip=self.horizontal_flip
        )
        mix = make_batch_mix(self.mixup, self.cutmix, len(self.classes_))
        device = resolve_device(self.device)
        num_workers = self.num_workers if data.lazy else 0
        validates = valid is not None or self.early_stopping
        _, print_log = logging_callbacks(self.verbose)
        # Without skorch's table (colour codes), its print_log callback is off.
        extra = {} if print_log else {"callbacks__print_log": None}
        return ImageClassifierNet(
            module,
            criterion=torch.nn.CrossEntropyLoss,
            criterion__reduction="none",
            criterion__label_smoothing=self.label_smoothing,
            optimizer=OPTIMIZERS[self.optimizer],
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=DataLoader,
            iterator_train__shuffle=True,
            iterator_train__num_workers=num_workers,
            iterator_train__collate_fn=batch_as_is,
            iterator_valid=DataLoader,
            iterator_valid__num_workers=num_workers,
            iterator_valid__collate_fn=batch_as_is,
            train_split=self._train_split(seed, valid),
            callbacks=self._callbacks(n_train, validates=validates),
            device=device,
            verbose=int(self.verbose),
            augmentation=(
                None if transform is None and mix is None else BatchAugmentation(transform, mix)
            ),
            autocast_dtype=autocast_dtype(self.mixed_precision, device),
            **self._optimizer_kwargs(),
            **extra,
        )

    # -- training -----------------------------------------------------------

    def _sample_weight(self, y, sample_weight):
        """Per-sample loss weights: ``sample_weight`` times ``class_weight``, float64."""
        sample_weight = _check_sample_weight(
            sample_weight, np.empty((len(y), 0)), dtype=np.float64, ensure_non_negative=True
        )
        if self.class_weight is not None:
            if isinstance(self.class_weight, dict):
                unknown = [label for label in self.class_weight if label not in self.classes_]
                if unknown:
                    raise ValueError(
                        f"class_weight names labels absent from y: {unknown}; the classes "
                        f"of y are {self.classes_.tolist()}."
                    )
            weights = compute_class_weight(self.class_weight, classes=self.classes_, y=y)
            sample_weight = sample_weight * weights[np.searchsorted(self.classes_, y)]
        if not sample_weight.sum() > 0:
            raise ValueError("The sample weights (times class_weight) sum to zero; nothing to learn from.")
        return sample_weight

    def _set_classes(self, y, classes):
        self.classes_ = np.unique(y if classes is None else classes)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes to "
                f"train, but y holds only 1 class: {self.classes_[0]!r}."
            )
        outside = np.setdiff1d(y, self.classes_)
        if len(outside):
            raise ValueError(
                f"y holds labels {outside.tolist()} that are not in "
                f"classes={self.classes_.tolist()}."
            )

    def _validation_data(self, X_val, y_val, sample_weight_val):
        """The validation set given to ``fit``, checked like X, or None."""
        if X_val is None and y_val is None:
            if sample_weight_val is not None:
                raise ValueError("sample_weight_val was given without X_val and y_val.")
            return None
        if X_val is None or y_val is None:
            missing, given = ("y_val", "X_val") if y_val is None else ("X_val", "y_val")
            raise ValueError(f"{given} was given without {missing}; pass both, or neither.")
        try:
            valid, y_val = check_input(
                self, X_val, y_val, reset=False, preprocess=self.preprocess_,
                image_shape=self._flat_image_shape(),
            )
        except ValueError as exc:
            raise ValueError(f"Invalid X_val or y_val: {exc}") from exc
        unseen = np.setdiff1d(y_val, self.classes_)
        if len(unseen):
            raise ValueError(
                f"y_val holds labels {unseen.tolist()} that y does not; the classes are "
                f"{self.classes_.tolist()}."
            )
        weights = None
        if sample_weight_val is not None:
            weights = _check_sample_weight(
                sample_weight_val, np.empty((len(y_val), 0)), dtype=np.float64,
                ensure_non_negative=True,
            )
        y_encoded = LabelEncoder().fit(self.classes_).transform(y_val).astype(np.int64)
        return valid.with_targets(y_encoded, weights)

    def _fit(
        self, X, y, sample_weight=None, *, classes=None, incremental=False, X_val=None,
        y_val=None, sample_weight_val=None,
    ):
        """Train on X, y; continue the current network when ``incremental`` or ``warm_start``.

        ``incremental`` (``partial_fit``) trains one epoch, otherwise
        ``max_epochs``. With ``X_val`` and ``y_val`` every epoch is scored on
        them (and early stopping watches them).
        """
        continuing = (incremental or self.warm_start) and hasattr(self, "net_")
        seed = draw_seed(self.random_state)
        if continuing:
            data, y = check_input(
                self, X, y, reset=False, preprocess=self.preprocess_,
                image_shape=self._flat_image_shape(),
            )
            check_classification_targets(y)
            unseen = np.setdiff1d(y, self.classes_)
            if len(unseen):
                raise ValueError(
                    f"y holds classes {unseen.tolist()} not seen in the first fit; "
                    f"the classes are {self.classes_.tolist()}."
                )
        else:
            with seeded_torch(seed):
                preprocess, backbone = self._prepare()
            data, y = check_input(
                self, X, y, reset=True, preprocess=preprocess,
                image_shape=self._flat_image_shape(),
            )
            check_classification_targets(y)
            self._set_classes(y, classes)
            self.preprocess_ = preprocess
        y_encoded = LabelEncoder().fit(self.classes_).transform(y).astype(np.int64)
        sample_weight = self._sample_weight(y, sample_weight)
        # Equal weights are the plain mean loss: skip carrying them per batch.
        uniform = np.all(sample_weight == sample_weight[0])
        data = data.with_targets(y_encoded, None if uniform else sample_weight)
        valid = self._validation_data(X_val, y_val, sample_weight_val)
        epochs = 1 if incremental else self.max_epochs
        if continuing:
            self.net_.set_params(train_split=self._train_split(seed, valid))
            with seeded_torch(seed + self.n_iter_):
                self.net_.partial_fit(data, y_encoded, epochs=epochs)
        else:
            with seeded_torch(seed):
                module = self._build_module(backbone, data, len(self.classes_))
                # Inputs reach the convolutions channels-last (an NHWC batch
                # permuted to NCHW); weights in the same layout spare oneDNN
                # a reorder on every call.
                module = module.to(memory_format=torch.channels_last)
                self.net_ = self._make_net(module, data, seed=seed, valid=valid).initialize()
                self.net_.partial_fit(data, y_encoded, epochs=epochs)
        self.module_ = self.net_.module_
        self.module_.eval()
        self.history_ = self.net_.history
        self.n_iter_ = len(self.history_)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
        """Train the network on images X with labels y.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width), \
(n_samples, height, width, n_channels) or (n_samples, n_features); \
or a list or 1-D array of file paths; or a list of PIL images
            Training images. Arrays are channels last, uint8 or floats; flat
            2-D rows are read through ``image_shape`` where the estimator
            has it, else as 1 x n_features images. Paths (str or
            pathlib.Path) are decoded batch by batch while training; PIL
            images are converted like files (EXIF rotation, mode). Every
            kind takes the same resize and crop to ``image_shape_``.
        y : array-like of shape (n_samples,)
            Class labels: ints, strings or any hashable labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples in the loss: each batch's loss
            is ``sum(w_i * loss_i) / sum(w_i)``. With early stopping they also
            weight the validation loss. None weighs all samples equally.
        X_val : images of any kind X takes, default=None
            A validation set, as in ``HistGradientBoostingClassifier.fit``:
            every epoch records ``valid_loss`` and ``valid_acc`` on it in
            ``history_``, and early stopping watches it instead of holding out
            ``validation_fraction`` of X. In a Pipeline, route it with
            metadata routing and ``Pipeline(..., transform_input=["X_val"])``
            so the steps before the classifier transform it too.
        y_val : array-like of shape (n_val_samples,), default=None
            Labels of ``X_val``, all among the labels of y.
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            Weights of the validation samples in ``valid_loss``.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        TypeError
            If X is sparse.
        ValueError
            If X is empty, holds NaN, infinity or complex values, has the
            wrong number of dimensions or looks channels-first; if X is a
            single path or image, mixes paths, PIL images and arrays, or
            holds bytes, None or numbers among paths (the message names the
            element); if ``image_shape`` does not match n_features; if y has
            another length than X or fewer than 2 classes; if
            ``sample_weight`` is negative, NaN, of the wrong length or all
            zero; if ``class_weight`` names a label absent from y; if only
            one of ``X_val`` and ``y_val`` is given, ``X_val`` does not have
            the images of X (layout, channels, shape), or ``y_val`` holds a
            label absent from y.
        sk_imgcls.ImageReadError
            If an image file cannot be read; the message names the file.
        """
        return self._fit(
            X, y, sample_weight, X_val=X_val, y_val=y_val, sample_weight_val=sample_weight_val
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one more epoch on the data given.

        The first call on an unfitted estimator initializes the network as
        ``fit`` does, then trains one epoch; later calls continue from the
        current weights and optimizer state.

        Parameters
        ----------
        X : array-like, list of paths or list of PIL images
            Images as in ``fit``, with the image shape of the first call.
        y : array-like of shape (n_samples,)
            Class labels, all among the classes of the first call.
        classes : array-like of shape (n_classes,), default=None
            Every class that will ever appear; used by the first call only
            (default: the labels of its y).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample loss weights, as in ``fit``.

        Returns
        -------
        self : object
            The updated estimator.

        Raises
        ------
        ValueError
            As ``fit``, and if y holds a class not seen in the first call.
        """
        return self._fit(X, y, sample_weight, classes=classes, incremental=True)

    # -- prediction ---------------------------------------------------------

    def predict_proba(self, X):
        """Probability estimates for each class.

        Parameters
        ----------
        X : array-like, list of paths or list of PIL images
            Images in any of the kinds ``fit`` takes; arrays and PIL images
            of any height and width when the estimator resizes them.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), dtype float64
            Softmax of the network's logits, averaged over the ``tta`` views
            when set; columns follow ``classes_`` and each row sums to 1.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If called before ``fit``.
        ValueError
            If X does not have the layout, channels (or, without a resize,
            image shape) seen in ``fit``.
        """
        check_is_fitted(self)
        data = check_input(
            self, X, reset=False, preprocess=self.preprocess_, image_shape=self._flat_image_shape()
        )

        def proba_of(forward, images):
            if self.tta is None:
                return torch.softmax(forward(images), dim=1).cpu().numpy().astype(np.float64)
            return mean_proba(forward, images, self.tta)

        proba = predict_batches(
            self.module_,
            data,
            proba_of,
            device=self.net_.device,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            autocast_dtype=self.net_.autocast_dtype,
        )
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like, list of paths or list of PIL images
            Images in any of the kinds ``fit`` takes.

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
            As ``predict_proba``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
