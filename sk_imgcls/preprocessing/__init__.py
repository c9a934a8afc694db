"""Image transformers for scikit-learn Pipelines.

Each takes X as images, channels last: (n_samples, height, width),
(n_samples, height, width, n_channels), or flat rows (n_samples, n_features)
read as 1 x n_features images (use :class:`ImageReshaper` to give them their
shape). The pixel work is torchvision's (``torchvision.transforms.v2``).
"""

from ._color import Grayscale, Rescale
from ._loader import ImageLoader
from ._reshape import Flatten, ImageReshaper
from ._resize import CenterCrop, Resize

__all__ = [
    "CenterCrop",
    "Flatten",
    "Grayscale",
    "ImageLoader",
    "ImageReshaper",
    "Rescale",
    "Resize",
]
