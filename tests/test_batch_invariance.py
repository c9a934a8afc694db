"""Tests for batch-invariant prediction: batch_invariant, covers and predict_batches."""

import copy
import threading

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

import sk_imgcls._batch_invariance as batch_invariance
from sk_imgcls import CNNClassifier, TransferClassifier, load_backbone
from sk_imgcls._batch_invariance import batch_invariant, covers, predict_batches
from sk_imgcls._cnn import CNN
from sk_imgcls._device import bf16_supported
from sk_imgcls._input import InMemoryImages

_MIXED_PRECISIONS = [
    "no",
    pytest.param(
        "bf16",
        marks=pytest.mark.skipif(not bf16_supported("cpu"), reason="no bfloat16 support"),
    ),
]

_PLAIN = (nn.Conv2d, nn.Linear)


def _cnn(image_shape=(8, 8, 1), *, residual=True, width=4):
    torch.manual_seed(0)
    module = CNN(
        image_shape, 3, depth=2, width=width, residual=residual, dropout=0.0,
        mean=[0.5] * image_shape[2], std=[2.0] * image_shape[2],
    )
    return module.eval().to(memory_format=torch.channels_last)


def _resnet18():
    torch.manual_seed(0)
    return load_backbone("resnet18", weights=None).module.eval()


def _layer_classes(module):
    return [type(layer) for layer in module.modules()]


def _assert_plain(module):
    """No layer has a class of the prediction code: torch's, timm's or the user's own."""
    layers = [m for m in module.modules() if isinstance(m, _PLAIN)]
    assert layers
    classes = {type(m) for m in layers}
    assert not any(cls.__module__ == batch_invariance.__name__ for cls in classes), classes


def _spy_onednn(monkeypatch):
    """Record, for each call of oneDNN's convolution, whether oneDNN computed it.

    ``_onednn_convolution`` is the one place that calls oneDNN; whether a layer
    took that path is not visible in its output, so the function is wrapped.
    """
    used = []
    onednn = batch_invariance._onednn_convolution

    def spy(*args):
        out = onednn(*args)
        used.append(out is not None)
        return out

    monkeypatch.setattr(batch_invariance, "_onednn_convolution", spy)
    return used


def _assert_batch_invariant(module, x, mixed_precision):
    """Each sample's output alone, in slices and in the whole batch is bit-identical."""
    dtype = torch.bfloat16 if mixed_precision == "bf16" else torch.float32
    with (
        torch.inference_mode(),
        torch.autocast("cpu", dtype=dtype, enabled=mixed_precision == "bf16"),
        batch_invariant(module, device="cpu", batch_size=len(x)) as forward,
    ):
        full = forward(x)
        n = len(x)
        for start, stop in [(i, i + 1) for i in range(n)] + [(0, 2), (3, 8), (5, n)]:
            torch.testing.assert_close(forward(x[start:stop]), full[start:stop], rtol=0, atol=0)


# -- outputs equal for every batch size -----------------------------------------


@pytest.mark.parametrize("mixed_precision", _MIXED_PRECISIONS)
@pytest.mark.parametrize("image_shape", [(8, 8, 1), (28, 28, 1), (1, 7, 1), (16, 16, 3)])
@pytest.mark.parametrize("residual", [False, True])
def test_cnn_output_is_the_same_for_every_batch_size(mixed_precision, image_shape, residual):
    """Check that the CNN's logits are bit-identical alone, in any batch and in the whole set."""
    module = _cnn(image_shape, residual=residual, width=8)
    _assert_batch_invariant(module, torch.randn(17, *image_shape), mixed_precision)


@pytest.mark.parametrize("mixed_precision", _MIXED_PRECISIONS)
@pytest.mark.parametrize(
    "name",
    [
        "resnet18",
        "mobilenet_v3_small",
        "timm/test_efficientnet",
        "tf_efficientnet_lite0",  # timm Conv2dSame layers
    ],
)
def test_backbone_output_is_the_same_for_every_batch_size(mixed_precision, name):
    """Check batch invariance of pretrained architectures (1x1 convolutions, SE blocks, linear layers)."""
    torch.manual_seed(0)
    module = load_backbone(name, weights=None).module.eval().to(memory_format=torch.channels_last)
    x = torch.randn(13, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    _assert_batch_invariant(module, x, mixed_precision)


def test_without_the_block_outputs_depend_on_the_batch_size():
    """Check that the guard can fail: plain PyTorch gives other bits for a lone image."""
    module = _resnet18()
    x = torch.randn(13, 3, 32, 32)
    with torch.inference_mode():
        full = module(x)
        differs = [not torch.equal(module(x[i : i + 1]), full[i : i + 1]) for i in range(len(x))]
    if not any(differs):
        pytest.skip("this CPU's kernels happen to agree for every batch size")
    _assert_batch_invariant(module, x, "no")


def _order_changes(transform, X, n_orders=30):
    """How many of ``n_orders`` random orders of X change some image's output."""
    full = transform(X)
    orders = [np.random.RandomState(seed).permutation(len(X)) for seed in range(n_orders)]
    return sum(not np.array_equal(transform(X[order]), full[order]) for order in orders)


@pytest.mark.filterwarnings("ignore:.*as an image 1 pixel high:UserWarning")
def test_features_do_not_depend_on_the_place_in_the_batch(monkeypatch):
    """Check that an image's features are bit-identical wherever it sits in a batch.

    scikit-learn's check_methods_sample_order_invariance, on these rows, failed
    about once in six runs for PretrainedFeatures on timm's test_efficientnet
    at 160 px: the sigmoid and SiLU of its squeeze-and-excitation blocks
    compute the batch's last values with their scalar kernel. Without the
    per-image activations the same orders differ (the guard can fail).
    """
    from sk_imgcls import PretrainedFeatures

    rng = np.random.RandomState(0)
    X = 3 * rng.uniform(size=(20, 3))  # as the check builds it
    X -= X.min()
    features = PretrainedFeatures("timm/test_efficientnet", weights=None, random_state=0).fit(X)
    assert _order_changes(features.transform, X) == 0
    monkeypatch.setattr(batch_invariance, "_TAIL_SENSITIVE_ACTIVATIONS", ())
    if _order_changes(features.transform, X) == 0:
        pytest.skip("this CPU's vectorized and scalar activations happen to agree")


def _logits(forward, images):
    out = forward(images)
    assert out.dtype == torch.float32 and not torch.is_grad_enabled()
    return out.numpy()


@pytest.mark.parametrize("mixed_precision", _MIXED_PRECISIONS)
@pytest.mark.parametrize("padded", [False, True], ids=["onednn", "padded"])
def test_predict_batches_rows_do_not_depend_on_the_other_images(mixed_precision, padded):
    """Check that predict_batches gives each image the same row alone, in a subset or in all."""
    module = _cnn((10, 10, 3))
    if padded:
        module.features.append(_StandardizedConv2d(8, 8, 1))
        assert not covers(module)
    images = torch.randint(0, 256, (11, 10, 10, 3), dtype=torch.uint8)
    autocast_dtype = torch.bfloat16 if mixed_precision == "bf16" else None

    def predict(images, batch_size=4):
        return predict_batches(
            module, InMemoryImages(images), _logits, device="cpu", batch_size=batch_size,
            autocast_dtype=autocast_dtype,
        )

    module.train()
    full = predict(images)
    assert not module.training
    assert full.shape == (11, 3)
    for start, stop in [(i, i + 1) for i in range(11)] + [(0, 2), (3, 10)]:
        np.testing.assert_array_equal(predict(images[start:stop]), full[start:stop])
    if not padded:
        # oneDNN computes each image alike whatever the batch size.
        for batch_size in (1, 2, 11, 32):
            np.testing.assert_array_equal(predict(images, batch_size), full)
    _assert_plain(module)


# -- every layer goes through oneDNN, when the user allows it -------------------


@pytest.mark.parametrize("mixed_precision", _MIXED_PRECISIONS)
def test_every_layer_predicts_through_onednn(monkeypatch, mixed_precision):
    """Check that inside the block every conv and linear layer calls oneDNN, under autocast too."""
    used = _spy_onednn(monkeypatch)
    module = _resnet18()
    x = torch.randn(3, 3, 32, 32)
    dtype = torch.bfloat16 if mixed_precision == "bf16" else torch.float32
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype == torch.bfloat16):
        module(x)
        assert used == []  # outside the block: PyTorch's own kernels
        with batch_invariant(module, device="cpu", batch_size=32) as forward:
            out = forward(x)
    assert out.dtype == dtype
    assert len(used) == 20 and all(used)  # resnet18: 20 convolutions, its fc is an Identity


def test_cnn_linear_head_predicts_through_onednn(monkeypatch):
    """Check that the CNN's linear head is computed by oneDNN too (4 convolutions + 1 linear)."""
    used = _spy_onednn(monkeypatch)
    module = _cnn()
    with torch.inference_mode(), batch_invariant(module, device="cpu", batch_size=32) as forward:
        forward(torch.randn(2, 8, 8, 1))
    assert used == [True] * 5


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_onednn_switched_off_by_the_user_is_respected(monkeypatch):
    """Check that under torch.backends.mkldnn.flags(enabled=False) the layers use PyTorch's path."""
    used = _spy_onednn(monkeypatch)
    module = _resnet18()
    reference = copy.deepcopy(module)
    x = torch.randn(2, 3, 32, 32)
    with (
        torch.inference_mode(),
        torch.backends.mkldnn.flags(enabled=False),
        batch_invariant(module, device="cpu", batch_size=32) as forward,
    ):
        out = forward(x)
        expected = reference(x)
    assert len(used) == 20 and not any(used)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_training_inside_the_block_takes_pytorch_path(monkeypatch):
    """Check that with gradients on, the layers compute as plain torch layers, bit for bit."""
    used = _spy_onednn(monkeypatch)
    module = _cnn()
    reference = copy.deepcopy(module)
    x = torch.randn(5, 8, 8, 1)
    module.train(), reference.train()
    with batch_invariant(module, device="cpu", batch_size=32) as forward:
        out = forward(x)
    expected = reference(x)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    out.sum().backward()
    assert not any(used)
    assert all(p.grad is not None for p in module.parameters())


def test_other_inputs_keep_pytorch_semantics_inside_the_block():
    """Check unbatched and token inputs, and the error for a wrong input width."""
    torch.manual_seed(0)
    conv, linear = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(5, 3)
    reference = copy.deepcopy(conv), copy.deepcopy(linear)
    image, tokens = torch.randn(3, 8, 8), torch.randn(2, 7, 5)
    with (
        torch.inference_mode(),
        batch_invariant(conv, device="cpu", batch_size=32) as conv_forward,
        batch_invariant(linear, device="cpu", batch_size=32) as linear_forward,
    ):
        torch.testing.assert_close(conv_forward(image), reference[0](image))
        torch.testing.assert_close(linear_forward(tokens), reference[1](tokens))
        full = linear_forward(tokens)
        for i in range(len(tokens)):
            torch.testing.assert_close(linear_forward(tokens[i : i + 1]), full[i : i + 1], rtol=0, atol=0)
        with pytest.raises(RuntimeError, match="cannot be multiplied"):
            linear_forward(torch.randn(2, 4))
    assert type(conv) is nn.Conv2d and type(linear) is nn.Linear


# -- the network is left as it was ----------------------------------------------


def test_block_keeps_parameters_state_dict_and_hooks():
    """Check that the block adds no state: same parameters, buffers, state_dict keys and hooks."""
    module = _cnn()
    params = dict(module.named_parameters())
    buffers = dict(module.named_buffers())
    classes = _layer_classes(module)
    state = {k: v.clone() for k, v in module.state_dict().items()}
    calls = []
    module.features[0].conv.register_forward_hook(lambda *args: calls.append(1))
    with torch.inference_mode(), batch_invariant(module, device="cpu", batch_size=32) as forward:
        assert dict(module.named_parameters()) == params
        assert dict(module.named_buffers()) == buffers
        assert list(module.state_dict()) == list(state)
        # Layers still are what user code checks for.
        assert all(isinstance(layer, cls) for layer, cls in zip(module.modules(), classes))
        forward(torch.randn(2, 8, 8, 1))
    assert calls == [1]
    assert dict(module.named_parameters()) == params
    for name, value in module.state_dict().items():
        assert torch.equal(value, state[name]), name


@pytest.mark.parametrize("name", ["resnet18", "tf_efficientnet_lite0"])
def test_layer_classes_are_restored_after_the_block(name):
    """Check that every layer has its own class again after the block, timm's Conv2dSame included."""
    module = load_backbone(name, weights=None).module.eval()
    before = _layer_classes(module)
    with torch.inference_mode(), batch_invariant(module, device="cpu", batch_size=32) as forward:
        assert _layer_classes(module) != before
        forward(torch.randn(2, 3, 32, 32))
    assert _layer_classes(module) == before
    _assert_plain(module)


def test_layer_classes_are_restored_after_an_exception_in_the_block():
    """Check that an error inside the block still undoes the change, and the next block works."""
    module = _cnn()
    before = _layer_classes(module)
    with pytest.raises(RuntimeError, match="channels"):
        with torch.inference_mode(), batch_invariant(module, device="cpu", batch_size=32) as forward:
            forward(torch.randn(2, 8, 8, 2))  # two channels where the CNN takes one
    assert _layer_classes(module) == before
    with torch.inference_mode(), batch_invariant(module, device="cpu", batch_size=32) as forward:
        assert forward(torch.randn(2, 8, 8, 1)).shape == (2, 3)
    assert _layer_classes(module) == before


def test_nested_blocks_restore_when_the_outer_one_ends(monkeypatch):
    """Check that an inner block on the same network does not end the outer one's oneDNN layers."""
    used = _spy_onednn(monkeypatch)
    module = _cnn()
    before = _layer_classes(module)
    x = torch.randn(2, 8, 8, 1)
    sizes = []
    module.register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])))
    with torch.inference_mode(), batch_invariant(module, device="cpu", batch_size=32) as outer:
        with batch_invariant(module, device="cpu", batch_size=32) as inner:
            inner(x)
        assert used == [True] * 5
        outer(x)
        assert used == [True] * 10
    assert _layer_classes(module) == before
    # Both blocks computed the 2 images through oneDNN, with no padding rows.
    assert sizes == [2, 2]


def test_concurrent_blocks_in_two_threads_restore_when_the_last_one_ends(monkeypatch):
    """Check two threads predicting with one network: the first to leave does not undo the other's."""
    used = _spy_onednn(monkeypatch)
    module = _cnn()
    before = _layer_classes(module)
    x = torch.randn(2, 8, 8, 1)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    results, errors = {}, []

    def first():
        try:
            with torch.inference_mode(), batch_invariant(module, device="cpu", batch_size=32) as f:
                a_in.set()
                assert b_in.wait(10)
                results["a"] = f(x)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            a_in.set()
            a_out.set()

    def second():
        try:
            assert a_in.wait(10)
            with torch.inference_mode(), batch_invariant(module, device="cpu", batch_size=32) as f:
                b_in.set()
                assert a_out.wait(10)
                # The first thread has left its block; this one is still inside.
                results["b_types"] = _layer_classes(module)
                results["b"] = f(x)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            b_in.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert results["b_types"] != before
    assert used == [True] * 10
    torch.testing.assert_close(results["a"], results["b"], rtol=0, atol=0)
    assert _layer_classes(module) == before


def test_concurrent_predictions_of_one_estimator_agree(monkeypatch):
    """Check that a prediction overlapping another thread's gives the serial result, through oneDNN."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 8, 8)).astype(np.float32)
    y = np.arange(40) % 2
    clf = CNNClassifier(width=4, max_epochs=1, batch_size=4, random_state=0).fit(X, y)
    expected = clf.predict_proba(X)
    used = _spy_onednn(monkeypatch)
    # The short prediction enters first and waits inside its block until the
    # long one is inside too, then ends while the long one still runs.
    short_inside, long_inside = threading.Event(), threading.Event()

    def hold(module, args):
        if threading.current_thread().name == "short":
            short_inside.set()
            assert long_inside.wait(10)
        else:
            long_inside.set()

    clf.module_.register_forward_pre_hook(hold)
    results = {}

    def predict(name, X):
        results[name] = clf.predict_proba(X)

    short = threading.Thread(target=predict, args=("short", X[:4]), name="short")
    long = threading.Thread(target=predict, args=("long", X), name="long")
    short.start()
    assert short_inside.wait(10)
    long.start()
    short.join(30), long.join(30)
    np.testing.assert_array_equal(results["short"], expected[:4])
    # Every convolution and the linear head through oneDNN, for 1 + 10 batches.
    n_layers = sum(isinstance(m, _PLAIN) for m in clf.module_.modules())
    assert used == [True] * n_layers * 11
    np.testing.assert_array_equal(results["long"], expected)
    _assert_plain(clf.module_)


# -- networks the block does not cover ------------------------------------------


class _StandardizedConv2d(nn.Conv2d):
    """A convolution class the block does not know (weight standardization)."""

    def forward(self, x):
        weight = (self.weight - self.weight.mean()) / self.weight.std()
        return self._conv_forward(x, weight, self.bias)


@pytest.mark.parametrize("name", ["resnet18", "tf_efficientnet_lite0", "timm/tf_efficientnetv2_b0", "mobilenet_v3_small"])
def test_common_backbones_are_covered(name):
    """Check that every convolution and linear layer of common backbones is handled."""
    assert covers(load_backbone(name, weights=None).module)
    assert covers(_cnn())


@pytest.mark.parametrize(
    "module",
    [
        nn.Sequential(_StandardizedConv2d(3, 4, 3), nn.Conv2d(4, 4, 1)),
        nn.Sequential(nn.Conv1d(3, 4, 3)),
    ],
    ids=["standardized", "conv1d"],
)
def test_uncovered_networks_fall_back_to_padding(module, monkeypatch):
    """Check that networks with other conv or linear classes are padded to batch_size, unchanged."""
    used = _spy_onednn(monkeypatch)
    assert not covers(module)
    before = _layer_classes(module)
    sizes = []
    module.register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])))
    x = torch.randn(3, 3, 8, 8) if not isinstance(module[0], nn.Conv1d) else torch.randn(3, 3, 8)
    with torch.inference_mode(), batch_invariant(module, device="cpu", batch_size=32) as forward:
        assert _layer_classes(module) == before
        out = forward(x)
        expected = module(x)
    assert sizes == [32, 3]
    assert len(out) == 3
    torch.testing.assert_close(out, expected)
    assert used == []


@pytest.mark.parametrize(
    "conv",
    [
        dict(kernel_size=3, padding=1, padding_mode="reflect"),
        dict(kernel_size=3, padding="same"),
    ],
    ids=["reflect", "same"],
)
def test_convolutions_oneDNN_skips_are_still_batch_invariant(conv):
    """Check that a Conv2d with non-zero padding mode or string padding is still batch-invariant."""
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(64, 64, **conv), nn.Flatten()).eval()
    _assert_batch_invariant(module, torch.randn(13, 64, 7, 7), "no")


def test_other_devices_fall_back_to_padding():
    """Check that off the CPU the block pads short batches instead of changing layers."""
    module = nn.Sequential(nn.Conv2d(3, 4, 3))
    assert covers(module)
    sizes = []
    module.register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])))
    # The device only chooses the strategy; the module itself stays on the CPU.
    with torch.inference_mode(), batch_invariant(module, device="cuda", batch_size=8) as forward:
        assert type(module[0]) is nn.Conv2d
        assert forward(torch.randn(3, 3, 8, 8)).shape == (3, 4, 6, 6)
        assert forward(torch.randn(9, 3, 8, 8)).shape == (9, 4, 6, 6)
    assert sizes == [8, 9]


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
    rng = np.random.RandomState(0)
    y = np.arange(40) % 2
    X = rng.normal(size=(40, 8, 8, n_channels)).astype(np.float32) + 2.0 * y[:, None, None, None]
    clf = clone(clf).fit(X, y)
    sizes = []
    hook = clf.module_.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    single = clf.predict_proba(X[:1])
    hook.remove()
    assert sizes == [1]
    np.testing.assert_array_equal(single, clf.predict_proba(X)[:1])


# -- module_ stays a plain torch module -----------------------------------------


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore:`torch.jit:FutureWarning")
@pytest.mark.parametrize(
    "clf, n_channels",
    [
        (CNNClassifier(width=4, max_epochs=1, batch_size=8, random_state=0), 1),
        (
            TransferClassifier(
                "timm/test_efficientnet", weights=None, image_size=32, max_epochs=1,
                batch_size=8, augment=None, tta=None, random_state=0,
            ),
            3,
        ),
        (
            TransferClassifier(
                "resnet18", weights=None, image_size=32, max_epochs=1,
                batch_size=8, augment=None, random_state=0,
            ),
            3,
        ),
    ],
    ids=["CNNClassifier", "TransferClassifier-test_efficientnet", "TransferClassifier-resnet18"],
)
def test_fitted_module_traces_and_exports(clf, n_channels):
    """Check that after fit and predict, module_ is plain torch: jit.trace and export reproduce it."""
    rng = np.random.RandomState(0)
    y = np.arange(16) % 2
    X = rng.randint(0, 256, size=(16, 12, 12, n_channels)).astype(np.uint8)
    clf = clone(clf).fit(X, y)
    clf.predict_proba(X)
    _assert_plain(clf.module_)
    x = torch.as_tensor(X[:4])
    if clf.preprocess_ is not None:
        x = clf.preprocess_(x)
    assert tuple(x.shape[1:]) == clf.image_shape_
    with torch.no_grad():
        expected = clf.module_(x)
        traced = torch.jit.trace(clf.module_, x)
        torch.testing.assert_close(traced(x), expected)
        exported = torch.export.export(clf.module_, (x,))
        torch.testing.assert_close(exported.module()(x), expected)
    # The graphs hold torch's convolution, not the oneDNN op of prediction.
    assert "mkldnn" not in str(traced.inlined_graph)
    assert "mkldnn" not in str(exported.graph)
