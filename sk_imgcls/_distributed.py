"""Data-parallel training with torch.distributed: one process per device, started by a launcher.

Each process runs the same script on the same X and y (``torchrun
--nproc_per_node=N script.py``). In ``fit``, every epoch is split among the
processes by torch's ``DistributedSampler``, the network is wrapped in
``torch.nn.parallel.DistributedDataParallel``, which averages the gradients
over the processes in ``backward``, and the epoch's metrics are averaged
over them before early stopping and the schedules read them. Nothing here
communicates by itself: every exchange is a torch.distributed collective.
"""

import datetime
import hashlib
import os
from dataclasses import dataclass

import numpy as np
import torch
from skorch.callbacks import Callback
from torch import distributed as dist

# Set by torchrun, accelerate launch and torch.distributed.run for each process.
LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
DISTRIBUTED_OPTIONS = ("auto",)
# Longest wait in a collective before it raises (torch's default is 30 min):
# a process that fails or stops answering ends the others within this time.
DEFAULT_TIMEOUT = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in the default torch.distributed process group."""

    rank: int
    world_size: int

    @property
    def is_main(self):
        """Whether this is rank 0, the process that prints."""
        return self.rank == 0


def _launched():
    return all(name in os.environ for name in LAUNCHER_VARIABLES)


def resolve_distributed(option, device):
    """The process group to train in, or None for a single-process fit.

    Parameters
    ----------
    option : "auto" or bool
        The estimator's ``distributed``. "auto" joins a group when one is
        initialized or when a launcher set :data:`LAUNCHER_VARIABLES` for
        more than one process; True requires that; False never joins.
    device : torch.device
        Picks the backend when this call initializes the group: NCCL for
        CUDA, gloo otherwise.

    Returns
    -------
    group : ProcessGroup or None

    Raises
    ------
    ValueError
        If ``option`` is True in a process that no launcher started and
        that initialized no process group.
    """
    if option is False:
        return None
    if not dist.is_available():
        if option is True:
            raise ValueError(
                "distributed=True, but this build of PyTorch has no torch.distributed."
            )
        return None
    if not dist.is_initialized():
        if not _launched():
            if option is True:
                missing = [name for name in LAUNCHER_VARIABLES if name not in os.environ]
                raise ValueError(
                    "distributed=True, but this process was not started by a launcher "
                    f"(the environment lacks {', '.join(missing)}). Start the script with "
                    "`torchrun --nproc_per_node=N script.py` (or `accelerate launch`), call "
                    "torch.distributed.init_process_group() before fit, or pass "
                    "distributed='auto' to train in this process alone."
                )
            return None
        if option == "auto" and int(os.environ["WORLD_SIZE"]) == 1:
            return None
        dist.init_process_group(
            backend="nccl" if device.type == "cuda" else "gloo", timeout=DEFAULT_TIMEOUT
        )
    world_size = dist.get_world_size()
    if option == "auto" and world_size == 1:
        return None
    return ProcessGroup(rank=dist.get_rank(), world_size=world_size)


def local_device(device, group):
    """``device`` with the index of this process's GPU under a launcher (``LOCAL_RANK``)."""
    if group is None or device.type != "cuda" or device.index is not None:
        return device
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))


def agree(group, seed, **facts):
    """Check that every process trains on the same data; return rank 0's seed.

    Parameters
    ----------
    group : ProcessGroup
    seed : int
        This process's seed; rank 0's is returned to all, so that shuffling,
        the validation split and initialization agree even with
        ``random_state=None``.
    **facts
        What must be equal on every process (number of samples, classes,
        image shape, a digest of the labels), each gathered from all.

    Returns
    -------
    seed : int

    Raises
    ------
    ValueError
        On every process, if the facts differ between processes; the message
        lists each process's.
    """
    gathered = [None] * group.world_size
    dist.all_gather_object(gathered, (seed, facts))
    differing = [name for name in facts if any(f[name] != facts[name] for _, f in gathered)]
    if differing:
        per_rank = "; ".join(
            f"rank {rank}: " + ", ".join(f"{name}={f[name]}" for name in differing)
            for rank, (_, f) in enumerate(gathered)
        )
        raise ValueError(
            "The processes of a distributed fit must all call fit with the same X and y "
            f"(each trains on its share of every epoch), but they differ in {per_rank}."
        )
    return gathered[0][0]


def digest(array):
    """A short digest of an array's values, to compare them across processes."""
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def broadcast_buffers(module):
    """Give every process rank 0's buffers (batch-norm running statistics).

    DistributedDataParallel sends them at the start of each forward pass, so
    after the last training step each process holds statistics updated on
    its own batch.
    """
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def all_gather_rows(rows, n_samples, group):
    """The rows each process computed for its indices ``rank::world_size``, in order.

    Parameters
    ----------
    rows : ndarray of shape (n_rows, ...)
        This process's rows.
    n_samples : int
        Rows in all.
    group : ProcessGroup

    Returns
    -------
    all_rows : ndarray of shape (n_samples, ...)
    """
    gathered = [None] * group.world_size
    dist.all_gather_object(gathered, rows)
    out = np.empty((n_samples, *rows.shape[1:]), dtype=rows.dtype)
    for rank, part in enumerate(gathered):
        out[rank::group.world_size] = part
    return out


class AverageMetrics(Callback):
    """Average each epoch's losses and accuracies over the processes.

    Runs before early stopping, the schedules and the log (skorch calls
    print_log last), so that they read the same numbers on every process
    and stop at the same epoch. Each process's value is weighted by the
    samples it scored in the epoch; ``*_best`` flags are set again from the
    averaged values.
    """

    KEYS = {"train_loss": "train_batch_size", "valid_loss": "valid_batch_size",
            "valid_acc": "valid_batch_size"}

    def on_epoch_end(self, net, **kwargs):
        epoch = net.history[-1]
        keys = [key for key in self.KEYS if key in epoch]
        if not keys:
            return
        counts = [
            sum(batch.get(self.KEYS[key], 0) for batch in epoch["batches"]) for key in keys
        ]
        totals = torch.tensor(
            [epoch[key] * n for key, n in zip(keys, counts)] + counts, dtype=torch.float64
        )
        dist.all_reduce(totals)
        for i, key in enumerate(keys):
            value = float(totals[i] / totals[len(keys) + i])
            net.history.record(key, value)
            best_key = f"{key}_best"
            if best_key in epoch:
                previous = [row[key] for row in net.history[:-1] if key in row]
                better = max if key.endswith("acc") else min
                net.history.record(best_key, not previous or better(previous + [value]) == value)
