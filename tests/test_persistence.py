"""Tests of the pickle-free model file (sk_imgcls._persistence)."""

import hashlib
import json
import os
import pickle
import sys
import zipfile

import numpy as np
import pytest
import torch

from sk_imgcls import CNNClassifier, PretrainedFeatures, TransferClassifier
from sk_imgcls._persistence import load, save


@pytest.fixture(scope="module")
def cnn(digits_images):
    X, y = digits_images
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    return CNNClassifier(width=8, max_epochs=1, random_state=0).fit(X[:300], names[y[:300]])


@pytest.fixture()
def saved(cnn, tmp_path):
    path = tmp_path / "model.skimgcls"
    save(cnn, path)
    return path


def _rewrite(path, member, content):
    """Replace one member of a model file, keeping the zip valid (CRCs recomputed)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members[member] = content
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _without(path, *, fitted=(), params=()):
    """Make a model file as an older sk_imgcls wrote it: without some fitted attributes and params."""
    with zipfile.ZipFile(path) as archive:
        metadata = json.loads(archive.read("metadata.json"))
        manifest = json.loads(archive.read("manifest.json"))
    for name in fitted:
        del metadata["fitted"][name]
    for name in params:
        del metadata["params"][name]
    content = json.dumps(metadata).encode()
    manifest["sha256"]["metadata.json"] = hashlib.sha256(content).hexdigest()
    _rewrite(path, "metadata.json", content)
    _rewrite(path, "manifest.json", json.dumps(manifest).encode())


def test_cnn_round_trip_gives_identical_proba(cnn, saved, digits_images):
    """Check that a loaded CNNClassifier has the same params, labels and probabilities, and trains on."""
    X, y = digits_images
    loaded = load(saved)
    assert loaded.get_params() == cnn.get_params()
    assert np.array_equal(loaded.predict_proba(X[300:400]), cnn.predict_proba(X[300:400]))
    assert loaded.predict(X[:3]).tolist() == cnn.predict(X[:3]).tolist()
    assert loaded.n_iter_ == 1 and len(loaded.history_) == 1
    assert loaded.max_epochs_ == cnn.max_epochs_
    names = cnn.classes_
    loaded.set_params(warm_start=True).fit(X[300:400], np.sort(names)[y[300:400] % len(names)])
    assert loaded.n_iter_ == 2


def test_a_file_without_max_epochs_still_loads_and_trains_on(cnn, saved, digits_images):
    """Check that a file written before max_epochs_ existed takes max_epochs_ from max_epochs."""
    _without(saved, fitted=["max_epochs_"])
    loaded = load(saved)
    assert loaded.max_epochs_ == cnn.max_epochs
    X, y = digits_images
    loaded.set_params(warm_start=True).fit(X[:100], np.sort(cnn.classes_)[y[:100] % 10])
    assert loaded.n_iter_ == 1 + cnn.max_epochs


def test_head_round_trips_and_files_without_it_load_with_average_pooling(tmp_path, digits_images):
    """Check that head_ is in the file, and that a file written before it loads as "avg"."""
    X, y = digits_images
    for head in ("flatten", "avg"):
        clf = CNNClassifier(width=4, max_epochs=1, head=head, random_state=0).fit(X[:100], y[:100])
        save(clf, tmp_path / head)
        loaded = load(tmp_path / head)
        assert loaded.head_ == head
        assert np.array_equal(loaded.predict_proba(X[100:150]), clf.predict_proba(X[100:150]))
    path = tmp_path / "avg"
    _without(path, fitted=["head_"], params=["head"])
    old = load(path)
    assert old.head_ == "avg" and old.head == "avg"
    assert np.array_equal(old.predict_proba(X[100:150]), clf.predict_proba(X[100:150]))


def test_transfer_and_features_round_trip(tmp_path):
    """Check identical predict_proba and transform after a round trip through the file."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (8, 40, 36, 3), dtype=np.uint8)
    y = np.array([0, 1] * 4)
    clf = TransferClassifier("resnet18", weights=None, image_size=32, max_epochs=1, random_state=0)
    clf.fit(X, y)
    save(clf, tmp_path / "t")
    assert np.array_equal(load(tmp_path / "t").predict_proba(X), clf.predict_proba(X))
    features = PretrainedFeatures("resnet18", weights=None, image_size=32, random_state=0).fit(X)
    save(features, tmp_path / "f")
    assert np.array_equal(load(tmp_path / "f").transform(X), features.transform(X))


class _Payload:
    """Unpickling this would create the file ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_refuses_code_in_pickles(saved, tmp_path):
    """Check that a pickle, alone or as the weights of a valid archive, is refused without running it."""
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(str(marker)))
    evil = tmp_path / "evil.skimgcls"
    evil.write_bytes(payload)
    with pytest.raises(ValueError, match="not a sk_imgcls model file"):
        load(evil)
    with zipfile.ZipFile(saved) as archive:
        manifest = json.loads(archive.read("manifest.json"))

    manifest["sha256"]["weights.safetensors"] = hashlib.sha256(payload).hexdigest()
    _rewrite(saved, "weights.safetensors", payload)
    _rewrite(saved, "manifest.json", json.dumps(manifest).encode())
    with pytest.raises(ValueError, match="weights cannot be read"):
        load(saved)
    assert not marker.exists()


def test_tampered_file_fails_its_checksum(saved):
    """Check that a file modified after saving is refused by the checksum."""
    with zipfile.ZipFile(saved) as archive:
        metadata = json.loads(archive.read("metadata.json"))
    metadata["params"]["lr"] = 1.0
    _rewrite(saved, "metadata.json", json.dumps(metadata).encode())
    with pytest.raises(ValueError, match="checksum of metadata.json"):
        load(saved)


def test_truncated_wrong_format_and_directory(saved, tmp_path):
    """Check clear errors for a truncated file, another format and a directory."""
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        load(saved)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a sk_imgcls model file"):
        load(text)
    with pytest.raises(IsADirectoryError, match="directory"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing")


@pytest.mark.parametrize(
    "field, value, message",
    [("sk_imgcls_version", "7.0.0", "another major version"), ("format_version", 99, "format version 99")],
)
def test_other_versions_are_refused(saved, field, value, message):
    """Check that a file of another major version or format version is refused."""
    with zipfile.ZipFile(saved) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    manifest[field] = value
    _rewrite(saved, "manifest.json", json.dumps(manifest).encode())
    with pytest.raises(ValueError, match=message):
        load(saved)


def test_unsupported_parameters_are_named(cnn, tmp_path):
    """Check that a callable augment or callbacks cannot be saved, and the message names them."""
    from skorch.callbacks import EpochTimer

    clf = CNNClassifier().set_params(augment=lambda image: image)
    for name in ("classes_", "image_shape_", "preprocess_", "module_", "net_", "n_iter_", "history_"):
        setattr(clf, name, getattr(cnn, name))
    with pytest.raises(ValueError, match="Parameter 'augment'"):
        save(clf, tmp_path / "m")
    clf.set_params(augment=None, callbacks=[EpochTimer()])
    with pytest.raises(ValueError, match="callbacks"):
        save(clf, tmp_path / "m")


def test_missing_backbone_package_is_named(tmp_path, monkeypatch):
    """Check that loading a timm backbone without timm installed names the package."""
    pytest.importorskip("timm")
    X = np.random.default_rng(0).integers(0, 256, (4, 36, 36, 3), dtype=np.uint8)
    features = PretrainedFeatures("timm/resnet18", weights=None, image_size=32).fit(X)
    save(features, tmp_path / "f")
    monkeypatch.setitem(sys.modules, "timm", None)  # as if timm were not installed
    with pytest.raises(ImportError, match="install timm"):
        load(tmp_path / "f")


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the fallback of a machine without GPU")
def test_cuda_model_loads_on_cpu(cnn, tmp_path, digits_images):
    """Check that a model whose device is "cuda" loads on a machine without GPU, on the CPU.

    The weights are always written from CPU copies; a GPU-trained network cannot be
    made here, so the test covers the device parameter only.
    """
    X, _ = digits_images
    path = tmp_path / "m"
    save(cnn, path)
    with zipfile.ZipFile(path) as archive:
        assert "cuda" not in archive.read("weights.safetensors")[:2000].decode("latin-1")
    cnn_params = cnn.get_params()
    cnn.set_params(device="cuda")
    try:
        save(cnn, path)
    finally:
        cnn.set_params(device=cnn_params["device"])
    with pytest.warns(UserWarning, match="no GPU"):
        loaded = load(path)
    assert loaded.device == "cpu"
    assert np.array_equal(loaded.predict_proba(X[:10]), cnn.predict_proba(X[:10]))


def test_unfitted_and_unsupported_estimators(tmp_path):
    """Check that save refuses an unfitted estimator and a Pipeline."""
    from sklearn.exceptions import NotFittedError
    from sklearn.pipeline import make_pipeline

    with pytest.raises(NotFittedError):
        save(CNNClassifier(), tmp_path / "m")
    with pytest.raises(TypeError, match="Pipeline"):
        save(make_pipeline(CNNClassifier()), tmp_path / "m")
    assert not os.path.exists(tmp_path / "m")
