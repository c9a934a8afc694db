"""Looking inside a fitted classifier: training curves, top losses, Grad-CAM, LR finder.

Functions return the numbers; each ``*Display`` draws them with matplotlib
in scikit-learn's Display API (``from_estimator``, ``plot(ax=...)``,
``figure_``, ``ax_``). matplotlib and grad-cam come with the ``inspection``
extra: ``pip install "sk-imgcls[inspection]"``. scikit-learn's own
displays (``ConfusionMatrixDisplay``, ``RocCurveDisplay``,
``LearningCurveDisplay``) work on the classifiers as they are.
"""

from ._grad_cam import grad_cam
from ._grad_cam_display import GradCAMDisplay
from ._lr_finder import LRFinderDisplay, lr_find
from ._top_losses import TopLossesDisplay, top_losses
from ._training_curve import TrainingCurveDisplay

__all__ = [
    "GradCAMDisplay",
    "LRFinderDisplay",
    "TopLossesDisplay",
    "TrainingCurveDisplay",
    "grad_cam",
    "lr_find",
    "top_losses",
]
