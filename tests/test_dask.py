"""Hyperparameter search on a Dask cluster: ``joblib.parallel_backend("dask")``.

The clusters are ``LocalCluster``s on this machine, shared by the tests of
the module (worker processes take seconds to start and to import torch). A
search on Dask is checked against the same search with ``n_jobs=1``: the
test process trains with one torch thread (the root conftest.py), as the
one-thread workers do, so the models are the same bit for bit.
"""

import contextlib
import os
import subprocess
import sys
import threading
import time

import joblib
import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.model_selection import GridSearchCV, cross_validate
from skorch.callbacks import Callback

from sk_imgcls import CNNClassifier, TransferClassifier
from sk_imgcls._threads import worker_threads

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

# A hung search fails its test after this many seconds instead of blocking CI.
SEARCH_TIMEOUT = 120
# A search whose worker dies fails within seconds (6 s on a loaded 2-core
# machine); joblib 1.6 alone would hang (see sk_imgcls/_joblib_dask.py).
DEATH_TIMEOUT = 30
# torch's default thread count in the workers of the shared cluster: more
# than their one thread, like a worker started without the nanny's
# OMP_NUM_THREADS=1 on a machine with more cores than the worker has threads.
WORKER_DEFAULT_THREADS = 2


@contextlib.contextmanager
def _environ_restored():
    """Give ``os.environ`` back as it was after the block.

    A nanny writes its ``pre-spawn-environ`` (``OMP_NUM_THREADS=1``, ...)
    into the environment of the process that starts it, so that the worker
    processes inherit it: the pytest process would keep them, and so would
    every process later tests start.
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _local_cluster(**kwargs):
    """A ``LocalCluster`` and a Client of it that is not the default client.

    Tests make the client current only where they search, so a test without
    a client does not find this one.
    """
    # The scheduler serves HTTP (health checks) even without a dashboard, by
    # default on port 8787: a free port instead, for clusters running side
    # by side (pytest-xdist, a developer's own cluster).
    with _environ_restored(), distributed.LocalCluster(
        dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"}, **kwargs
    ) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="module")
def process_client():
    """A Client of 2 worker processes of 1 thread each."""
    with _local_cluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        # torch reads both, MKL_NUM_THREADS last.
        env={
            "OMP_NUM_THREADS": str(WORKER_DEFAULT_THREADS),
            "MKL_NUM_THREADS": str(WORKER_DEFAULT_THREADS),
        },
    ) as client:
        yield client


@pytest.fixture(scope="module")
def thread_client():
    """A Client of 1 worker of 2 threads inside the pytest process."""
    with _local_cluster(n_workers=1, threads_per_worker=2, processes=False) as client:
        yield client


def _on_dask(client, fn, timeout=SEARCH_TIMEOUT):
    """``fn()`` under ``parallel_backend("dask")`` with ``client``, in a thread.

    A hang fails the test after ``timeout`` seconds (the thread is left
    behind: nothing can stop it); an exception of ``fn`` is raised here.
    """
    outcome = {}

    def run():
        try:
            with client.as_current(), joblib.parallel_backend("dask"):
                outcome["result"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"the search on Dask did not finish within {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


class _ThreadProbe(Callback):
    """Record torch's intra-op thread count and the process id when training starts."""

    def initialize(self):
        self.threads = self.pid = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.threads = torch.get_num_threads()
        self.pid = os.getpid()


def _fit_threads(estimator, X, y):
    """Scorer: the torch thread count the fit trained with."""
    return dict(estimator.net_.callbacks_)["probe"].threads


def _fit_pid(estimator, X, y):
    """Scorer: the id of the process that ran the fit."""
    return dict(estimator.net_.callbacks_)["probe"].pid


class _ExitInWorker(Callback):
    """End the process that trains at the end of the first epoch, as a crash would.

    Never in the test process itself (``test_pid``): a fit that ran there
    by mistake fails its test instead of ending pytest.
    """

    def __init__(self, test_pid):
        self.test_pid = test_pid

    def on_epoch_end(self, net, **kwargs):
        if os.getpid() != self.test_pid:
            os._exit(1)


def _png_folders(root, n_per_class=8, seed=0):
    """Class folders of 8x8 PNG files (dark and bright images); their paths and labels."""
    rng = np.random.RandomState(seed)
    paths, labels = [], []
    for label, level in [("dark", 60), ("bright", 190)]:
        (root / label).mkdir()
        for i in range(n_per_class):
            pixels = np.clip(rng.normal(level, 40, size=(8, 8, 3)), 0, 255).astype(np.uint8)
            path = root / label / f"{i}.png"
            Image.fromarray(pixels).save(path)
            paths.append(str(path))
            labels.append(label)
    return np.array(paths), np.array(labels)


def _digits_cnn(digits_images, tmp_path):
    X, y = digits_images[0][:600], digits_images[1][:600]
    estimator = CNNClassifier(width=8, max_epochs=2, random_state=0)
    return estimator, {"lr": [1e-3, 3e-3]}, 3, X, y


def _paths_cnn(digits_images, tmp_path):
    X, y = _png_folders(tmp_path)
    return CNNClassifier(width=4, max_epochs=2, random_state=0), {"lr": [1e-3, 1e-2]}, 2, X, y


def _paths_transfer(digits_images, tmp_path):
    X, y = _png_folders(tmp_path)
    estimator = TransferClassifier(
        backbone="timm/test_efficientnet",
        weights=None,
        image_size=16,
        max_epochs=2,
        augment=None,
        tta=None,
        random_state=0,
    )
    return estimator, {"lr": [1e-3, 5e-2]}, 2, X, y


@pytest.mark.parametrize(
    "search_case",
    [_digits_cnn, _paths_cnn, _paths_transfer],
    ids=["cnn-digits-arrays", "cnn-png-paths", "transfer-png-paths"],
)
def test_dask_search_gives_the_serial_search_results(
    process_client, digits_images, tmp_path, search_case
):
    """Check that GridSearchCV on Dask workers scores every split as n_jobs=1 does, bit for bit."""
    estimator, grid, cv, X, y = search_case(digits_images, tmp_path)
    serial = GridSearchCV(estimator, grid, cv=cv, n_jobs=1).fit(X, y)
    on_dask = _on_dask(process_client, lambda: GridSearchCV(estimator, grid, cv=cv).fit(X, y))
    assert on_dask.best_params_ == serial.best_params_
    scores = ["mean_test_score"] + [f"split{i}_test_score" for i in range(cv)]
    for key in scores:
        np.testing.assert_array_equal(
            on_dask.cv_results_[key], serial.cv_results_[key], err_msg=key
        )
    np.testing.assert_array_equal(on_dask.predict(X), serial.predict(X))


def test_fits_on_dask_train_with_the_worker_threads(process_client, digits_images):
    """Check that each fit trains with its worker's one thread and the client keeps its count."""
    X, y = digits_images[0][:300], digits_images[1][:300]
    estimator = CNNClassifier(
        width=4, max_epochs=1, random_state=0, callbacks=[("probe", _ThreadProbe())]
    )
    search = GridSearchCV(
        estimator,
        {"lr": [1e-3, 1e-2]},
        cv=2,
        scoring={"accuracy": "accuracy", "threads": _fit_threads, "pid": _fit_pid},
        refit=False,
    )
    workers = process_client.run(os.getpid)
    # The worker processes default to more threads than they have: the
    # count in the fits comes from worker_threads, not from the environment.
    assert set(process_client.run(torch.get_num_threads).values()) == {WORKER_DEFAULT_THREADS}
    before = torch.get_num_threads()

    results = _on_dask(process_client, lambda: search.fit(X, y)).cv_results_

    assert torch.get_num_threads() == before
    splits = [f"split{i}_test_" for i in range(2)]
    assert {int(t) for s in splits for t in results[s + "threads"]} == {1}
    assert {int(p) for s in splits for p in results[s + "pid"]} <= set(workers.values())


def test_estimators_fitted_on_dask_come_back_fitted(process_client, digits_images):
    """Check that estimators fitted in workers come back by pickling and predict as local fits."""
    X, y = digits_images[0][:300], digits_images[1][:300]
    estimator = CNNClassifier(width=4, max_epochs=2, random_state=0)
    local = estimator.fit(X, y).predict_proba(X)
    everything = [(np.arange(len(y)), np.arange(len(y)))] * 2
    returned = _on_dask(
        process_client,
        lambda: cross_validate(estimator, X, y, cv=everything, return_estimator=True),
    )["estimator"]
    assert len(returned) == 2
    for fitted in returned:
        np.testing.assert_array_equal(fitted.predict_proba(X), local)


# The tasks of the thread-based cluster run in this process: they meet here.
_IN_BLOCK = threading.Barrier(2)


def _threads_in_block(n_tasks):
    """Torch thread counts of a task: before, inside and after a ``worker_threads`` block.

    The task sets its own count of 3 first (the caller's setting the block
    must give back) and waits until ``n_tasks`` tasks run on its worker.
    With 2 tasks, each stays in its block until the other has entered, so
    both shares are taken while both tasks run.
    """
    worker = distributed.get_worker()
    original = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        deadline = time.monotonic() + 30
        while worker.state.executing_count < n_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        with worker_threads():
            inside = torch.get_num_threads()
            if n_tasks == 2:
                _IN_BLOCK.wait(timeout=30)
        return 3, inside, torch.get_num_threads()
    finally:
        torch.set_num_threads(original)


def test_worker_threads_gives_a_lone_task_all_worker_threads(thread_client):
    """Check that a lone task on a worker of 2 threads computes with 2, then gets its count back."""
    future = thread_client.submit(_threads_in_block, 1, pure=False)
    assert future.result(timeout=SEARCH_TIMEOUT) == (3, 2, 3)


def test_worker_threads_splits_worker_threads_between_running_tasks(thread_client):
    """Check that 2 tasks at once on a worker of 2 threads get 1 each, then their own count back."""
    futures = [thread_client.submit(_threads_in_block, 2, pure=False) for _ in range(2)]
    assert thread_client.gather(futures) == [(3, 1, 3), (3, 1, 3)]


def test_fit_and_predict_without_dask_do_not_import_distributed():
    """Check that fit and predict in a process without Dask leave ``distributed`` unimported."""
    code = (
        "import sys, numpy as np\n"
        "from sk_imgcls import CNNClassifier\n"
        "X = np.random.RandomState(0).rand(8, 8, 8); y = np.arange(8) % 2\n"
        "CNNClassifier(width=4, max_epochs=1).fit(X, y).predict(X[:1])\n"
        "print('distributed' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == "False"


def test_dask_backend_without_a_client_raises(digits_images):
    """Check that a Dask backend with no Client fails at once, saying to create one."""
    X, y = digits_images[0][:50], digits_images[1][:50]
    search = GridSearchCV(CNNClassifier(max_epochs=1), {"lr": [1e-3, 1e-2]}, cv=2)
    with pytest.raises(ValueError, match="first create a Dask Client"):
        with joblib.parallel_backend("dask"):
            search.fit(X, y)


@pytest.mark.slow
def test_search_fails_when_a_worker_dies(digits_images):
    """Check that a fit that kills its worker fails the search with KilledWorker, not a hang."""
    X, y = digits_images[0][:100], digits_images[1][:100]
    estimator = CNNClassifier(
        width=4, max_epochs=2, callbacks=[("exit", _ExitInWorker(os.getpid()))]
    )
    search = GridSearchCV(estimator, {"lr": [1e-3, 1e-2]}, cv=2)
    # No retries on other workers: the first death fails the task.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        # Two threads: with one in all, joblib would run the search in this process.
        with _local_cluster(n_workers=1, threads_per_worker=2, processes=True) as client:
            with pytest.raises(distributed.KilledWorker, match="died while running"):
                _on_dask(client, lambda: search.fit(X, y), timeout=DEATH_TIMEOUT)


@pytest.mark.parametrize(
    "version, affected",
    [("1.5.3", True), ("1.6.0", True), ("1.6.1.dev0", True), ("1.7.0", False), ("2.0", False)],
)
def test_the_joblib_fix_applies_to_the_affected_releases_only(version, affected):
    """Check that the Dask backend fix is used with joblib <= 1.6 and not after."""
    from sk_imgcls._joblib_dask import _affected

    assert _affected(version) is affected


def test_parallel_backend_dask_uses_the_fixed_backend():
    """Check that joblib's "dask" backend is the subclass that reports failed tasks."""
    from joblib._dask import DaskDistributedBackend
    from joblib.parallel import BACKENDS, EXTERNAL_BACKENDS

    if "dask" not in BACKENDS:
        EXTERNAL_BACKENDS["dask"]()
    assert issubclass(BACKENDS["dask"], DaskDistributedBackend)
    assert BACKENDS["dask"] is not DaskDistributedBackend
