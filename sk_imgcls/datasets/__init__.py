"""Datasets of images: folders of image files, digits and Fashion-MNIST.

Loaders return images channels last, or file paths to decode with
:class:`sk_imgcls.preprocessing.ImageLoader`, in the conventions of
:mod:`sklearn.datasets` (``return_X_y``, :class:`~sklearn.utils.Bunch`,
``data_home``, ``download_if_missing``).
"""

from ._digits import load_digits_images
from ._fashion_mnist import fetch_fashion_mnist
from ._image_folder import load_image_folder

__all__ = ["fetch_fashion_mnist", "load_digits_images", "load_image_folder"]
