"""Data-parallel fits over torch.distributed: two CPU processes with gloo."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sk_imgcls import CNNClassifier, PretrainedFeatures

SCRIPT = Path(__file__).with_name("distributed_script.py")
# Longest a 2-process run may take before the test fails (instead of CI hanging).
TIMEOUT = 240


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(SCRIPT.parent.parent)}
    env.update(extra)
    return env


def torchrun(mode, out_dir, *args):
    """Run the script in 2 processes under torchrun; its CompletedProcess."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        f"--master_port={_free_port()}", str(SCRIPT), mode, str(out_dir), *map(str, args),
    ]
    return subprocess.run(
        command, env=_env(), capture_output=True, text=True, timeout=TIMEOUT
    )


def launch_by_hand(mode, out_dir):
    """Start the 2 processes with the launcher's variables but no launcher.

    torchrun ends every process when one fails; without it, what ends a
    process whose peer failed is this package's (and torch.distributed's)
    own handling. Returns the two Popen objects, rank 0 first.
    """
    port = str(_free_port())
    return [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), mode, str(out_dir)],
            env=_env(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                     MASTER_ADDR="127.0.0.1", MASTER_PORT=port),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for rank in (0, 1)
    ]


@pytest.fixture(scope="module")
def two_rank_fit(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    result = torchrun("fit", out, 32)
    assert result.returncode == 0, result.stderr[-3000:]
    return [dict(np.load(out / f"rank{rank}.npz")) for rank in (0, 1)], result


@pytest.mark.slow
def test_two_processes_end_with_the_same_weights(two_rank_fit):
    """Check that both ranks of a torchrun fit end with identical weights, losses and scores."""
    (rank0, rank1), _ = two_rank_fit
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        np.testing.assert_array_equal(rank0[name], rank1[name], err_msg=name)


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(two_rank_fit):
    """Check that 2 ranks x batch 32 score within 0.01 of one process with batch 64 on digits."""
    (rank0, _), _ = two_rank_fit
    digits = load_digits()
    X = (digits.images * 16).clip(0, 255).astype(np.uint8)
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, stratify=digits.target, random_state=0
    )
    single = CNNClassifier(batch_size=64, max_epochs=8, early_stopping=True, random_state=0)
    single.fit(X_train, y_train)
    assert single.distributed == "auto"
    assert abs(single.score(X_test, y_test) - float(rank0["accuracy"])) <= 0.01
    assert float(rank0["accuracy"]) >= 0.95


@pytest.mark.slow
def test_only_rank_zero_prints(two_rank_fit):
    """Check that the per-epoch lines of verbose=2 come from one process only."""
    _, result = two_rank_fit
    lines = [line for line in result.stdout.splitlines() if "train_loss" in line]
    assert 1 <= len(lines) <= 8, result.stdout


@pytest.mark.slow
def test_ranks_with_different_data_fail_before_training(tmp_path):
    """Check that ranks given different X raise a ValueError naming each rank's data."""
    result = torchrun("mismatch", tmp_path)
    assert result.returncode != 0
    assert "must all call fit with the same X and y" in result.stderr
    assert "rank 0: n_samples=1347" in result.stderr
    assert "rank 1: n_samples=1346" in result.stderr


def _wait(processes, timeout):
    try:
        return [p.communicate(timeout=timeout) for p in processes]
    finally:
        for p in processes:
            p.kill()


@pytest.mark.slow
def test_a_rank_that_fails_mid_epoch_ends_the_other(tmp_path):
    """Check that when rank 1 raises in epoch 2, rank 0 raises too instead of waiting forever."""
    processes = launch_by_hand("raise", tmp_path)
    (_, err0), (_, err1) = _wait(processes, TIMEOUT)
    assert "rank 1 fails in epoch 2" in err1
    assert processes[0].returncode != 0, err0
    # gloo reports the lost peer in words that depend on the operation in flight.
    assert re.search(r"Connection (closed|reset) by peer|Broken pipe|pair closure", err0), err0
    assert not (tmp_path / "rank0.npz").exists()


@pytest.mark.slow
def test_a_rank_that_stops_answering_ends_the_other_by_timeout(tmp_path):
    """Check that rank 0 raises within the group's timeout when rank 1 hangs alive."""
    processes = launch_by_hand("hang", tmp_path)
    try:
        _, err0 = processes[0].communicate(timeout=TIMEOUT)
    finally:
        for p in processes:
            p.kill()
    assert processes[0].returncode != 0
    # gloo's words depend on the operation in flight: "Timed out waiting
    # ... for recv operation" or "Application timeout caused pair closure".
    assert re.search(r"Timed out|timeout", err0, re.IGNORECASE), err0
    assert not (tmp_path / "rank0.npz").exists()


@pytest.mark.slow
def test_transfer_linear_probe_embeds_shares_and_ends_with_the_same_head(tmp_path):
    """Check that 2 ranks of TransferClassifier's cached linear probe end with the same head."""
    result = torchrun("transfer", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (dict(np.load(tmp_path / f"rank{rank}.npz")) for rank in (0, 1))
    assert rank0.keys() == rank1.keys() == {"proba", "1.weight", "1.bias"}
    for name in rank0:
        np.testing.assert_array_equal(rank0[name], rank1[name], err_msg=name)


@pytest.mark.slow
def test_pretrained_features_share_transform_among_ranks(tmp_path):
    """Check that 2 ranks each embed half the images and both return all, as one process does."""
    result = torchrun("features", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (np.load(tmp_path / f"rank{rank}.npz")["features"] for rank in (0, 1))
    np.testing.assert_array_equal(rank0, rank1)
    digits = load_digits()
    X = (digits.images * 16).clip(0, 255).astype(np.uint8)
    _, X_test = train_test_split(X, stratify=digits.target, random_state=0)
    single = PretrainedFeatures("resnet18", weights=None, image_size=32, random_state=0)
    np.testing.assert_allclose(single.fit(X_test).transform(X_test), rank0, rtol=0, atol=1e-5)


@pytest.mark.parametrize("estimator", [CNNClassifier, PretrainedFeatures])
def test_distributed_true_without_a_launcher_is_an_error(estimator, monkeypatch):
    """Check that distributed=True outside torchrun names the missing variables and the fix."""
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    X = np.zeros((4, 8, 8), dtype=np.uint8)
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"not started by a launcher.*RANK.*torchrun"):
        if estimator is CNNClassifier:
            CNNClassifier(distributed=True, max_epochs=1).fit(X, y)
        else:
            est = PretrainedFeatures("resnet18", weights=None, image_size=8, distributed=True)
            est.fit(X).transform(X)


def test_failed_distributed_fit_leaves_the_estimator_unfitted(monkeypatch):
    """Check that a refused distributed fit leaves no fitted attribute behind."""
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    clf = CNNClassifier(distributed=True, max_epochs=1)
    with pytest.raises(ValueError):
        clf.fit(np.zeros((4, 8, 8), dtype=np.uint8), np.array([0, 1, 0, 1]))
    assert not hasattr(clf, "classes_")
