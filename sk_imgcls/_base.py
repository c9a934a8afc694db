"""What CNNClassifier and TransferClassifier share: a skorch-trained classifier."""

import contextlib
import copy
import functools
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, LRScheduler, ProgressBar
from skorch.dataset import ValidSplit, unpack_data
from skorch.utils import TeeGenerator, to_tensor
from torch import nn
from torch.optim import lr_scheduler

from ._augment import (
    TTA_OPTIONS,
    BatchAugmentation,
    make_augmentation,
    make_batch_mix,
    mean_proba,
)
from ._data import BatchLoader, ImagePathDataset, common_image_size
from ._validation import is_path_array

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}


def draw_seed(random_state):
    """An int seed for torch from a scikit-learn ``random_state``."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@contextlib.contextmanager
def seeded_torch(seed):
    """Seed torch's CPU RNG inside the block and restore the caller's state after it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@functools.cache
def _onednn_bf16():
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


def _onednn_convolution(input, weight, bias, padding, stride, dilation, groups):
    """oneDNN's convolution of a CPU batch (n, c, h, w), or None where it does not apply.

    Only with gradients off (prediction), for float32 or bfloat16 (where the
    CPU supports it), and not when oneDNN is unavailable or switched off
    (``torch.backends.mkldnn.flags(enabled=False)``). Under CPU autocast the
    float32 tensors are cast as autocast casts a convolution's (autocast does
    not cover the aten op called here).
    """
    if (
        input.device.type != "cpu"
        or input.ndim != 4
        or len(input) == 0
        or torch.is_grad_enabled()
        or not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)
    ):
        return None
    if torch.is_autocast_enabled("cpu"):
        dtype = torch.get_autocast_dtype("cpu")
        input, weight, bias = (
            t.to(dtype) if t is not None and t.dtype == torch.float32 else t
            for t in (input, weight, bias)
        )
    if weight.dtype != input.dtype or not (
        input.dtype == torch.float32 or (input.dtype == torch.bfloat16 and _onednn_bf16())
    ):
        return None
    return torch.ops.aten.mkldnn_convolution(
        input, weight, bias, padding, stride, dilation, groups
    )


class OneDNNConv2d(nn.Conv2d):
    """``nn.Conv2d`` that predicts on the CPU with oneDNN whatever the batch size.

    PyTorch picks a kernel per call: for a single small image, or a 1x1
    kernel on fewer than 16 images with one thread, its native convolution
    rather than oneDNN's (``ConvParams::use_mkldnn`` in ATen's
    ``Convolution.cpp``). The kernels sum in different orders, so an image's
    output would change in the last float32 bits with the batch it comes in.
    oneDNN's results do not depend on the batch size: calling it for every
    batch keeps predictions independent of batching. Training (gradients on),
    unbatched inputs and other devices take PyTorch's usual path.
    """

    def _conv_forward(self, input, weight, bias):
        out = None
        if self.padding_mode == "zeros" and not isinstance(self.padding, str):
            out = _onednn_convolution(
                input, weight, bias, self.padding, self.stride, self.dilation, self.groups
            )
        return super()._conv_forward(input, weight, bias) if out is None else out


class OneDNNConv2dSame(OneDNNConv2d):
    """timm's ``Conv2dSame`` (TensorFlow "SAME" padding) as a :class:`OneDNNConv2d`.

    Pads with timm's ``pad_same``, exactly as ``Conv2dSame.forward``, then
    convolves without padding.
    """

    def forward(self, input):
        from timm.layers import pad_same

        input = pad_same(input, self.weight.shape[-2:], self.stride, self.dilation)
        return self._conv_forward(input, self.weight, self.bias)


class OneDNNLinear(nn.Linear):
    """``nn.Linear`` that predicts on CPU inputs as a oneDNN 1x1 convolution.

    BLAS multiplies matrices of one to a dozen rows with other kernels (and,
    with several threads, other splits) than larger ones, so a sample's
    output depends on how many come with it; oneDNN's convolution does not
    (see :class:`OneDNNConv2d`). Inputs of shape (..., in_features) are
    treated as rows; anything else, and training, use ``F.linear``.
    """

    def forward(self, input):
        out = None
        if input.ndim >= 2 and input.shape[-1] == self.in_features:
            out = _onednn_convolution(
                input.reshape(-1, self.in_features, 1, 1),
                self.weight[:, :, None, None],
                self.bias,
                (0, 0),
                (1, 1),
                (1, 1),
                1,
            )
        if out is None:
            return super().forward(input)
        return out.reshape(*input.shape[:-1], self.out_features)


def _onednn_class(layer):
    """The oneDNN version of ``layer``'s class; None if it has none."""
    cls = type(layer)
    if cls is nn.Conv2d:
        return OneDNNConv2d
    if cls is nn.Linear:
        return OneDNNLinear
    if cls.__name__ == "Conv2dSame" and cls.__module__.startswith("timm."):
        return OneDNNConv2dSame
    return None


def use_onednn(module):
    """Make the convolution and linear layers of ``module`` predict through oneDNN, in place.

    So that ``predict(X)[mask]`` equals ``predict(X[mask])`` bit for bit,
    as scikit-learn's subset- and order-invariance checks require, without
    padding short batches (which made one image cost a batch). Layers of
    exactly the types ``nn.Conv2d``, ``nn.Linear`` and timm's ``Conv2dSame``
    change class to :class:`OneDNNConv2d`, :class:`OneDNNLinear` and
    :class:`OneDNNConv2dSame`, which add no state: parameters, buffers, hooks
    and ``state_dict`` keys stay as they were. Checked bit for bit for every
    batch size on this package's CNN and on resnet18, EfficientNet-B0,
    tf_efficientnet_lite0 and MobileNetV3-small, in float32 and bfloat16,
    with 1 and 2 threads. Other layers are left as they are; see
    :func:`onednn_covers`. One limit remains: elementwise functions with a
    vectorized and a scalar code path (SiLU, sigmoid, GELU) compute the last
    elements of a tensor whose size is not a multiple of the vector width
    with the scalar one, so on small tensors (the pooled maps of
    squeeze-and-excitation blocks) results can still differ between
    batchings in the last bits: about 1e-9 in tf_efficientnetv2_b0.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    module : torch.nn.Module
        The same object.
    """
    for layer in module.modules():
        onednn = _onednn_class(layer)
        if onednn is not None:
            layer.__class__ = onednn
    return module


_ONEDNN_CLASSES = (OneDNNConv2d, OneDNNLinear)


def onednn_covers(module):
    """Whether every convolution and linear layer of ``module`` is a oneDNN one.

    False when :func:`use_onednn` left some (other convolution classes, such
    as weight-standardized ones): their results may depend on the batch
    size, and prediction then pads short batches instead (see
    :func:`padded_forward`).
    """
    return all(
        isinstance(layer, _ONEDNN_CLASSES)
        for layer in module.modules()
        if isinstance(layer, (nn.modules.conv._ConvNd, nn.Linear))
    )


def padded_forward(module, x, rows):
    """``module(x)``, with a batch of fewer than ``rows`` images padded by zero images.

    The fallback for networks that :func:`use_onednn` does not fully cover,
    and for devices other than the CPU: run at one batch size, a sample's
    output cannot depend on the samples given with it.

    Parameters
    ----------
    module : torch.nn.Module
        In eval mode.
    x : torch.Tensor of shape (n, ...)
    rows : int
        Smallest batch the module is run on.

    Returns
    -------
    out : torch.Tensor of shape (n, ...)
    """
    n = len(x)
    if n >= rows:
        return module(x)
    return module(torch.cat([x, x.new_zeros((rows - n, *x.shape[1:]))]))[:n]


def eval_rows(module, device, batch_size):
    """Smallest evaluation batch of ``module``: 1 when oneDNN covers it on the CPU, else ``batch_size``."""
    if torch.device(device).type == "cpu" and onednn_covers(module):
        return 1
    return batch_size


@functools.cache
def _supports_fused(optimizer, device):
    """Whether torch has a fused (single-kernel) ``optimizer`` step on ``device``.

    The fused Adam, AdamW and SGD steps update every parameter in one kernel
    instead of a chain of per-tensor operations, which is most of the
    optimizer's time for small networks on the CPU.
    """
    try:
        param = torch.nn.Parameter(torch.zeros(1, device=device))
        _OPTIMIZERS[optimizer]([param], lr=0.1, fused=True)
    except (AssertionError, RuntimeError, TypeError, ValueError):
        return False
    return True


def bf16_supported(device):
    """Whether ``device`` computes bfloat16 natively (CPU: AVX-512 BF16 or AMX via oneDNN)."""
    if torch.device(device).type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def autocast_dtype(precision, device):
    """The ``torch.autocast`` dtype of a ``precision`` parameter, or None for float32.

    Parameters
    ----------
    precision : {"fp32", "bf16"}
        "bf16" computes convolutions and matrix products in bfloat16 (weights
        and the optimizer stay float32), as ``torch.autocast`` does.
    device : str
        Resolved torch device.

    Returns
    -------
    dtype : torch.dtype or None
        ``torch.bfloat16``, or None when ``precision="fp32"`` or the device
        lacks bfloat16 support: then float32 is used, with one warning.
    """
    if precision == "fp32":
        return None
    if not bf16_supported(device):
        warnings.warn(
            f"precision='bf16' needs bfloat16 support (a CPU with AVX-512 BF16 or AMX, "
            f"or a recent GPU); device {device!r} has none, so float32 is used.",
            UserWarning,
            stacklevel=3,
        )
        return None
    return torch.bfloat16


def resolve_device(device):
    """Map "auto" to "cuda" when a GPU is present, else "cpu"."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class WeightedNet(NeuralNetClassifier):
    """skorch's classifier with per-sample loss weights and train-only augmentation.

    Training inputs are dicts ``{"X": images, "sample_weight": weights}``; the
    loss of a batch is ``sum(w_i * l_i) / sum(w_i)`` over its cross-entropy
    terms ``l_i`` (the criterion has ``reduction="none"``). ``augmentation``,
    a :class:`~sk_imgcls._augment.BatchAugmentation`, touches training
    batches only, never validation or prediction.
    """

    def __init__(self, *args, augmentation=None, autocast_dtype=None, eval_rows=1, **kwargs):
        super().__init__(*args, **kwargs)
        self.augmentation = augmentation
        self.autocast_dtype = autocast_dtype
        self.eval_rows = eval_rows

    def train_step(self, batch, **fit_params):
        # skorch's train_step without the optimizer closure, which only LBFGS
        # needs (it is not offered): one zero_grad, forward, backward, step.
        self._zero_grad_optimizer(set_to_none=True)
        step = self.train_step_single(batch, **fit_params)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        self._step_optimizer(None)
        return step

    def train_step_single(self, batch, **fit_params):
        if not self.module_.training:
            # Once per epoch rather than once per batch: walking the modules
            # costs as much as a small network's step.
            self._set_training(True)
        Xi, yi = unpack_data(batch)
        if self.augmentation is not None:
            if isinstance(Xi, dict):
                images, yi = self.augmentation(Xi["X"], yi)
                Xi = {**Xi, "X": images}
            else:
                Xi, yi = self.augmentation(Xi, yi)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def infer(self, x, **fit_params):
        if isinstance(x, dict):
            x = x["X"]
        x = to_tensor(x, device=self.device)
        if self.autocast_dtype is None:
            return self._forward(x, **fit_params)
        with torch.autocast(torch.device(self.device).type, dtype=self.autocast_dtype):
            return self._forward(x, **fit_params).float()

    def _forward(self, x, **fit_params):
        if self.module_.training or self.eval_rows == 1:
            return self.module_(x, **fit_params)
        return padded_forward(self.module_, x, self.eval_rows)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device)
        losses = self.criterion_(y_pred, y_true)
        if not isinstance(X, dict):
            return losses.mean()
        weight = to_tensor(X["sample_weight"], device=self.device).to(losses.dtype)
        return (losses * weight).sum() / weight.sum().clamp_min(torch.finfo(losses.dtype).tiny)


def _warmup_then(optimizer, *, warmup_epochs, after):
    """torch scheduler: linear warm-up over ``warmup_epochs``, then ``after(optimizer)``."""
    main = after(optimizer)
    if warmup_epochs == 0:
        return main
    warmup = lr_scheduler.LinearLR(
        optimizer, start_factor=1.0 / (warmup_epochs + 1), total_iters=warmup_epochs
    )
    return lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[warmup_epochs])


# skorch's LRScheduler passes last_epoch=-1 to a policy it builds at the start
# of training; both schedules below always start from the first epoch.
def _cosine(optimizer, *, warmup_epochs, max_epochs, last_epoch=-1):
    return _warmup_then(
        optimizer,
        warmup_epochs=warmup_epochs,
        after=lambda opt: lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(1, max_epochs - warmup_epochs)
        ),
    )


def _constant(optimizer, *, warmup_epochs, last_epoch=-1):
    return _warmup_then(
        optimizer,
        warmup_epochs=warmup_epochs,
        after=lambda opt: lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0),
    )


class BaseImageClassifier(ClassifierMixin, BaseEstimator):
    """Fit, predict and score for a torch module trained by skorch.

    Subclasses define ``__init__`` (all training parameters below plus their
    own), ``_validate_images(X, y, reset)`` returning a tensor of images
    (n_samples, height, width, n_channels), and ``_build_module(n_classes, X,
    sample_weight)`` returning an initialized ``torch.nn.Module`` that maps a
    batch of those images to class logits.
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
        "augment": [str, object, None],
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
        "precision": [StrOptions({"fp32", "bf16"})],
    }

    # -- configuration of the skorch net ------------------------------------

    def _optimizer_kwargs(self):
        kwargs = {"optimizer__weight_decay": self.weight_decay}
        if self.optimizer == "sgd":
            kwargs["optimizer__momentum"] = self.momentum
        if _supports_fused(self.optimizer, resolve_device(self.device)):
            kwargs["optimizer__fused"] = True
        return kwargs

    def _schedule_callback(self, n_train):
        if self.lr_schedule == "plateau":
            if self.warmup_epochs:
                raise ValueError(
                    "warmup_epochs is not supported with lr_schedule='plateau'; "
                    f"got warmup_epochs={self.warmup_epochs}. Use 'cosine' or 'onecycle'."
                )
            return LRScheduler(
                policy=lr_scheduler.ReduceLROnPlateau,
                monitor="valid_loss" if self.early_stopping else "train_loss",
                factor=0.2,
                patience=max(1, self.n_iter_no_change // 2),
            )
        if self.lr_schedule == "onecycle":
            steps_per_epoch = math.ceil(n_train / self.batch_size)
            return LRScheduler(
                policy=lr_scheduler.OneCycleLR,
                max_lr=self.lr,
                total_steps=self.max_epochs * steps_per_epoch,
                pct_start=self.warmup_epochs / self.max_epochs if self.warmup_epochs else 0.3,
                step_every="batch",
            )
        if self.lr_schedule == "cosine":
            return LRScheduler(
                policy=_cosine, warmup_epochs=self.warmup_epochs, max_epochs=self.max_epochs
            )
        if self.warmup_epochs:
            return LRScheduler(policy=_constant, warmup_epochs=self.warmup_epochs)
        return None

    def _callbacks(self, n_train):
        callbacks = []
        schedule = self._schedule_callback(n_train)
        if schedule is not None:
            callbacks.append(("lr_schedule", schedule))
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

    def _network_image_shape(self):
        """(height, width, n_channels) of the images the network is trained on."""
        return self.image_shape_

    def _augmentation(self):
        transform = make_augmentation(
            self.augment, self._network_image_shape(), horizontal_flip=self.horizontal_flip
        )
        mix = make_batch_mix(self.mixup, self.cutmix, len(self.classes_))
        if transform is None and mix is None:
            return None
        return BatchAugmentation(transform, mix)

    def _make_net(self, module, seed, n_samples):
        n_train = n_samples
        train_split = None
        if self.early_stopping:
            train_split = ValidSplit(self.validation_fraction, stratified=True, random_state=seed)
            n_train = n_samples - math.ceil(self.validation_fraction * n_samples)
        return WeightedNet(
            module,
            criterion=torch.nn.CrossEntropyLoss,
            criterion__reduction="none",
            criterion__label_smoothing=self.label_smoothing,
            optimizer=_OPTIMIZERS[self.optimizer],
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=BatchLoader,
            iterator_train__shuffle=True,
            iterator_train__num_workers=self.num_workers,
            iterator_valid=BatchLoader,
            iterator_valid__num_workers=self.num_workers,
            train_split=train_split,
            callbacks=self._callbacks(n_train),
            device=resolve_device(self.device),
            verbose=int(self.verbose),
            augmentation=self._augmentation(),
            autocast_dtype=autocast_dtype(self.precision, resolve_device(self.device)),
            eval_rows=eval_rows(module, resolve_device(self.device), self.batch_size),
            **self._optimizer_kwargs(),
        )

    # -- input ----------------------------------------------------------------

    def _validate_X(self, X, y="no_validation", *, reset):
        """Validate arrays with ``_validate_images``, or a 1-D array of file paths."""
        if not is_path_array(X):
            return self._validate_images(X, y, reset=reset)
        paths = np.asarray([str(p) if not isinstance(p, str) else p for p in X], dtype=object)
        if reset:
            size = self._path_image_size(paths)
            self.image_shape_ = (*size, 3)
            self.n_features_in_ = int(np.prod(self.image_shape_))
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        if isinstance(y, str) and y == "no_validation":
            return paths
        if y is None:
            raise ValueError(
                f"This {type(self).__name__} estimator requires y to be passed, "
                "but the target y is None."
            )
        y = column_or_1d(y, warn=True)
        check_consistent_length(paths, y)
        return paths, y

    def _path_image_size(self, paths):
        """(height, width) that files are decoded to in ``fit``."""
        if self.image_size is None:
            return common_image_size(paths)
        if isinstance(self.image_size, Integral):
            return (int(self.image_size), int(self.image_size))
        return tuple(int(s) for s in self.image_size)

    def _as_dataset(self, X, y=None, sample_weight=None):
        """Training or prediction input for skorch.

        Paths become a streaming :class:`ImagePathDataset`; tensors pass
        through; with ``sample_weight`` the images travel in a dict with their
        weights.
        """
        if isinstance(X, np.ndarray) and X.dtype == object:
            return ImagePathDataset(
                X, y, size=self.image_shape_[:2], mode="RGB", sample_weight=sample_weight
            )
        if sample_weight is None:
            return X
        return {"X": X, "sample_weight": torch.as_tensor(sample_weight, dtype=torch.float32)}

    def _sample_weight(self, X, y, sample_weight):
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
                        f"of y are {list(self.classes_)}."
                    )
            weights = compute_class_weight(self.class_weight, classes=self.classes_, y=y)
            sample_weight = sample_weight * weights[np.searchsorted(self.classes_, y)]
        if not sample_weight.sum() > 0:
            raise ValueError("The sample weights (times class_weight) sum to zero; nothing to learn from.")
        return sample_weight

    # -- training -------------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, *, classes=None, max_epochs=None):
        continuing = (self.warm_start or max_epochs == 1) and hasattr(self, "net_")
        X, y = self._validate_X(X, y, reset=not continuing)
        check_classification_targets(y)
        if continuing:
            unseen = np.setdiff1d(y, self.classes_)
            if len(unseen):
                raise ValueError(
                    f"y holds classes {list(unseen)} not seen in the first fit; "
                    f"the classes are {list(self.classes_)}."
                )
        else:
            self.classes_ = np.unique(y if classes is None else classes)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes to "
                    f"train, but y holds only 1 class: {self.classes_[0]!r}."
                )
            if classes is not None and len(np.setdiff1d(y, self.classes_)):
                raise ValueError(
                    f"y holds labels {list(np.setdiff1d(y, self.classes_))} that are "
                    f"not in classes={list(self.classes_)}."
                )
        y_encoded = LabelEncoder().fit(self.classes_).transform(y).astype(np.int64)
        sample_weight = self._sample_weight(X, y, sample_weight)
        # Equal weights are the plain mean loss: skip carrying them per batch.
        uniform = np.all(sample_weight == sample_weight[0])
        data = self._as_dataset(X, y_encoded, None if uniform else sample_weight)
        with seeded_torch(self._seed + (self.n_iter_ if continuing else 0)):
            if continuing:
                self.net_.set_params(max_epochs=max_epochs or self.max_epochs)
                self.net_.partial_fit(data, y_encoded, epochs=max_epochs or self.max_epochs)
            else:
                module = self._build_module(len(self.classes_), data, sample_weight)
                # Inputs reach the convolutions channels-last (an NHWC batch
                # permuted to NCHW); weights in the same layout spare oneDNN a
                # reorder on every call. use_onednn: predictions that do not
                # depend on the batch an image comes in.
                module = use_onednn(module.to(memory_format=torch.channels_last))
                self.net_ = self._make_net(module, self._seed, len(y))
                if max_epochs is not None:
                    self.net_.set_params(max_epochs=max_epochs)
                self.net_.fit(data, y_encoded)
        self.module_ = self.net_.module_
        self.module_.eval()
        self.history_ = self.net_.history
        self.n_iter_ = len(self.history_)
        return self

    def _partial_fit(self, X, y, classes=None, sample_weight=None):
        return self._fit(X, y, sample_weight, classes=classes, max_epochs=1)

    def _setup_fit(self):
        """Hook run before validation in ``fit`` (e.g. loading a backbone)."""

    def _teardown_fit(self):
        """Hook run after ``fit``, even when it raised."""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the network on images X with labels y.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width), \
                (n_samples, height, width, n_channels), (n_samples, n_features) \
                or (n_samples,) of file paths
            Training images, channels last; a 2-D X is read through
            ``image_shape`` where the estimator has it (else as 1 x n_features
            images). A 1-D array of str or path-like holds image files,
            decoded batch by batch while training.
        y : array-like of shape (n_samples,)
            Class labels: ints, strings or any hashable labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples in the loss: each batch's loss
            is ``sum(w_i * loss_i) / sum(w_i)``. With early stopping they also
            weight the validation loss. None weighs all samples equally.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        TypeError
            If X is sparse, or ``augment`` is not a preset name nor a
            torchvision v2 transform.
        ValueError
            If X is empty, holds NaN, infinity or complex values, has the
            wrong number of dimensions or looks channels-first; if
            ``image_shape`` does not match n_features; if y has another
            length than X or fewer than 2 classes; if ``sample_weight`` is
            negative, NaN, of the wrong length or all zero; if
            ``class_weight`` names a label absent from y; if ``augment`` is
            an unknown preset (the valid ones are listed).
        sk_imgcls.ImageReadError
            If an image file cannot be read; the message names the file.
        """
        self._seed = draw_seed(self.random_state)
        with seeded_torch(self._seed):
            self._setup_fit()
        try:
            return self._fit(X, y, sample_weight)
        finally:
            self._teardown_fit()

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one more epoch on the data given.

        The first call on an unfitted estimator initializes the network as
        ``fit`` does, then trains one epoch; later calls continue from the
        current weights and optimizer state.

        Parameters
        ----------
        X : array-like
            Images or file paths, as in ``fit``, with the image shape of the
            first call.
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
        first = not hasattr(self, "net_")
        if first:
            self._seed = draw_seed(self.random_state)
            with seeded_torch(self._seed):
                self._setup_fit()
        try:
            return self._partial_fit(X, y, classes, sample_weight)
        finally:
            if first:
                self._teardown_fit()

    # -- prediction -----------------------------------------------------------

    def predict_proba(self, X):
        """Probability estimates for each class.

        Parameters
        ----------
        X : array-like
            Images in the layout accepted by ``fit``, or file paths.

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
            If X does not have the layout and image shape seen in ``fit``.
        """
        check_is_fitted(self)
        data = self._as_dataset(self._validate_X(X, reset=False))
        net = self.net_
        if self.module_.training:
            self.module_.eval()
        with torch.inference_mode():
            probas = [
                mean_proba(net.infer, images, self.tta)
                if self.tta is not None
                else torch.softmax(net.infer(images), dim=1).cpu().numpy().astype(np.float64)
                for images in self._prediction_batches(data)
            ]
        proba = np.concatenate(probas)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def _prediction_batches(self, data):
        """Batches of images to predict, on the net's device.

        In-memory tensors are sliced (views, no copy) rather than passed
        through skorch's dataset and iterator; datasets of files go through
        the net's iterator (a DataLoader with ``num_workers``).
        """
        device = self.net_.device
        if isinstance(data, torch.Tensor):
            for batch in data.split(self.batch_size):
                yield batch.to(device)
            return
        for images, _ in self.net_.get_iterator(self.net_.get_dataset(data)):
            yield to_tensor(images, device)

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like
            Images in the layout accepted by ``fit``, or file paths.

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

