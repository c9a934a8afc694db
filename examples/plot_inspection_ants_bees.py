"""
===========================================================
Looking inside a transfer-learning model: ants versus bees
===========================================================

A :class:`~sk_imgcls.TransferClassifier` learns ants vs bees from the photos
of the PyTorch transfer-learning tutorial (``train/`` 244, ``val/`` 153
JPEGs), fed the file paths. Then :mod:`sk_imgcls.inspection` and
scikit-learn's own displays look inside it:

- the training curves: loss and accuracy per epoch on the training and the
  validation photos, the best epoch marked (:class:`~sk_imgcls.inspection.TrainingCurveDisplay`);
- the confusion matrix (scikit-learn's :class:`~sklearn.metrics.ConfusionMatrixDisplay`,
  which works on the estimator as it is);
- the validation photos with the highest loss, with their file names
  (:class:`~sk_imgcls.inspection.TopLossesDisplay`, the figure of
  :func:`~sk_imgcls.inspection.top_losses`);
- Grad-CAM heatmaps over those photos: where the network found its evidence
  (:class:`~sk_imgcls.inspection.GradCAMDisplay`);
- a learning-rate range test on a clone of the model
  (:class:`~sk_imgcls.inspection.LRFinderDisplay`).

Each figure is also saved as a PNG next to where the example runs. The
EfficientNet-Lite0 ImageNet weights come from a pip package. The photos are
read from ``../shared/data/hymenoptera`` when that folder exists, else
downloaded once by :func:`~sk_imgcls.datasets.fetch_hymenoptera`. Run from the
repository root::

    .venv/bin/python examples/plot_inspection_ants_bees.py
"""

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

from sk_imgcls import TransferClassifier  # noqa: E402
from sk_imgcls.datasets import fetch_hymenoptera, load_image_folder  # noqa: E402
from sk_imgcls.inspection import (  # noqa: E402
    GradCAMDisplay,
    LRFinderDisplay,
    TopLossesDisplay,
    TrainingCurveDisplay,
)

try:
    EXAMPLES = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery runs each example in its folder, without __file__
    EXAMPLES = Path.cwd()
DATA = EXAMPLES.parent / ".." / "shared" / "data" / "hymenoptera"

# A linear probe on the frozen backbone at 224 pixels for a few epochs,
# without test-time flips: enough to learn ants vs bees, quick enough for a
# gallery example.
PARAMS = dict(image_size=224, max_epochs=4, tta=None, num_workers=2, random_state=0)


def _save(figure, name):
    figure.savefig(name, dpi=100, bbox_inches="tight")
    print(f"saved {name}")


# %%
# Training with a validation set
# ------------------------------
# The validation photos are passed to ``fit``, so the history records their
# loss and accuracy after every epoch.
def train(paths_train, y_train, paths_val, y_val):
    return TransferClassifier(**PARAMS).fit(paths_train, y_train, X_val=paths_val, y_val=y_val)


# %%
# Training curves and confusion matrix
# ------------------------------------
# The validation photos are predicted once; scikit-learn's
# ``ConfusionMatrixDisplay`` draws the labels (``from_estimator(clf,
# paths_val, y_val)`` works too, predicting again).
def show_training(clf, y_val, proba_val):
    y_pred = clf.classes_[proba_val.argmax(axis=1)]
    print(f"validation accuracy {(y_pred == y_val).mean():.3f}")
    curves = TrainingCurveDisplay.from_estimator(clf)
    curves.figure_.suptitle("TransferClassifier on ants and bees")
    _save(curves.figure_, "inspection_training_curves.png")
    matrix = ConfusionMatrixDisplay.from_predictions(y_val, y_pred, cmap="Blues")
    matrix.ax_.set_title("Validation photos")
    _save(matrix.figure_, "inspection_confusion_matrix.png")


# %%
# The photos the model gets most wrong
# ------------------------------------
# The validation photos ranked by cross-entropy, with their paths: each is
# captioned with predicted / true label, loss, probability and file name.
# ``top_losses(clf, paths_val, y_val)`` returns the same ranking without a
# figure, and ``TopLossesDisplay.from_estimator`` predicts by itself.
def show_top_losses(clf, paths_val, y_val, proba_val, k=6):
    display = TopLossesDisplay.from_predictions(
        paths_val, y_val, proba_val, classes=clf.classes_, k=k, n_cols=3
    )
    worst = display.result
    for path, true, pred, loss in zip(worst.path, worst.y_true, worst.y_pred, worst.loss):
        print(f"{Path(path).name:<40} true {true:<5} predicted {pred:<5} loss {loss:.2f}")
    _save(display.figure_, "inspection_top_losses.png")
    return worst


# %%
# Grad-CAM: where the evidence is
# -------------------------------
# Heatmaps of the predicted class, from the last convolutional stage of
# EfficientNet-Lite0, mapped back through the resize and center crop onto
# the whole photos (what the crop cut away stays dark): first the top
# losses, then the first correctly classified photos of each class.
def show_grad_cam(clf, paths_val, y_val, proba_val, worst):
    right = clf.classes_[proba_val.argmax(axis=1)] == y_val
    shown = list(worst.index[:3])
    for label in clf.classes_:
        shown += [i for i in range(len(paths_val)) if right[i] and y_val[i] == label][:3]
    display = GradCAMDisplay.from_estimator(clf, paths_val[shown], n_cols=3)
    display.figure_.suptitle("Grad-CAM of the predicted class (top row: top losses)")
    _save(display.figure_, "inspection_grad_cam.png")


# %%
# Learning-rate finder
# --------------------
# The rate grows exponentially, batch after batch, while a clone of the
# model trains; the suggested rate lies on the steepest part of the descent.
# The fitted model is not touched.
def show_lr_finder(paths_train, y_train):
    model = TransferClassifier(**{**PARAMS, "batch_size": 16})
    display = LRFinderDisplay.from_estimator(
        model, paths_train, y_train, start_lr=1e-6, end_lr=10.0, n_steps=30
    )
    print(f"suggested learning rate {display.result_.suggested_lr:.1e}")
    _save(display.figure_, "inspection_lr_finder.png")


# %%
# Run
# ---
def load_photos(data=DATA):
    """The photos beside the repository, else fetched once into scikit-learn's data home."""
    if data.is_dir():
        return (*load_image_folder(data / "train"), *load_image_folder(data / "val"))
    train, val = fetch_hymenoptera(subset="train"), fetch_hymenoptera(subset="val")
    return (
        train.filenames, train.target_names[train.target],
        val.filenames, val.target_names[val.target],
    )


def main(data=DATA):
    start = time.perf_counter()
    paths_train, y_train, paths_val, y_val = load_photos(data)
    clf = train(paths_train, y_train, paths_val, y_val)
    proba_val = clf.predict_proba(paths_val)
    show_training(clf, y_val, proba_val)
    worst = show_top_losses(clf, paths_val, y_val, proba_val)
    show_grad_cam(clf, paths_val, y_val, proba_val, worst)
    show_lr_finder(paths_train, y_train)
    print(f"total {time.perf_counter() - start:.0f} s")
    return clf


if __name__ == "__main__":
    main()
