"""What turns images into a pretrained backbone's input, and its output into features."""

import torch
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from .._input import median_shorter_side


# FixRes: a network trained on random-resized crops of side s is tested best
# at about 9/7 s (Touvron et al., NeurIPS 2019: 224 -> 288 pixels).
_FIXRES_RATIO = 9 / 7


def resolve_image_size(image_size, config, X=None):
    """The crop, in pixels, of an ``image_size`` parameter for given weights and images.

    Parameters
    ----------
    image_size : int, "auto" or None
        An int is used as is; None is the weights' input size.
    config : PreprocessingConfig
        The weights' preprocessing; ``config.input_size[-1]`` is their size.
    X : images or None, default=None
        The training images, read by "auto" (their median shorter side, see
        :func:`~sk_imgcls._input.median_shorter_side`); None if unknown.

    Returns
    -------
    crop : int
        "auto": 9/7 of the weights' size (FixRes; 288 for 224-pixel weights)
        for images at least as large as the weights' size or of unknown
        size, the weights' size for smaller images.

    Raises
    ------
    sk_imgcls.ImageReadError
        If "auto" cannot read the header of a file of X.
    """
    native = config.input_size[-1]
    if image_size is None:
        return native
    if image_size != "auto":
        return image_size
    side = None if X is None else median_shorter_side(X)
    return native if side is not None and side < native else round(native * _FIXRES_RATIO)


class BackbonePreprocessing:
    """Resize, center-crop and channel handling that match a backbone's weights.

    Images of any size become images of shape (crop, crop, 3): the shorter
    side is resized to ``round(crop / crop_pct)`` pixels with the weights'
    interpolation and antialiasing, then the center ``crop`` x ``crop``
    square is kept (torchvision's ``resize`` and ``center_crop``, as in
    timm's and torchvision's evaluation transforms). Grayscale becomes 3
    identical channels; a 4th (alpha) channel is dropped. uint8 stays uint8,
    other dtypes become float32.

    Parameters
    ----------
    crop : int
        Output height and width, in pixels.
    crop_pct : float
        Ratio of ``crop`` to the resized shorter side, as in timm.
    interpolation : str
        "bilinear" or "bicubic".
    """

    def __init__(self, crop, crop_pct, interpolation):
        self.crop = int(crop)
        self.resize = int(round(crop / crop_pct))
        self.interpolation = InterpolationMode(interpolation)

    @classmethod
    def from_config(cls, config, image_size=None, X=None):
        """The preprocessing of a :class:`~sk_imgcls.PreprocessingConfig`, cropping ``image_size``.

        ``image_size=None`` keeps the weights' own input size; "auto"
        chooses it from the size of the images of X (see
        :func:`resolve_image_size`).
        """
        crop = resolve_image_size(image_size, config, X)
        return cls(crop, config.crop_pct, config.interpolation)

    def output_shape(self, n_channels=3):
        """(crop, crop, 3): what every image becomes."""
        return (self.crop, self.crop, 3)

    def __call__(self, images):
        """Map a tensor (n, H, W, C) to (n, crop, crop, 3).

        Raises
        ------
        ValueError
            If C is not 1, 3 or 4.
        """
        if images.shape[-1] == 1:
            images = images.expand(-1, -1, -1, 3)
        elif images.shape[-1] == 4:
            images = images[..., :3]
        elif images.shape[-1] != 3:
            raise ValueError(
                "Pretrained backbones take grayscale, RGB or RGBA images (1, 3 or 4 "
                f"channels); got images of shape {tuple(images.shape[1:])}."
            )
        chw = images.permute(0, 3, 1, 2)
        if chw.dtype != torch.uint8:
            chw = chw.to(torch.float32)
        chw = F.resize(chw, self.resize, interpolation=self.interpolation, antialias=True)
        chw = F.center_crop(chw, [self.crop, self.crop])
        return chw.permute(0, 2, 3, 1).contiguous()


class BackboneFeatures(nn.Module):
    """Scale, normalize and run a pretrained backbone: images to pooled features.

    Input: (batch, height, width, 3) channels last, uint8 in [0, 255] or
    floats in [0, 1], already resized and cropped to the backbone's input
    size. Output: float32 features of shape (batch, n_features).

    Parameters
    ----------
    backbone : torch.nn.Module
        Maps normalized (batch, 3, H, W) images to pooled features.
    mean, std : sequence of 3 floats
        Normalization of the pretrained weights, for inputs in [0, 1].
    """

    def __init__(self, backbone, *, mean, std):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x):
        # uint8 pixels are scaled to [0, 1] within the normalization:
        # (x / 255 - mean) / std as one multiply-add over the batch.
        scale = 1 / (255 * self.std) if x.dtype == torch.uint8 else 1 / self.std
        # NHWC -> NCHW view with channels_last strides, which CPU kernels prefer.
        x = x.permute(0, 3, 1, 2).to(torch.float32)
        return self.backbone(torch.addcmul(-self.mean / self.std, x, scale))
