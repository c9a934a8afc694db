"""Pretrained torchvision and timm networks without their classifier, with their preprocessing.

A backbone maps a batch of normalized images (N, 3, H, W) to pooled features
(N, n_features). :func:`load_backbone` builds one by name
(:func:`resolve_backbone_name`), loads its weights (the local cache, a local
file, or none) and returns it with the resize, crop and normalization its
weights were trained with (:class:`PreprocessingConfig`), as timm keeps a
``pretrained_cfg`` next to each set of weights.
"""

from ._builders import load_backbone
from ._config import Backbone, PreprocessingConfig
from ._names import DEFAULT_BACKBONE, resolve_backbone_name

__all__ = [
    "DEFAULT_BACKBONE",
    "Backbone",
    "PreprocessingConfig",
    "load_backbone",
    "resolve_backbone_name",
]
