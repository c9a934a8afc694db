"""Deep-learning image classification with the scikit-learn API.

:class:`CNNClassifier` trains a convolutional network from scratch and
:class:`TransferClassifier` fine-tunes a pretrained torchvision or timm
backbone; :class:`PretrainedFeatures` turns images into backbone embeddings.
:func:`save` and :func:`load` keep a fitted model in a file that loads
without running code, and :func:`to_onnx` exports it with its preprocessing.
The :mod:`sk_imgcls.preprocessing` transformers prepare images inside a
Pipeline and :mod:`sk_imgcls.datasets` loads folders of photos, digits and
Fashion-MNIST.
"""

from ._backbones import Backbone, PreprocessingConfig, load_backbone
from ._cnn import CNNClassifier
from ._features import PretrainedFeatures
from ._image_io import ImageReadError
from ._onnx import register_converters, to_onnx
from ._persistence import load, save
from ._transfer import TransferClassifier
from ._joblib_dask import register as _register_dask_backend

# Searches on Dask fail instead of hanging when a worker dies (a joblib bug).
_register_dask_backend()

__version__ = "0.1.0.dev0"

__all__ = [
    "Backbone",
    "CNNClassifier",
    "ImageReadError",
    "PreprocessingConfig",
    "PretrainedFeatures",
    "TransferClassifier",
    "__version__",
    "load",
    "load_backbone",
    "register_converters",
    "save",
    "to_onnx",
]
