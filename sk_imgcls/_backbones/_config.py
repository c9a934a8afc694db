"""What :func:`load_backbone` returns: the network and the preprocessing of its weights."""

from dataclasses import dataclass, field

from torch import nn


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

    Notes
    -----
    The fields are those of timm's ``pretrained_cfg`` (R. Wightman, PyTorch
    Image Models, https://github.com/huggingface/pytorch-image-models), which
    keeps the preprocessing next to each set of weights.

    Examples
    --------
    >>> from sk_imgcls import load_backbone
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
    >>> from sk_imgcls import load_backbone
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
