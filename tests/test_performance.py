"""Guards for the speed work that time nothing: they check how fit computes.

Speed itself is measured in ``benchmarks/``, never here.
"""

import copy
import os
import warnings

import numpy as np
import pytest
import torch
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback
from skorch.dataset import Dataset

from sk_imgcls import CNNClassifier, TransferClassifier, _base, load_backbone
from sk_imgcls._base import OneDNNConv2d, OneDNNLinear, eval_rows, onednn_covers, use_onednn
from sk_imgcls._cnn import CNN


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
    """Check that fit and predict gather whole batches, with no per-sample Dataset.__getitem__."""
    calls = []
    getitem = Dataset.__getitem__

    def counting_getitem(self, i):
        calls.append(i)
        return getitem(self, i)

    monkeypatch.setattr(Dataset, "__getitem__", counting_getitem)
    X, y = _data()
    weights = None if sample_weight is None else np.linspace(0.5, 2.0, len(y))
    clf = _small(early_stopping=True, validation_fraction=0.25, tta="flip")
    clf.fit(X, y, sample_weight=weights)
    clf.predict_proba(X)
    assert calls == []
    # The guard can fail: skorch's own DataLoader path indexes samples one by one.
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


@pytest.mark.skipif(not _base.bf16_supported("cpu"), reason="this CPU has no bfloat16 support")
def test_bf16_precision_trains_and_predicts_in_bfloat16():
    """Check that precision='bf16' runs the network under bfloat16 autocast, in fit and predict."""
    X, y = _data()
    dtypes = []
    clf = _small(precision="bf16").fit(X, y)
    hook = clf.module_.features[0].conv.register_forward_hook(
        lambda module, args, out: dtypes.append(out.dtype)
    )
    proba = clf.predict_proba(X)
    hook.remove()
    assert clf.net_.autocast_dtype is torch.bfloat16
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    fp32 = _small().fit(X, y)
    assert abs(clf.score(X, y) - fp32.score(X, y)) <= 0.05


def test_bf16_falls_back_to_float32_with_one_warning(monkeypatch):
    """Check that without bfloat16 support precision='bf16' warns once and trains in float32."""
    monkeypatch.setattr(_base, "bf16_supported", lambda device: False)
    X, y = _data()
    with pytest.warns(UserWarning, match="bfloat16") as record:
        clf = _small(precision="bf16").fit(X, y)
    assert len([w for w in record if "bfloat16" in str(w.message)]) == 1
    assert clf.net_.autocast_dtype is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict(X)


_PRECISIONS = [
    "fp32",
    pytest.param(
        "bf16",
        marks=pytest.mark.skipif(not _base.bf16_supported("cpu"), reason="no bfloat16 support"),
    ),
]


def _assert_batch_invariant(module, x, precision):
    """Each sample's output alone, in slices and in the whole batch is bit-identical."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=precision == "bf16"):
        full = module(x)
        n = len(x)
        for start, stop in [(i, i + 1) for i in range(n)] + [(0, 2), (3, 8), (5, n)]:
            torch.testing.assert_close(module(x[start:stop]), full[start:stop], rtol=0, atol=0)


@pytest.mark.parametrize("precision", _PRECISIONS)
@pytest.mark.parametrize("image_shape", [(8, 8, 1), (28, 28, 1), (1, 7, 1), (16, 16, 3)])
@pytest.mark.parametrize("residual", [False, True])
def test_cnn_output_is_the_same_for_every_batch_size(precision, image_shape, residual):
    """Check that the CNN's logits are bit-identical alone, in any batch and in the whole set."""
    torch.manual_seed(0)
    module = CNN(
        image_shape, 3, depth=2, width=8, residual=residual, dropout=0.0,
        mean=[0.5] * image_shape[2], std=[2.0] * image_shape[2],
    ).eval().to(memory_format=torch.channels_last)
    _assert_batch_invariant(use_onednn(module), torch.randn(17, *image_shape), precision)


@pytest.mark.parametrize("precision", _PRECISIONS)
@pytest.mark.parametrize(
    "name",
    [
        "resnet18",
        "mobilenet_v3_small",
        "timm/test_efficientnet",
        "tf_efficientnet_lite0",  # timm Conv2dSame layers
    ],
)
def test_backbone_output_is_the_same_for_every_batch_size(precision, name):
    """Check batch invariance of pretrained architectures (1x1 convolutions, SE blocks, linear layers)."""
    torch.manual_seed(0)
    module = load_backbone(name, weights=None).module.eval().to(memory_format=torch.channels_last)
    x = torch.randn(13, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    _assert_batch_invariant(use_onednn(module), x, precision)


def test_use_onednn_keeps_parameters_and_trains_as_before():
    """Check that use_onednn swaps layer classes only, and that training takes PyTorch's path."""
    torch.manual_seed(0)
    module = CNN((8, 8, 1), 3, depth=2, width=4, residual=True, dropout=0.0, mean=[0.0], std=[1.0])
    params = dict(module.named_parameters())
    keys = list(module.state_dict())
    reference = copy.deepcopy(module)
    assert use_onednn(module) is module
    assert dict(module.named_parameters()) == params
    assert list(module.state_dict()) == keys
    layers = list(module.modules())
    assert sum(type(m) is OneDNNConv2d for m in layers) == 4
    assert sum(type(m) is OneDNNLinear for m in layers) == 1
    assert not any(type(m) in (torch.nn.Conv2d, torch.nn.Linear) for m in layers)
    x = torch.randn(5, 8, 8, 1)
    module.train(), reference.train()
    torch.testing.assert_close(module(x), reference(x), rtol=0, atol=0)
    module.eval(), reference.eval()
    with torch.inference_mode():
        torch.testing.assert_close(module(x), reference(x))


@pytest.mark.parametrize(
    "clf, n_channels",
    [
        (CNNClassifier(width=4, max_epochs=2, batch_size=16, random_state=0), 1),
        (
            TransferClassifier(
                "timm/test_efficientnet", weights=None, image_size=16, max_epochs=1,
                batch_size=16, augment=None, tta=None, random_state=0,
            ),
            3,
        ),
    ],
    ids=["CNNClassifier", "TransferClassifier"],
)
def test_single_image_prediction_computes_one_image(clf, n_channels):
    """Check that predicting one image runs the network on a batch of one, with no padding."""
    X, y = _data()
    X = np.repeat(X[..., None], n_channels, axis=-1)
    clf = clone(clf).fit(X, y)
    sizes = []
    hook = clf.module_.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    single = clf.predict_proba(X[:1])
    hook.remove()
    assert sizes == [1]
    np.testing.assert_array_equal(single, clf.predict_proba(X)[:1])


@pytest.mark.parametrize("precision", _PRECISIONS)
def test_every_layer_predicts_through_onednn(monkeypatch, precision):
    """Check that with use_onednn every conv and linear layer calls oneDNN, under autocast too."""
    used = []
    onednn = _base._onednn_convolution

    def spy(*args):
        out = onednn(*args)
        used.append(out is not None)
        return out

    monkeypatch.setattr(_base, "_onednn_convolution", spy)
    module = use_onednn(load_backbone("resnet18", weights=None).module.eval())
    x = torch.randn(3, 3, 32, 32)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = module(x)
    assert out.dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
    assert len(used) == 20 and all(used)  # resnet18: 20 convolutions, its fc is an Identity


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_onednn_switched_off_by_the_user_is_respected(monkeypatch):
    """Check that under torch.backends.mkldnn.flags(enabled=False) the layers use PyTorch's path."""
    used = []
    onednn = _base._onednn_convolution
    monkeypatch.setattr(
        _base, "_onednn_convolution", lambda *args: used.append(onednn(*args)) or used[-1]
    )
    module = use_onednn(load_backbone("resnet18", weights=None).module.eval())
    with torch.inference_mode(), torch.backends.mkldnn.flags(enabled=False):
        module(torch.randn(2, 3, 32, 32))
    assert len(used) == 20 and all(out is None for out in used)


@pytest.mark.parametrize(
    "name", ["tf_efficientnet_lite0", "timm/tf_efficientnetv2_b0", "mobilenet_v3_small"]
)
def test_use_onednn_converts_every_convolution_and_linear_layer(name):
    """Check that no convolution or linear layer of common backbones is left unconverted."""
    module = load_backbone(name, weights=None).module
    assert not onednn_covers(module)
    assert onednn_covers(use_onednn(module))
    assert eval_rows(module, "cpu", 32) == 1


def test_layers_use_onednn_cannot_convert_fall_back_to_padding():
    """Check that a network with another convolution class, or off the CPU, pads to batch_size."""

    class StandardizedConv2d(torch.nn.Conv2d):
        def forward(self, x):
            weight = (self.weight - self.weight.mean()) / self.weight.std()
            return self._conv_forward(x, weight, self.bias)

    module = use_onednn(torch.nn.Sequential(StandardizedConv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 1)))
    assert type(module[1]) is OneDNNConv2d
    assert not onednn_covers(module)
    assert eval_rows(module, "cpu", 32) == 32
    covered = use_onednn(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)))
    assert eval_rows(covered, "cuda", 32) == 32


def test_onednn_layers_keep_pytorch_semantics_for_other_inputs():
    """Check unbatched and token inputs, and the error for a wrong input width."""
    torch.manual_seed(0)
    conv, linear = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Linear(5, 3)
    reference = copy.deepcopy(conv), copy.deepcopy(linear)
    use_onednn(conv), use_onednn(linear)
    image, tokens = torch.randn(3, 8, 8), torch.randn(2, 7, 5)
    with torch.inference_mode():
        torch.testing.assert_close(conv(image), reference[0](image))
        torch.testing.assert_close(linear(tokens), reference[1](tokens))
        _assert_batch_invariant(linear, tokens, "fp32")
        with pytest.raises(RuntimeError, match="cannot be multiplied"):
            linear(torch.randn(2, 4))
