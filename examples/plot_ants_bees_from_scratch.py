"""
==============================================================
A CNN trained from scratch on photos streamed from their files
==============================================================

The ants-vs-bees photos of the PyTorch transfer-learning tutorial (244
training and 153 validation JPEGs of various sizes, one folder per class)
are read with :func:`~sk_imgcls.datasets.load_image_folder` as file paths
and labels. :class:`~sk_imgcls.CNNClassifier` decodes and resizes them batch
by batch during ``fit`` and ``predict``, so memory does not grow with the
number of photos. With so few images a network trained from scratch does
little better than chance; :ref:`sphx_glr_auto_examples_plot_transfer_ants_bees.py`
shows what a pretrained backbone does with the same photos.

Run from the repository root::

    .venv/bin/python examples/plot_ants_bees_from_scratch.py

The photos are read from ``../shared/data/hymenoptera`` when that folder
exists, else downloaded once by :func:`~sk_imgcls.datasets.fetch_hymenoptera`.
"""

# sphinx_gallery_thumbnail_number = 3
import time
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.metrics import ConfusionMatrixDisplay

from sk_imgcls import CNNClassifier
from sk_imgcls.datasets import fetch_hymenoptera, load_image_folder
from sk_imgcls.preprocessing import ImageLoader

start = time.perf_counter()

# %%
# The photos, as file paths
# -------------------------
# Each class is a folder; the labels are the folder names.
try:
    EXAMPLES = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery runs each example in its folder, without __file__
    EXAMPLES = Path.cwd()
DATA = EXAMPLES.parent / ".." / "shared" / "data" / "hymenoptera"

if DATA.is_dir():
    paths_train, y_train = load_image_folder(DATA / "train")
    paths_val, y_val = load_image_folder(DATA / "val")
else:
    train, val = fetch_hymenoptera(subset="train"), fetch_hymenoptera(subset="val")
    paths_train, y_train = train.filenames, train.target_names[train.target]
    paths_val, y_val = val.filenames, val.target_names[val.target]
print(f"train: {len(paths_train)} photos, validation: {len(paths_val)} photos")

# %%
# ``image_size=(96, 96)`` will resize every photo to 96x96 pixels as it is
# decoded. :class:`~sk_imgcls.preprocessing.ImageLoader` does the same
# decoding in a Pipeline; here it shows a few training photos at that size.
every = len(paths_train) // 8
images = ImageLoader(size=(96, 96)).transform(paths_train[::every][:8])
fig, axes = plt.subplots(1, 8, figsize=(12, 2))
for ax, image, label in zip(axes, images, y_train[::every]):
    ax.imshow(image)
    ax.set_title(label)
    ax.axis("off")
fig.suptitle("Training photos as the CNN gets them (96x96)")
fig.tight_layout()

# %%
# Training on the paths
# ---------------------
# The classifier takes the paths as X; ``num_workers=2`` decodes the JPEGs in
# two processes beside the training.
clf = CNNClassifier(
    depth=4,
    width=16,
    residual=True,
    image_size=(96, 96),
    max_epochs=20,
    num_workers=2,
    random_state=0,
)
clf.fit(paths_train, y_train)
accuracy = clf.score(paths_val, y_val)
print(f"from-scratch CNN validation accuracy: {accuracy:.3f}")

# %%
# ``history_`` holds the training loss of each epoch: the network fits the
# 244 training photos, which is not the same as learning what an ant is.
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(range(1, clf.n_iter_ + 1), clf.history_[:, "train_loss"], marker=".")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss (cross-entropy)")
ax.set_title("CNNClassifier trained from scratch")
fig.tight_layout()

# %%
# On the validation photos, the confusion matrix shows where the errors go.
fig, ax = plt.subplots(figsize=(4.5, 4))
ConfusionMatrixDisplay.from_predictions(y_val, clf.predict(paths_val), ax=ax, colorbar=False)
ax.set_title(f"Validation photos (accuracy {accuracy:.3f})")
fig.tight_layout()
print(f"wall time: {time.perf_counter() - start:.1f} s")
