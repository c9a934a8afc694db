"""How many threads torch computes with inside a Dask worker."""

import contextlib
import sys

import torch


def _dask_worker():
    """The ``distributed.Worker`` running the calling task, or None outside one.

    A process that has not imported ``distributed`` cannot be running a
    Dask task, so the common case (no Dask at all, a single-image predict)
    costs a dictionary lookup and never imports it.
    """
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.get_worker()
    except ValueError:
        return None


@contextlib.contextmanager
def worker_threads():
    """Give torch the calling Dask task's share of its worker's threads for the block.

    Inside a task of a ``distributed`` worker, torch's intra-op thread count
    is set to ``max(1, nthreads // executing)`` for the duration of the
    block, where ``nthreads`` is the worker's thread count (``--nthreads``,
    ``threads_per_worker``) and ``executing`` the number of tasks the
    worker runs at that moment: the tasks of one worker together use as
    many cores as the worker was given, never more. When the block ends,
    the calling thread gets back the count it had before. Outside a Dask
    worker (no ``distributed`` imported, or not in a task) the block
    changes nothing.

    Yields
    ------
    None

    See Also
    --------
    joblib.parallel_backend : ``parallel_backend("dask")`` runs a search's
        fits as tasks of the workers of a ``distributed.Client``.

    Notes
    -----
    Neither torch's default nor the environment gives a Dask worker the
    right count. torch defaults to the machine's core count, so a worker
    started with fewer threads than cores (or several workers on one
    machine) oversubscribes the cores; the nanny that starts worker
    processes sets ``OMP_NUM_THREADS=1`` (Dask's configuration
    ``distributed.nanny.pre-spawn-environ``), so a worker of 8 threads
    running one fit would use one core of 8. joblib's own workers get
    ``cpu_count // n_jobs`` threads from joblib; its Dask backend sets
    nothing.

    The count is set and restored in the calling thread only. With torch's
    OpenMP backend (that of PyTorch's own builds; see
    ``torch.__config__.parallel_info()``) the count is per thread:
    ``torch.set_num_threads`` sets the OpenMP thread count of the calling
    thread, and the default that threads which have not run a torch
    operation yet start from; a thread that has already run one keeps its
    own count. So each task sets its own share and restores its own count,
    two tasks of one worker never change each other's counts, and nested
    blocks restore in order. (A count shared by the process, set by the
    first block and restored by the last one, would leave the threads whose
    blocks ended earlier with their share instead of their count.)

    A share is decided when the block starts: a task that starts while
    fewer tasks run than later keeps its larger share until it ends.

    Examples
    --------
    Outside a Dask worker the thread count is left alone:

    >>> import torch
    >>> from sk_imgcls._threads import worker_threads
    >>> before = torch.get_num_threads()
    >>> with worker_threads():
    ...     torch.get_num_threads() == before
    True
    """
    worker = _dask_worker()
    if worker is None:
        yield
        return
    # A task outside the executing set (seceded: long-running) still runs.
    share = max(1, worker.state.nthreads // max(1, worker.state.executing_count))
    previous = torch.get_num_threads()
    torch.set_num_threads(share)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
