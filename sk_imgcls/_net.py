"""The skorch net that trains every classifier of the package, and its schedules."""

import copy
import math
import sys

import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback, EarlyStopping, LRScheduler, ProgressBar
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator, to_tensor
from torch.optim import lr_scheduler
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from ._distributed import broadcast_buffers


def _eval_frozen(module):
    """Put in eval mode each submodule whose parameters are all frozen.

    A frozen backbone (skorch's ``Freezer``, a linear probe) then computes in
    training what it computes in prediction: batch norm keeps its running
    statistics and dropout is off. Unfrozen, it trains again.
    """
    params = list(module.parameters())
    if params and not any(p.requires_grad for p in params):
        module.eval()
        return
    for child in module.children():
        _eval_frozen(child)


def batch_as_is(batch):
    """``collate_fn`` of datasets whose ``__getitems__`` returns a whole batch."""
    return batch


def image_loader(dataset, *, batch_size, shuffle=False, sampler=None, **kwargs):
    """skorch's ``iterator_train`` / ``iterator_valid``: a ``DataLoader`` over ``dataset``.

    The shuffling order is one ``torch.randperm`` of the fit's seeded torch
    stream, and the loader gets a generator of its own for its worker
    seeds: the stream of the fit (initialization, order, dropout,
    augmentation) is then the same with or without DataLoader workers.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        With ``__getitems__`` returning whole batches.
    batch_size : int
    shuffle : bool, default=False
    sampler : torch.utils.data.Sampler, default=None
        The order to read in instead (a ``DistributedSampler``).
    **kwargs
        Other ``DataLoader`` arguments (``num_workers``).

    Returns
    -------
    loader : torch.utils.data.DataLoader
    """
    if sampler is None and shuffle:
        sampler = torch.randperm(len(dataset)).tolist()
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=batch_as_is,
        generator=torch.Generator(),
        **kwargs,
    )


def _without_scheduler(callback, copies):
    """``callback`` (or a (name, callback) pair) as it is pickled.

    A skorch ``LRScheduler`` after a fit holds a torch scheduler, which holds
    the optimizer: pickled through it, the optimizer's state would be stored
    (twice the weights, without skorch's CUDA-to-CPU remapping) even when
    the net leaves the optimizer out. Each fit builds a new one
    (``LRScheduler.on_train_begin``), so a copy without it is pickled;
    ``copies`` maps each callback to its copy, so that a callback in both
    ``callbacks`` and ``callbacks_`` stays one object.
    """
    if isinstance(callback, tuple):
        return (callback[0], _without_scheduler(callback[1], copies))
    if isinstance(callback, LRScheduler) and getattr(callback, "lr_scheduler_", None) is not None:
        if callback not in copies:
            copies[callback] = copy.copy(callback)
            copies[callback].lr_scheduler_ = None
        return copies[callback]
    return callback


class ImageClassifierNet(NeuralNetClassifier):
    """skorch's classifier with per-sample loss weights, train-only augmentation and autocast.

    Training inputs are image batches, or dicts ``{"X": images,
    "sample_weight": weights}``; the loss of a batch is ``sum(w_i * l_i) /
    sum(w_i)`` over its cross-entropy terms ``l_i`` (the criterion has
    ``reduction="none"``). ``augmentation``, a
    :class:`~sk_imgcls._augment.BatchAugmentation`, touches training batches
    only, never validation or prediction. ``autocast_dtype`` runs the forward
    pass under ``torch.autocast`` (mixed precision), with a
    ``torch.amp.GradScaler`` scaling the loss for float16. Submodules whose
    parameters are all frozen stay in eval mode while training.

    With a ``process_group`` (:mod:`sk_imgcls._distributed`), each process
    trains on its share of every epoch (``DistributedSampler`` seeded with
    ``sampler_seed``, reshuffled per epoch) through a
    ``DistributedDataParallel`` wrapper of ``module_``; validation runs on
    the whole validation set in every process.
    """

    def __init__(
        self, *args, augmentation=None, autocast_dtype=None, process_group=None,
        sampler_seed=0, **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.augmentation = augmentation
        self.autocast_dtype = autocast_dtype
        self.process_group = process_group
        self.sampler_seed = sampler_seed
        # Whether pickles carry the optimizer state (moments of Adam, ...),
        # which only continued training needs; set by the estimator.
        self.keep_optimizer_state = True

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # skorch's partial_fit swallows Ctrl-C (and still runs on_train_end,
        # which restores the best weights); the estimator needs to know.
        # skorch's EarlyStopping stops training by raising KeyboardInterrupt
        # too; only a stop that no early-stopping callback asked for counts.
        self.interrupted_epoch_ = None
        self.grad_scaler_ = torch.amp.GradScaler(
            torch.device(self.device).type, enabled=self.autocast_dtype == torch.float16
        )
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            stopped_early = any(
                isinstance(callback, EarlyStopping)
                and getattr(callback, "misses_", 0) >= callback.patience
                for _, callback in self.callbacks_
            )
            if not stopped_early:
                self.interrupted_epoch_ = len(self.history)
            raise
        finally:
            # The wrapper holds the process group; pickles and later fits
            # need only the module.
            self._parallel = None

    def get_iterator(self, dataset, training=False):
        if not (training and self.process_group):
            return super().get_iterator(dataset, training)
        sampler = DistributedSampler(
            dataset,
            num_replicas=self.process_group.world_size,
            rank=self.process_group.rank,
            shuffle=True,
            seed=self.sampler_seed,
        )
        sampler.set_epoch(len(self.history))
        kwargs = {"batch_size": self.batch_size, **self.get_params_for("iterator_train")}
        kwargs["shuffle"] = False
        return self.iterator_train(dataset, sampler=sampler, **kwargs)

    def _training_module(self):
        """``module_``, or its DistributedDataParallel wrapper in a distributed fit.

        The wrapper is rebuilt when the set of trainable parameters changes
        (skorch's ``Unfreezer``): DDP registers the gradients to average
        when it is built.
        """
        if not self.process_group:
            return self.module_
        trainable = tuple(p.requires_grad for p in self.module_.parameters())
        parallel = getattr(self, "_parallel", None)
        if parallel is None or parallel[1] != trainable:
            # In a tuple: skorch allows torch modules as attributes of the
            # net only when set by its initialize_* methods.
            parallel = self._parallel = (DistributedDataParallel(self.module_), trainable)
        return parallel[0]

    def __getstate__(self):
        # skorch pickles module_ (with its CUDA-to-CPU remapping) apart from
        # the rest, where the module parameter holds the same network: it
        # would be stored twice and come back as two networks.
        hidden = {
            key: self.__dict__.pop(key)
            for key in ("_parallel", "grad_scaler_")
            if key in self.__dict__
        }
        if not self.keep_optimizer_state and "optimizer_" in self.__dict__:
            hidden["optimizer_"] = self.__dict__.pop("optimizer_")
        try:
            state = super().__getstate__()
        finally:
            self.__dict__.update(hidden)
        copies = {}
        for key in ("callbacks", "callbacks_"):
            if state.get(key):
                state[key] = [_without_scheduler(callback, copies) for callback in state[key]]
        if state.get("module") is self.__dict__.get("module_"):
            state["module"] = None
            state["_module_is_module_"] = True
        return state

    def __setstate__(self, state):
        same = state.pop("_module_is_module_", False)
        super().__setstate__(state)
        if same:
            self.module = self.module_

    def _set_training(self, training=True):
        super()._set_training(training)
        if training:
            _eval_frozen(self.module_)

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
        if self.grad_scaler_.is_enabled():
            # float16 gradients scaled in backward: unscaled, checked for
            # inf/NaN (a skipped step) and the scale updated, by torch.
            for name in self._optimizers:
                self.grad_scaler_.step(getattr(self, name + "_"))
            self.grad_scaler_.update()
        else:
            self._step_optimizer(None)
        return step

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if training and iterator is not None:
            # Once per epoch rather than once per batch (skorch's
            # train_step_single): walking the modules costs as much as a
            # small network's step.
            self._set_training(True)
        out = super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        if training and iterator is not None and self.process_group:
            broadcast_buffers(self.module_)
        return out

    def train_step_single(self, batch, **fit_params):
        Xi, yi = unpack_data(batch)
        if self.augmentation is not None:
            if isinstance(Xi, dict):
                images, yi = self.augmentation(Xi["X"], yi)
                Xi = {**Xi, "X": images}
            else:
                Xi, yi = self.augmentation(Xi, yi)
        y_pred = self._forward(self._training_module(), Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        self.grad_scaler_.scale(loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def infer(self, x, **fit_params):
        return self._forward(self.module_, x, **fit_params)

    def _forward(self, module, x, **fit_params):
        if isinstance(x, dict):
            x = x["X"]
        x = to_tensor(x, device=self.device)
        if self.autocast_dtype is None:
            return module(x, **fit_params)
        with torch.autocast(torch.device(self.device).type, dtype=self.autocast_dtype):
            return module(x, **fit_params).float()

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device)
        losses = self.criterion_(y_pred, y_true)
        if not isinstance(X, dict):
            return losses.mean()
        weight = to_tensor(X["sample_weight"], device=self.device).to(losses.dtype)
        return (losses * weight).sum() / weight.sum().clamp_min(torch.finfo(losses.dtype).tiny)


def _warmup_then(optimizer, *, warmup_epochs, after):
    """torch scheduler: linear warm-up over ``warmup_epochs``, then ``after(optimizer)``.

    Every group starts again from its ``initial_lr`` (which torch's
    schedulers record on first use): torch's schedulers compute each rate
    from the current one, so a continued fit (``warm_start``,
    ``partial_fit``) would otherwise start where the last schedule ended,
    at a cosine's 0.
    """
    for group in optimizer.param_groups:
        group["lr"] = group.get("initial_lr", group["lr"])
    main = after(optimizer)
    if warmup_epochs == 0:
        return main
    warmup = lr_scheduler.LinearLR(
        optimizer, start_factor=1.0 / (warmup_epochs + 1), total_iters=warmup_epochs
    )
    return lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[warmup_epochs])


def _constant_lr(opt):
    return lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)


# skorch's LRScheduler passes last_epoch=-1 to a policy it builds at the start
# of training; the schedules below always start from the first epoch.
def _cosine(optimizer, *, warmup_epochs, max_epochs, last_epoch=-1):
    def cosine(opt):
        return lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, max_epochs - warmup_epochs))

    return _warmup_then(optimizer, warmup_epochs=warmup_epochs, after=cosine)


def _constant(optimizer, *, warmup_epochs, last_epoch=-1):
    return _warmup_then(optimizer, warmup_epochs=warmup_epochs, after=_constant_lr)


def _one_cycle(optimizer, *, max_lr, total_steps, pct_start, last_epoch=-1):
    # skorch passes a continued fit's last_epoch = len(history) - 1, which
    # torch's OneCycleLR reads as steps already taken: a warm-start fit then
    # stepped past total_steps and raised. Every fit runs its own cycle.
    return lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start
    )


def check_callbacks(callbacks):
    """Each element a skorch ``Callback`` or a (name, Callback) tuple.

    Raises
    ------
    ValueError
        Naming the position and the value of the first element that is not.
    """
    for i, callback in enumerate(callbacks or []):
        named = callback if isinstance(callback, tuple) else ("", callback)
        if len(named) != 2 or not isinstance(named[0], str) or not isinstance(named[1], Callback):
            raise ValueError(
                f"callbacks[{i}] is {callback!r}; each element must be a skorch callback "
                "(an instance of skorch.callbacks.Callback) or a (name, callback) tuple."
            )


def lr_schedule_callback(
    lr_schedule, *, lr, warmup_epochs, max_epochs, batch_size, n_train, monitor, patience
):
    """skorch ``LRScheduler`` of the ``lr_schedule`` parameter, or None for a constant rate.

    Parameters
    ----------
    lr_schedule : {"cosine", "onecycle", "plateau"} or None
        See the classifiers' parameter of that name.
    lr : float
        Peak learning rate.
    warmup_epochs : int
        Epochs of linear warm-up (for "onecycle": the share of the rise).
    max_epochs, batch_size, n_train : int
        Length of the training, to size per-batch schedules.
    monitor : str
        History key "plateau" watches: "valid_loss" or "train_loss".
    patience : int
        Epochs without improvement before "plateau" lowers the rate.

    Returns
    -------
    callback : skorch.callbacks.LRScheduler or None

    Raises
    ------
    ValueError
        If ``warmup_epochs`` is combined with "plateau", or is not smaller
        than ``max_epochs`` with "onecycle" or "cosine".
    """
    if lr_schedule in ("onecycle", "cosine") and warmup_epochs >= max_epochs:
        raise ValueError(
            f"warmup_epochs={warmup_epochs} leaves no epoch of lr_schedule={lr_schedule!r} "
            f"within max_epochs={max_epochs}; use fewer warm-up epochs than max_epochs."
        )
    if lr_schedule == "plateau":
        if warmup_epochs:
            raise ValueError(
                "warmup_epochs is not supported with lr_schedule='plateau'; "
                f"got warmup_epochs={warmup_epochs}. Use 'cosine' or 'onecycle'."
            )
        return LRScheduler(
            policy=lr_scheduler.ReduceLROnPlateau,
            monitor=monitor,
            factor=0.2,
            patience=max(1, patience // 2),
        )
    if lr_schedule == "onecycle":
        return LRScheduler(
            policy=_one_cycle,
            max_lr=lr,
            total_steps=max_epochs * math.ceil(n_train / batch_size),
            pct_start=warmup_epochs / max_epochs if warmup_epochs else 0.3,
            step_every="batch",
        )
    if lr_schedule == "cosine":
        return LRScheduler(policy=_cosine, warmup_epochs=warmup_epochs, max_epochs=max_epochs)
    if warmup_epochs:
        return LRScheduler(policy=_constant, warmup_epochs=warmup_epochs)
    return None


class EpochLine(Callback):
    """One plain line per epoch, as Keras prints with ``verbose=2``.

    ``epoch 3/30  train_loss 0.4213  valid_loss 0.3951  valid_acc 0.8750  1.2s``:
    the epoch, the losses and accuracy that the history holds, and the
    epoch's duration; no progress bar, table or ANSI colour codes, so logs
    piped to a file stay readable.

    Parameters
    ----------
    sink : callable, default=print
        Receives each line.
    """

    def __init__(self, sink=print):
        self.sink = sink

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        parts = [f"epoch {row['epoch']}/{net.max_epochs}"]
        for key in ("train_loss", "valid_loss", "valid_acc"):
            if key in row:
                parts.append(f"{key} {row[key]:.4f}")
        parts.append(f"{row['dur']:.1f}s")
        self.sink("  ".join(parts))


def logging_callbacks(verbose, stream=None):
    """The progress callbacks of a ``verbose`` level, and skorch's ``print_log`` setting.

    Parameters
    ----------
    verbose : int
        0: silent. 1: skorch's progress bar and per-epoch table when
        ``stream`` is a terminal, else one line per epoch. 2 or more: one
        line per epoch.
    stream : file-like, default=sys.stdout
        Where the output goes; only its ``isatty`` is read.

    Returns
    -------
    callbacks : list of (str, skorch.callbacks.Callback)
    keep_print_log : bool
        Whether skorch's table (``PrintLog``, with colour codes) stays on.
    """
    if not verbose:
        return [], False
    stream = sys.stdout if stream is None else stream
    if verbose == 1 and stream.isatty():
        return [("progress_bar", ProgressBar())], True
    return [("epoch_line", EpochLine())], False
