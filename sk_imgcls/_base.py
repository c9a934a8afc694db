"""The estimator that CNNClassifier and TransferClassifier share: fit, predict and score."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from ._augment import PRESETS, TTA_OPTIONS, mean_proba
from ._batch_invariance import predict_batches
from ._threads import worker_threads
from ._distributed import DISTRIBUTED_OPTIONS, agree, digest, resolve_distributed
from ._device import MIXED_PRECISION_OPTIONS, OPTIMIZERS, resolve_device, supports_fused
from ._doc_link import DocLinkMixin
from ._input import check_input
from ._warnings import caller_stacklevel
from ._net import check_callbacks
from ._random import draw_seed, seeded_torch
from ._targets import (
    check_classes,
    check_sample_weight,
    check_stratified_split,
    encode,
    loss_weights,
)
from ._training import lr_schedule_of, make_net, net_snapshot, restore_net, train_split


class BaseImageClassifier(DocLinkMixin, ClassifierMixin, BaseEstimator):
    """Fit, predict and score for an image network trained by skorch.

    Subclasses pass the shared training parameters to ``__init__`` and
    define:

    - ``_prepare(self, X)``: called once per new fit (X as given to it),
      under the fit's seed; returns ``(preprocess, backbone)``, the
      per-image preprocessing of :func:`~sk_imgcls._input.check_input`
      (None keeps the images' size) and whatever ``_build_module`` needs
      besides the data (or None);
    - ``_build_module(self, backbone, data, n_classes)``: the initialized
      ``torch.nn.Module`` mapping a batch of images (n, height, width,
      n_channels) to logits (n, n_classes);
    - optionally ``_extra_callbacks(self)``, ``_optimizer_kwargs(self)``,
      ``_training_inputs(self, module, data, valid, group)``,
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
        "distributed": [StrOptions(set(DISTRIBUTED_OPTIONS)), "boolean"],
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
        distributed,
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
        self.distributed = distributed

    # -- hooks with defaults ------------------------------------------------

    def _flat_image_shape(self):
        """How flat 2-D rows are read: None, 1 x n_features single-channel images."""
        return None

    def _extra_callbacks(self):
        return []

    def _n_epochs(self, n_samples):
        """``max_epochs`` for ``n_samples`` training images ("auto" resolved by a subclass)."""
        return self.max_epochs

    def _training_inputs(self, module, data, valid, group):
        """The training and validation sets ``module`` trains on: the images themselves."""
        return data, valid

    def _optimizer_kwargs(self):
        kwargs = {"optimizer__weight_decay": self.weight_decay}
        if self.optimizer == "sgd":
            kwargs["optimizer__momentum"] = self.momentum
        if supports_fused(self.optimizer, resolve_device(self.device)):
            kwargs["optimizer__fused"] = True
        return kwargs

    # -- the skorch net -----------------------------------------------------

    # -- training -----------------------------------------------------------

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
            weights = check_sample_weight(sample_weight_val, len(y_val), "sample_weight_val")
        return valid.with_targets(encode(y_val, self.classes_), weights)

    def _fit(self, X, y, sample_weight=None, *, incremental=False, **kwargs):
        """Train on X, y; continue the current network when ``incremental`` or ``warm_start``.

        ``incremental`` (``partial_fit``) trains one epoch, otherwise
        ``max_epochs``; ``kwargs`` are ``classes`` and the validation set.
        A fit that raises leaves the estimator as it was before: unfitted,
        or with its previous fitted state (a continued network gets its
        weights, optimizer state and history back). Ctrl-C keeps what was
        trained (see ``interrupted_epoch_``), then raises KeyboardInterrupt
        so that a search or a script stops.
        """
        resolve_device(self.device)
        check_callbacks(self.callbacks)
        continuing = (incremental or self.warm_start) and hasattr(self, "net_")
        before = dict(self.__dict__)
        snapshot = net_snapshot(self.net_) if continuing else None
        try:
            with worker_threads():
                self._train(
                    X, y, sample_weight, incremental=incremental, continuing=continuing, **kwargs
                )
        except BaseException:
            if snapshot is not None:
                restore_net(self.net_, snapshot)
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        net = self.net_
        interrupted = net.interrupted_epoch_
        if interrupted is not None and "dur" not in net.history[-1]:
            net.history.pop()  # the unfinished epoch
        self.module_ = net.module_
        self.module_.eval()
        self.history_ = net.history
        self.n_iter_ = len(self.history_)
        self.interrupted_epoch_ = interrupted
        net.keep_optimizer_state = bool(self.warm_start or incremental)
        if interrupted is not None:
            warnings.warn(
                f"Training was interrupted (KeyboardInterrupt) during epoch {interrupted}; "
                f"the {type(self).__name__} keeps the {self.n_iter_} finished epoch(s)"
                f"{' and the weights of the best one' if self.early_stopping else ''}.",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
            raise KeyboardInterrupt(f"fit interrupted during epoch {interrupted}")
        return self

    def _train(
        self, X, y, sample_weight, *, incremental, continuing, classes=None, X_val=None,
        y_val=None, sample_weight_val=None,
    ):
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
                preprocess, backbone = self._prepare(X)
            data, y = check_input(
                self, X, y, reset=True, preprocess=preprocess,
                image_shape=self._flat_image_shape(),
            )
            check_classification_targets(y)
            self.classes_ = check_classes(y, classes, type(self).__name__)
            self.preprocess_ = preprocess
        y_encoded = encode(y, self.classes_)
        group = resolve_distributed(self.distributed, torch.device(resolve_device(self.device)))
        if group is not None:
            seed = agree(
                group,
                seed,
                n_samples=len(data),
                classes=self.classes_.tolist(),
                image_shape=data.image_shape,
                labels=digest(y_encoded),
            )
        sample_weight = loss_weights(y, self.classes_, sample_weight, self.class_weight)
        # Equal weights are the plain mean loss: skip carrying them per batch.
        uniform = np.all(sample_weight == sample_weight[0])
        data = data.with_targets(y_encoded, None if uniform else sample_weight)
        valid = self._validation_data(X_val, y_val, sample_weight_val)
        if valid is None and self.early_stopping:
            check_stratified_split(y, self.validation_fraction)
        if not incremental or not hasattr(self, "max_epochs_"):
            self.max_epochs_ = self._n_epochs(len(data))
        epochs = 1 if incremental else self.max_epochs_
        if continuing:
            if not hasattr(self.net_, "optimizer_"):
                # Unpickled without its optimizer state (see __getstate__).
                self.net_.initialize_optimizer()
            data, valid = self._training_inputs(self.net_.module_, data, valid, group)
            self.net_.set_params(
                train_split=train_split(self, seed, valid), process_group=group, sampler_seed=seed
            )
            if not incremental and "lr_schedule" in dict(self.net_.callbacks_):
                # A warm-start fit spans its own max_epochs_ over its own
                # images: the schedule of the first fit (cosine's length,
                # one-cycle's number of steps) would end too early or raise.
                schedule = lr_schedule_of(self, data, valid)
                if schedule is not None:
                    self.net_.set_params(callbacks__lr_schedule=schedule.initialize())
            with seeded_torch(seed + self.n_iter_):
                self.net_.partial_fit(data, y_encoded, epochs=epochs)
        else:
            with seeded_torch(seed):
                module = self._build_module(backbone, data, len(self.classes_))
                # Inputs reach the convolutions channels-last (an NHWC batch
                # permuted to NCHW); weights in the same layout spare oneDNN
                # a reorder on every call.
                module = module.to(memory_format=torch.channels_last)
                data, valid = self._training_inputs(module, data, valid, group)
                self.net_ = make_net(
                    self, module, data, seed=seed, valid=valid, process_group=group
                ).initialize()
                self.net_.partial_fit(data, y_encoded, epochs=epochs)

    def __getstate__(self):
        # A copy: object.__getstate__ returns the instance's own __dict__.
        state = dict(super().__getstate__())
        # module_ and history_ are the net's: pickled once, inside it, where
        # skorch maps CUDA tensors to the CPU when no GPU is there to load.
        state.pop("module_", None)
        state.pop("history_", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "net_" in state:
            self.module_ = self.net_.module_
            self.history_ = self.net_.history

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
            images are converted like files (EXIF rotation, mode). A pandas
            Series, or a single column (a one-column DataFrame or array of
            shape (n_samples, 1)) of paths or PIL images, is read as that
            column. Every kind takes the same resize and crop to
            ``image_shape_``.
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

        Warns
        -----
        UserWarning
            :class:`TransferClassifier` only: if X is a flat 2-D array, whose
            rows the pretrained backbone reads as images 1 pixel high
            (reshape them to images instead).
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

        tta = self.tta if data.flippable else None

        def proba_of(forward, images):
            if tta is None:
                return torch.softmax(forward(images), dim=1).cpu().numpy().astype(np.float64)
            return mean_proba(forward, images, tta)

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
