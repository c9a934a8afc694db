"""How a fit is set up: the skorch net, its callbacks and split, and undoing a failed fit."""

import copy
import math

import torch
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit
from skorch.helper import predefined_split

from ._augment import BatchAugmentation, make_augmentation, make_batch_mix
from ._device import OPTIMIZERS, autocast_dtype, resolve_device
from ._distributed import AverageMetrics, local_device
from ._net import ImageClassifierNet, image_loader, logging_callbacks, lr_schedule_callback


def net_snapshot(net):
    """What continued training changes in ``net``: weights, optimizer state, history length."""
    optimizer = getattr(net, "optimizer_", None)
    return (
        copy.deepcopy(net.module_.state_dict()),
        None if optimizer is None else copy.deepcopy(optimizer.state_dict()),
        len(net.history),
    )


def restore_net(net, snapshot):
    """Put back what :func:`net_snapshot` saved."""
    module_state, optimizer_state, n_epochs = snapshot
    net.module_.load_state_dict(module_state)
    if optimizer_state is not None and hasattr(net, "optimizer_"):
        net.optimizer_.load_state_dict(optimizer_state)
    del net.history[n_epochs:]


def _silent(*args, **kwargs):
    """A sink that prints nothing (a module-level function, so the estimator pickles)."""


def _n_train(estimator, data, valid):
    """Images per epoch: ``data`` less the share early stopping holds out."""
    n_train = len(data)
    if valid is None and estimator.early_stopping:
        n_train -= math.ceil(estimator.validation_fraction * n_train)
    return n_train


def lr_schedule_of(estimator, data, valid):
    """The ``lr_schedule`` callback sized for ``estimator.max_epochs_`` epochs over ``data``.

    Returns None for a constant rate; see
    :func:`~sk_imgcls._net.lr_schedule_callback`.
    """
    validates = valid is not None or estimator.early_stopping
    return lr_schedule_callback(
        estimator.lr_schedule,
        lr=estimator.lr,
        warmup_epochs=estimator.warmup_epochs,
        max_epochs=estimator.max_epochs_,
        batch_size=estimator.batch_size,
        n_train=_n_train(estimator, data, valid),
        monitor="valid_loss" if validates else "train_loss",
        patience=estimator.n_iter_no_change,
    )


def _callbacks(estimator, data, valid, *, verbose, process_group):
    # Averaged over the processes first, so that everything after reads the
    # same epoch on every process.
    callbacks = [("average_metrics", AverageMetrics())] if process_group else []
    schedule = lr_schedule_of(estimator, data, valid)
    if schedule is not None:
        callbacks.append(("lr_schedule", schedule))
    callbacks += estimator._extra_callbacks()
    if estimator.early_stopping:
        stopping = EarlyStopping(
            monitor="valid_loss",
            patience=estimator.n_iter_no_change,
            load_best=True,
            sink=print if verbose else _silent,
        )
        callbacks.append(("early_stopping", stopping))
    progress, _ = logging_callbacks(verbose)
    callbacks += progress
    for i, callback in enumerate(estimator.callbacks or []):
        # Fresh copies: skorch initializes callbacks in place, and the
        # parameter must stay as the user passed it.
        named = callback if isinstance(callback, tuple) else (f"user_{i}", callback)
        callbacks.append((named[0], copy.deepcopy(named[1])))
    return callbacks

def train_split(estimator, seed, valid):
    """skorch's ``train_split``: the given validation set, a held-out share, or none.

    Parameters
    ----------
    estimator : BaseImageClassifier
        Reads ``early_stopping`` and ``validation_fraction``.
    seed : int
        Seeds the stratified hold-out (skorch's ``ValidSplit``).
    valid : ImageData or None
        The validation set given to ``fit``.
    """
    if valid is not None:
        return predefined_split(valid)
    if estimator.early_stopping:
        return ValidSplit(estimator.validation_fraction, stratified=True, random_state=seed)
    return None

def make_net(estimator, module, data, *, seed, valid=None, process_group=None):
    """The skorch net that trains ``module`` on ``data`` with ``estimator``'s parameters.

    Parameters
    ----------
    estimator : BaseImageClassifier
        Its training parameters, ``classes_`` and the hooks
        ``_extra_callbacks`` and ``_optimizer_kwargs``.
    module : torch.nn.Module
        The initialized network.
    data : sk_imgcls._input.ImageData
        The training images (their shape sizes the augmentation, their
        count the per-batch schedules).
    seed : int
        Seeds the held-out validation split.
    valid : ImageData or None, default=None
        A validation set given to ``fit``.
    process_group : sk_imgcls._distributed.ProcessGroup or None, default=None
        Train data-parallel in this group: each process on its share of
        every epoch; only rank 0 prints.

    Returns
    -------
    net : ImageClassifierNet
        Not yet initialized.
    """
    transform = make_augmentation(
        estimator.augment,
        data.image_shape,
        horizontal_flip=estimator.horizontal_flip and data.flippable,
    )
    mix = make_batch_mix(estimator.mixup, estimator.cutmix, len(estimator.classes_))
    device = local_device(torch.device(resolve_device(estimator.device)), process_group)
    num_workers = estimator.num_workers if data.lazy else 0
    verbose = estimator.verbose if process_group is None or process_group.is_main else 0
    _, print_log = logging_callbacks(verbose)
    # Without skorch's table (colour codes), its print_log callback is off.
    extra = {} if print_log else {"callbacks__print_log": None}
    return ImageClassifierNet(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        criterion__reduction="none",
        criterion__label_smoothing=estimator.label_smoothing,
        optimizer=OPTIMIZERS[estimator.optimizer],
        lr=estimator.lr,
        max_epochs=estimator.max_epochs_,
        batch_size=estimator.batch_size,
        iterator_train=image_loader,
        iterator_train__shuffle=True,
        iterator_train__num_workers=num_workers,
        iterator_valid=image_loader,
        iterator_valid__num_workers=num_workers,
        train_split=train_split(estimator, seed, valid),
        callbacks=_callbacks(
            estimator, data, valid, verbose=verbose, process_group=process_group
        ),
        device=str(device),
        verbose=int(verbose),
        augmentation=(
            None if transform is None and mix is None else BatchAugmentation(transform, mix)
        ),
        autocast_dtype=autocast_dtype(estimator.mixed_precision, device),
        process_group=process_group,
        sampler_seed=seed,
        **estimator._optimizer_kwargs(),
        **extra,
    )
