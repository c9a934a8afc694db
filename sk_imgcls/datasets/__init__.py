"""Datasets of images: folders of image files, digits, Fashion-MNIST, ants and bees.

Loaders return images channels last, or file paths to decode with
:class:`sk_imgcls.preprocessing.ImageLoader`, in the conventions of
:mod:`sklearn.datasets` (``return_X_y``, :class:`~sklearn.utils.Bunch`,
``data_home``, ``download_if_missing``).
"""

from ._digits import load_digits_images
from ._fashion_mnist import fetch_fashion_mnist
from ._hymenoptera import fetch_hymenoptera
from ._image_folder import list_images, load_image_folder

__all__ = [
    "fetch_fashion_mnist",
    "fetch_hymenoptera",
    "list_images",
    "load_digits_images",
    "load_image_folder",
]
