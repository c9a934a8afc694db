"""Deep-learning image classification with the scikit-learn API.

``CNNClassifier`` trains a convolutional network from scratch; the
``preprocessing`` subpackage holds image transformers for Pipelines.
"""

from ._cnn import CNNClassifier

__version__ = "0.1.0.dev0"

__all__ = ["CNNClassifier", "__version__"]
