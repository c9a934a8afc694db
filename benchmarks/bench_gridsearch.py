"""GridSearchCV wall time of CNNClassifier with n_jobs=1, n_jobs=2 and on Dask.

A 2 x 2 grid (``lr`` x ``width``), ``cv=3`` and the default ``refit=True`` on
scikit-learn's digits (8x8): 12 fits in parallel, then one refit on all the
data in the main process, so even with fits that ran as fast in a worker as
in the main process the speedup with 2 workers could not pass 13 / 7 = 1.86.

Each fit records ``torch.get_num_threads()`` when its training starts, and a
scorer returns that number from the worker that ran the fit, so the table
shows whether the workers oversubscribe the cores (2 workers x 2 threads on
a 2-core machine). Contenders, interleaved over rounds:

- ``n_jobs=1``: the main process with torch's default thread count;
- ``n_jobs=1, 1 thread/fit``: the same with ``torch.set_num_threads(1)``
  during each fit, to show what intra-op threads buy at this size (and so
  what a worker limited to one thread gives up);
- ``n_jobs=2``: joblib's default loky backend;
- ``dask``: ``joblib.parallel_backend("dask")`` with a Client of a
  ``LocalCluster`` of 2 worker processes of 1 thread each, started once
  before the rounds (the search's ``n_jobs`` left unset: every thread of the
  cluster). Skipped when ``distributed`` is not installed.

"speedup" is the median over rounds of t(n_jobs=1) / t(contender) in the
same round. Then, once and on a shorter grid search (``OVERSUBSCRIBED_EPOCHS``
per fit), ``n_jobs=2`` against ``n_jobs=2, 2 threads/fit``:
``torch.set_num_threads(2)`` inside each fit, i.e. what happens when nothing
limits the threads of the workers. It is run once because it is slow.

Run from the repository root: ``python -m benchmarks.bench_gridsearch [--rounds N]``.
"""

import contextlib
import os
import time

import numpy as np
import torch
from joblib import Parallel, delayed, parallel_backend, parallel_config
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from sk_imgcls import CNNClassifier

from .common import (
    median,
    paired_ratio,
    parse_args,
    print_machine,
    print_table,
    run_interleaved,
    spread,
)

try:
    from distributed import Client, LocalCluster
except ImportError:  # the distributed extra is not installed
    Client = LocalCluster = None

PARAM_GRID = {"lr": [1e-3, 3e-3], "width": [16, 32]}
CV = 3
BATCH_SIZE = 32
# About 2 s per fit on the reference machine when idle.
MAX_EPOCHS = 25
OVERSUBSCRIBED_EPOCHS = 10
ROUNDS = 3
# No new round starts after this many seconds (a loaded machine).
MAX_SECONDS = 100
SEED = 0

COLUMNS = [
    ("contender", "contender"),
    ("n_fits", "fits"),
    ("rounds", "rounds"),
    ("median_s", "median s"),
    ("spread", "spread"),
    ("speedup", "speedup vs n_jobs=1"),
    ("threads_in_fits", "torch threads in fits"),
    ("accuracy", "best CV accuracy"),
]


class TrainingThreads(Callback):
    """Record ``torch.get_num_threads()`` when training starts, in the process that trains.

    Inside training rather than at the start of ``fit``: in a Dask worker,
    ``fit`` sets the worker's share of threads for the training only.
    """

    def initialize(self):
        self.threads = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.threads = torch.get_num_threads()


class ThreadProbeCNN(CNNClassifier):
    """CNNClassifier whose ``fit`` can run with a given torch thread count.

    ``torch_threads``, a class attribute (so that ``get_params`` and
    ``clone`` are unchanged), sets the thread count for the duration of the
    fit when not None; the previous count is restored afterwards. The count
    the training ran with is recorded by a :class:`TrainingThreads`
    callback.
    """

    torch_threads = None

    def fit(self, X, y, sample_weight=None):
        previous = torch.get_num_threads()
        if self.torch_threads is not None:
            torch.set_num_threads(self.torch_threads)
        try:
            return super().fit(X, y, sample_weight)
        finally:
            torch.set_num_threads(previous)


class OneThreadCNN(ThreadProbeCNN):
    torch_threads = 1


class TwoThreadCNN(ThreadProbeCNN):
    torch_threads = 2


def fit_threads(estimator, X, y):
    """Scorer: the torch thread count the fit trained with, in the process that ran it."""
    return dict(estimator.net_.callbacks_)["threads"].threads


def grid_search(estimator_class, n_jobs, X, y, max_epochs=None, backend=None):
    """Fit the grid search; ``max_epochs`` None means ``MAX_EPOCHS``.

    ``backend`` names a joblib backend for the search (``"dask"``); None
    keeps the one in effect.
    """
    estimator = estimator_class(
        batch_size=BATCH_SIZE,
        max_epochs=max_epochs or MAX_EPOCHS,
        random_state=SEED,
        callbacks=[("threads", TrainingThreads())],
    )
    search = GridSearchCV(
        estimator,
        PARAM_GRID,
        cv=CV,
        scoring={"accuracy": "accuracy", "threads": fit_threads},
        refit="accuracy",
        n_jobs=n_jobs,
    )
    with parallel_backend(backend) if backend else contextlib.nullcontext():
        return search.fit(X, y)


# (name, estimator class, n_jobs, joblib backend or None for the default).
CONTENDERS = [
    ("n_jobs=1", ThreadProbeCNN, 1, None),
    ("n_jobs=1, 1 thread/fit", OneThreadCNN, 1, None),
    ("n_jobs=2", ThreadProbeCNN, 2, None),
]
DASK_CONTENDER = ("dask, 2 workers x 1 thread", ThreadProbeCNN, None, "dask")
DASK_WORKERS = 2
OVERSUBSCRIBED = [
    ("n_jobs=2", ThreadProbeCNN, 2),
    ("n_jobs=2, 2 threads/fit", TwoThreadCNN, 2),
]


def _threads_in_fits(search):
    """Distinct ``torch.get_num_threads()`` values seen by the CV fits of a search."""
    results = search.cv_results_
    threads = {
        int(t)
        for key in results
        if key.startswith("split") and key.endswith("_test_threads")
        for t in results[key]
    }
    return ", ".join(map(str, sorted(threads)))


def _matmul_seconds(n_products=300, size=512):
    """Seconds for ``n_products`` float32 matrix products on one torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.randn(size, size)
        a @ a
        start = time.perf_counter()
        for _ in range(n_products):
            a @ a
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)


def machine_contention(rounds=3):
    """Slowdown of one-thread matrix products when both workers run them at once.

    Pure compute, no sk_imgcls: how much the machine's cores slow each other
    down, the ceiling that no thread setting lifts. Returns the median over
    rounds of mean(t in parallel) / t alone - 1.
    """
    slowdowns = []
    for _ in range(rounds):
        alone = _matmul_seconds()
        together = Parallel(n_jobs=2)(delayed(_matmul_seconds)() for _ in range(2))
        slowdowns.append(float(np.mean(together)) / alone - 1)
    return median(slowdowns)


@contextlib.contextmanager
def dask_client(n_workers):
    """The default Client, of a LocalCluster of ``n_workers`` processes of 1 thread.

    None when ``distributed`` is not installed. The nanny writes its
    ``OMP_NUM_THREADS=1`` (and more) into this process's environment for the
    worker processes to inherit; the environment is given back at once, so
    that loky workers started later see the one they would have seen.
    """
    if LocalCluster is None:
        yield None
        return
    environ = dict(os.environ)
    with LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        os.environ.clear()
        os.environ.update(environ)
        with Client(cluster) as client:
            yield client


def main(rounds=None):
    """Time the grid searches; print the tables and return their rows."""
    rounds = rounds or ROUNDS
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8)
    searches = {}

    def contender(label, cls, n_jobs, max_epochs=None, backend=None):
        def run():
            searches[label] = grid_search(cls, n_jobs, X, y, max_epochs, backend)

        return run

    def warmups(contenders):
        return {
            name: (
                lambda cls=cls, n_jobs=n_jobs, backend=backend: grid_search(
                    cls, n_jobs, X, y, max_epochs=1, backend=backend
                )
            )
            for name, cls, n_jobs, backend in contenders
        }

    # The loky workers must survive the n_jobs=1 rounds (idle for minutes on
    # a loaded machine; joblib's default idle timeout is 300 s), or their
    # start-up would land in one of the timed n_jobs=2 runs.
    with parallel_config(backend="loky", idle_worker_timeout=3600), dask_client(
        DASK_WORKERS
    ) as client:
        contenders = CONTENDERS + ([DASK_CONTENDER] if client is not None else [])
        # A 1-epoch search starts the workers (importing torch there takes
        # seconds); timed once as the cold-start cost.
        start = time.perf_counter()
        grid_search(ThreadProbeCNN, 2, X, y, max_epochs=1)
        cold_start = time.perf_counter() - start
        if client is not None:
            start = time.perf_counter()
            grid_search(ThreadProbeCNN, None, X, y, max_epochs=1, backend="dask")
            dask_cold_start = time.perf_counter() - start
        times = run_interleaved(
            [
                (name, contender(name, cls, n_jobs, backend=backend))
                for name, cls, n_jobs, backend in contenders
            ],
            rounds=rounds,
            warmup=warmups(contenders),
            max_seconds=MAX_SECONDS,
        )
        matmul_contention = machine_contention()
        over_times = run_interleaved(
            [
                (name, contender(f"over {name}", cls, n_jobs, OVERSUBSCRIBED_EPOCHS))
                for name, cls, n_jobs in OVERSUBSCRIBED
            ],
            rounds=1,
            warmup=False,
        )
    n_fits = int(np.prod([len(v) for v in PARAM_GRID.values()])) * CV + 1
    rows = []
    for name, _, n_jobs, _ in contenders:
        rows.append(
            {
                "benchmark": "gridsearch",
                "contender": name,
                "n_jobs": n_jobs,
                "max_epochs": MAX_EPOCHS,
                "n_fits": n_fits,
                "rounds": len(times[name]),
                "median_s": median(times[name]),
                "spread": spread(times[name]),
                "speedup": paired_ratio(times, "n_jobs=1", name),
                "threads_in_fits": _threads_in_fits(searches[name]),
                "accuracy": searches[name].best_score_,
            }
        )
    over_rows = [
        {
            "benchmark": "gridsearch-oversubscribed",
            "contender": name,
            "n_jobs": n_jobs,
            "max_epochs": OVERSUBSCRIBED_EPOCHS,
            "n_fits": n_fits,
            "rounds": 1,
            "median_s": over_times[name][0],
            "speedup": over_times["n_jobs=2"][0] / over_times[name][0],
            "threads_in_fits": _threads_in_fits(searches[f"over {name}"]),
            "accuracy": searches[f"over {name}"].best_score_,
        }
        for name, _, n_jobs in OVERSUBSCRIBED
    ]
    # Fit times per thread count, from the n_jobs=1 rows: what 2 workers of 1
    # thread each can reach against 1 process with 2 threads, refit included.
    t_two = median(times["n_jobs=1"]) / n_fits
    t_one = median(times["n_jobs=1, 1 thread/fit"]) / n_fits
    bound = n_fits * t_two / (np.ceil((n_fits - 1) / 2) * t_one + t_two)
    # What a CV fit took in a worker while the other worker was busy too:
    # the parallel time less the refit, over the rounds of 2 fits.
    t_busy = (median(times["n_jobs=2"]) - t_two) / np.ceil((n_fits - 1) / 2)
    print_table(
        rows,
        COLUMNS,
        title=(
            f"GridSearchCV: CNNClassifier on digits 8x8, grid {PARAM_GRID}, cv={CV}, "
            f"max_epochs={MAX_EPOCHS}, batch_size={BATCH_SIZE}, up to {rounds} interleaved rounds"
        ),
        notes=[
            f"Main process: {torch.get_num_threads()} torch threads. Fits = {n_fits - 1} CV fits "
            f"+ 1 refit in the main process. Target for n_jobs=2 >= 1.7. With this run's fit times "
            f"({t_two:.2f} s with {torch.get_num_threads()} threads, {t_one:.2f} s with 1), "
            f"2 one-thread workers plus the refit can reach at most {bound:.2f}.",
            f"Contention: a CV fit in a worker took {t_busy:.2f} s while the other worker was "
            f"busy, {100 * (t_busy / t_one - 1):.0f}% longer than a one-thread fit alone "
            f"({t_one:.2f} s): the two cores slow each other down (shared caches, memory "
            "bandwidth, the hypervisor), which no thread setting removes. The same probe on "
            f"pure compute (one-thread 512x512 float32 matrix products in both workers at once "
            f"vs alone): {100 * matmul_contention:.0f}% slower.",
            f"Cold start: the first n_jobs=2 search (1 epoch per fit) took {cold_start:.1f} s, "
            "mostly starting the worker processes; later searches reuse them.",
            "torch threads in fits: torch.get_num_threads() when each CV fit's training starts, "
            "reported by the process that ran it (loky workers get OMP_NUM_THREADS=cpu_count // "
            "n_jobs from joblib, which torch reads at import; in a Dask worker, fit sets the "
            "worker's threads over the tasks it runs).",
            (
                f"Dask: a LocalCluster of {DASK_WORKERS} worker processes x 1 thread, started "
                f"once; its first search (1 epoch per fit, importing torch in the workers) took "
                f"{dask_cold_start:.1f} s. The refit runs in the main process, as with loky."
                if client is not None
                else "Dask: skipped, distributed is not installed (pip install "
                '"sk-imgcls[distributed]").'
            ),
        ],
    )
    print_table(
        over_rows,
        [
            (key, "speed vs n_jobs=2" if key == "speedup" else title)
            for key, title in COLUMNS
            if key != "spread"
        ],
        title=(
            f"GridSearchCV oversubscribed: n_jobs=2 with 2 torch threads per fit, "
            f"max_epochs={OVERSUBSCRIBED_EPOCHS}, 1 round"
        ),
        notes=["speed vs n_jobs=2: t(n_jobs=2) / t(contender) in the same run."],
    )
    return rows + over_rows


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    print_machine()
    main(args.rounds)
