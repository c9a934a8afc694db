"""Guards for the speed work that time nothing: they check how fit computes.

Speed itself is measured in ``benchmarks/``, never here.
"""

import os
import warnings

import numpy as np
import pytest
import torch
from joblib import Parallel, delayed
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback
from skorch.dataset import Dataset

from sk_imgcls import CNNClassifier, PretrainedFeatures, _device
from sk_imgcls._input import ImageData


def _data(n=72, seed=0):
    rng = np.random.RandomState(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 8, 8)).astype(np.float32) + 2.0 * y[:, None, None]
    return X, y


def _small(**params):
    return CNNClassifier(**{"width": 4, "max_epochs": 2, "batch_size": 16, "random_state": 0, **params})


class _ThreadProbe(Callback):
    """Record torch's intra-op thread count when training starts."""

    def initialize(self):
        self.threads = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.threads = torch.get_num_threads()


def _threads_seen_by_fit(X, y):
    clf = _small(max_epochs=1, callbacks=[("probe", _ThreadProbe())]).fit(X, y)
    return dict(clf.net_.callbacks_)["probe"].threads


@pytest.mark.parametrize("sample_weight", [None, "varied"])
def test_in_memory_training_never_indexes_single_samples(monkeypatch, sample_weight):
    """Check that fit and predict gather whole batches, with no per-sample __getitem__."""
    # Spies on the per-sample entry points of our dataset and of skorch's: the
    # DataLoader must go through ImageData.__getitems__ (one gather per batch).
    calls = []
    for cls in (ImageData, Dataset):
        getitem = cls.__getitem__

        def counting_getitem(self, i, getitem=getitem):
            calls.append(i)
            return getitem(self, i)

        monkeypatch.setattr(cls, "__getitem__", counting_getitem)
    X, y = _data()
    weights = None if sample_weight is None else np.linspace(0.5, 2.0, len(y))
    clf = _small(early_stopping=True, validation_fraction=0.25, tta="flip")
    clf.fit(X, y, sample_weight=weights)
    clf.predict_proba(X)
    assert calls == []
    # The guard can fail: indexing one sample goes through the spy.
    Dataset(X, y)[0]
    assert len(calls) == 1


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_cpu_training_uses_the_fused_optimizer_step(optimizer):
    """Check that the optimizer updates all parameters in one fused kernel on the CPU."""
    X, y = _data()
    clf = _small(optimizer=optimizer, device="cpu").fit(X, y)
    assert clf.net_.optimizer_.defaults["fused"] is True


def test_network_weights_are_channels_last():
    """Check that convolution weights share the channels-last layout of the inputs."""
    X, y = _data()
    clf = _small().fit(X, y)
    convs = [m for m in clf.module_.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs
    for conv in convs:
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_fit_leaves_torch_thread_settings_as_they_were():
    """Check that fit and a serial grid search do not change the caller's torch threads."""
    X, y = _data()
    before = (torch.get_num_threads(), torch.get_num_interop_threads())
    GridSearchCV(_small(max_epochs=1), {"lr": [1e-3, 1e-2]}, cv=2).fit(X, y)
    assert (torch.get_num_threads(), torch.get_num_interop_threads()) == before


def test_joblib_workers_split_the_cores_between_them():
    """Check that each of n_jobs loky workers trains with cpu_count // n_jobs torch threads.

    This is what keeps ``GridSearchCV(n_jobs=2)`` from oversubscribing two
    cores: joblib limits each worker's thread pools, and nothing in fit
    overrides that.
    """
    X, y = _data()
    n_jobs = 2
    seen = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_threads_seen_by_fit)(X, y) for _ in range(n_jobs)
    )
    assert seen == [max(1, os.cpu_count() // n_jobs)] * n_jobs


class _ConvDtypes(Callback):
    """Record the dtype of the first convolution's output in every training step."""

    def initialize(self):
        self.dtypes = set()
        return self

    def on_train_begin(self, net, **kwargs):
        net.module_.features[0].conv.register_forward_hook(
            lambda module, args, out: self.dtypes.add(out.dtype)
        )


needs_bf16 = pytest.mark.skipif(
    not _device.bf16_supported("cpu"), reason="this CPU has no bfloat16 support"
)


@needs_bf16
def test_bf16_mixed_precision_trains_and_predicts_in_bfloat16():
    """Check that mixed_precision='bf16' runs the network under bfloat16 autocast, in fit and predict."""
    X, y = _data()
    dtypes = []
    clf = _small(mixed_precision="bf16", callbacks=[("dtypes", _ConvDtypes())]).fit(X, y)
    assert dict(clf.net_.callbacks_)["dtypes"].dtypes == {torch.bfloat16}
    hook = clf.module_.features[0].conv.register_forward_hook(
        lambda module, args, out: dtypes.append(out.dtype)
    )
    proba = clf.predict_proba(X)
    hook.remove()
    assert clf.net_.autocast_dtype is torch.bfloat16
    assert dtypes and set(dtypes) == {torch.bfloat16}
    # The weights stay float32: only the arithmetic is bfloat16.
    assert {p.dtype for p in clf.module_.parameters()} == {torch.float32}
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    fp32 = _small().fit(X, y)
    assert abs(clf.score(X, y) - fp32.score(X, y)) <= 0.05


def test_bf16_falls_back_to_float32_with_one_warning(monkeypatch):
    """Check that without bfloat16 support mixed_precision='bf16' warns once and trains in float32."""
    # No CPU without bfloat16 at hand: the probe of the hardware is replaced.
    monkeypatch.setattr(_device, "bf16_supported", lambda device: False)
    X, y = _data()
    with pytest.warns(UserWarning, match="bfloat16") as record:
        clf = _small(mixed_precision="bf16").fit(X, y)
    warned = [w for w in record if "bfloat16" in str(w.message)]
    assert len(warned) == 1
    assert warned[0].filename == __file__  # the user's fit call, not ours
    assert clf.net_.autocast_dtype is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict(X)


def test_mixed_precision_no_is_float32_and_fp32_is_refused():
    """Check that mixed_precision="no" trains in float32 and the old spelling "fp32" is refused."""
    X, y = _data()
    assert _small(mixed_precision="no").fit(X, y).net_.autocast_dtype is None
    with pytest.raises(ValueError, match="mixed_precision"):
        _small(mixed_precision="fp32").fit(X, y)


@needs_bf16
def test_pretrained_features_bf16_embeds_in_bfloat16_and_returns_float32():
    """Check that PretrainedFeatures(mixed_precision='bf16') computes in bfloat16, returns float32."""
    X = np.random.RandomState(0).randint(0, 256, size=(6, 40, 40, 3)).astype(np.uint8)
    params = dict(backbone="resnet18", weights=None, image_size=32, random_state=0)
    bf16 = PretrainedFeatures(mixed_precision="bf16", **params).fit(X)
    dtypes = []
    bf16.module_.backbone.conv1.register_forward_hook(
        lambda module, args, out: dtypes.append(out.dtype)
    )
    features = bf16.transform(X)
    fp32 = PretrainedFeatures(**params).fit_transform(X)
    assert set(dtypes) == {torch.bfloat16}
    assert features.dtype == np.float32 and features.shape == fp32.shape
    assert not np.array_equal(features, fp32)
    np.testing.assert_allclose(features, fp32, rtol=0.1, atol=0.1 * np.abs(fp32).max())


def test_pretrained_features_bf16_falls_back_with_a_warning(monkeypatch):
    """Check that PretrainedFeatures(mixed_precision='bf16') without bfloat16 warns, gives float32."""
    # No CPU without bfloat16 at hand: the probe of the hardware is replaced.
    monkeypatch.setattr(_device, "bf16_supported", lambda device: False)
    X = np.random.RandomState(0).randint(0, 256, size=(4, 40, 40, 3)).astype(np.uint8)
    params = dict(backbone="resnet18", weights=None, image_size=32, random_state=0)
    with pytest.warns(UserWarning, match="bfloat16") as record:
        features = PretrainedFeatures(mixed_precision="bf16", **params).fit_transform(X)
    assert {w.filename for w in record if "bfloat16" in str(w.message)} == {__file__}
    np.testing.assert_array_equal(features, PretrainedFeatures(**params).fit_transform(X))
