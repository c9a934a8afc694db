"""How TransferClassifier's and PretrainedFeatures' defaults were chosen: accuracy and time.

On each data set, ``PretrainedFeatures(image_size=s)`` + ``LogisticRegression``
(the reference linear probe) and ``TransferClassifier`` variants, all on the
offline EfficientNet-Lite0 weights, fitted on the training images and scored
on held-out ones; "seconds" is fit plus score, wall time, in one process.

Data sets (the first three need ``../shared/data/hymenoptera``):

- ``ants_bees``: the photos of the PyTorch transfer-learning tutorial, as
  file paths (244 training, 153 validation);
- ``ants_bees_64``, ``ants_bees_32``: the same photos decoded and shrunk to
  64x64 and 32x32 (bicubic), as uint8 arrays: small colour photos;
- ``fashion_mnist``: 2,000 training and 1,000 test images of Fashion-MNIST
  (random, seed 0), 28x28 grayscale repeated to RGB (the Debian package
  ``dataset-fashion-mnist`` or ``fetch_fashion_mnist``'s cache);
  ``fashion_mnist_seed1`` and ``_seed2``: two other random subsets of the
  same sizes (seeds 1 and 2);
- ``digits``: scikit-learn's 8x8 digits (stratified 75/25 split,
  ``random_state=0``), scaled to 0-255 and repeated to RGB: tiny images;
- ``sample_patches``: 32x32 patches of scikit-learn's two sample photos,
  labelled by photo and quadrant (8 classes, 312 training and 208 test
  patches; ``common.sample_image_patches``): small colour images of parts
  of a scene, not of one object.

Contenders (names as printed):

- ``features 224px``, ``features 288px``: ``PretrainedFeatures(image_size=...)``
  then ``LogisticRegression(max_iter=2000)``;
- ``transfer``: ``TransferClassifier()`` (its defaults);
- ``transfer 224px``, ``transfer 288px``: ``TransferClassifier(image_size=...)``
  (the default ``image_size="auto"`` takes 288 for images of at least 224
  pixels, 224 for smaller ones);
- ``transfer, no tta``: ``TransferClassifier(tta=None)`` (trained on the
  mirrored views, predicting from the image alone);
- ``transfer, 8 epochs``: ``TransferClassifier(max_epochs=8)``;
- ``transfer, no mirror view``: ``TransferClassifier(horizontal_flip=False, max_epochs=8)``;
- ``transfer, per-epoch backbone``: ``TransferClassifier(augment="light",
  max_epochs=8)``, the default before 2026-12-03 (the backbone runs over
  every augmented image of every epoch).

Run from the repository root (about 25 minutes for all; pick data sets and
contenders by name)::

    .venv/bin/python -m benchmarks.bench_transfer_defaults [--data NAME ...] [--only NAME ...]
"""

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sk_imgcls import PretrainedFeatures, TransferClassifier
from sk_imgcls.datasets import fetch_fashion_mnist, load_image_folder

from .common import print_machine, print_table, sample_image_patches

HYMENOPTERA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hymenoptera"


def _shrink(paths, side):
    return np.stack([
        np.asarray(Image.open(p).convert("RGB").resize((side, side), Image.BICUBIC))
        for p in paths
    ])


def _ants_bees(side=None):
    X_train, y_train = load_image_folder(HYMENOPTERA / "train")
    X_test, y_test = load_image_folder(HYMENOPTERA / "val")
    if side is not None:
        X_train, X_test = _shrink(X_train, side), _shrink(X_test, side)
    return X_train, y_train, X_test, y_test


def _rgb(images):
    return np.repeat(images[..., None], 3, axis=-1)


def _fashion_mnist(n_train=2000, n_test=1000, seed=0):
    train, test = fetch_fashion_mnist(subset="train"), fetch_fashion_mnist(subset="test")
    rng = np.random.RandomState(seed)
    i = rng.choice(len(train.target), n_train, replace=False)
    j = rng.choice(len(test.target), n_test, replace=False)
    return _rgb(train.images[i]), train.target[i], _rgb(test.images[j]), test.target[j]


def _digits():
    X, y = load_digits(return_X_y=True)
    images = _rgb(np.round(X.reshape(-1, 8, 8) * (255 / 16)).astype(np.uint8))
    X_train, X_test, y_train, y_test = train_test_split(
        images, y, test_size=0.25, stratify=y, random_state=0
    )
    return X_train, y_train, X_test, y_test


DATA = {
    "ants_bees": _ants_bees,
    "ants_bees_64": lambda: _ants_bees(64),
    "ants_bees_32": lambda: _ants_bees(32),
    "fashion_mnist": _fashion_mnist,
    "fashion_mnist_seed1": lambda: _fashion_mnist(seed=1),
    "fashion_mnist_seed2": lambda: _fashion_mnist(seed=2),
    "digits": _digits,
    "sample_patches": sample_image_patches,
}


def _features(image_size):
    return make_pipeline(
        PretrainedFeatures(image_size=image_size, num_workers=2),
        LogisticRegression(max_iter=2000),
    )


CONTENDERS = {
    "features 224px": lambda: _features(224),
    "features 288px": lambda: _features(288),
    "transfer": lambda: TransferClassifier(num_workers=2, random_state=0),
    "transfer 224px": lambda: TransferClassifier(image_size=224, num_workers=2, random_state=0),
    "transfer 288px": lambda: TransferClassifier(image_size=288, num_workers=2, random_state=0),
    "transfer, no tta": lambda: TransferClassifier(tta=None, num_workers=2, random_state=0),
    "transfer, 8 epochs": lambda: TransferClassifier(max_epochs=8, num_workers=2, random_state=0),
    "transfer, no mirror view": lambda: TransferClassifier(
        horizontal_flip=False, max_epochs=8, num_workers=2, random_state=0
    ),
    "transfer, per-epoch backbone": lambda: TransferClassifier(
        augment="light", max_epochs=8, num_workers=2, random_state=0
    ),
}


def main(data_names=None, contender_names=None):
    print_machine()
    rows = []
    for data_name in data_names or DATA:
        X_train, y_train, X_test, y_test = DATA[data_name]()
        for name in contender_names or CONTENDERS:
            model = CONTENDERS[name]()
            start = time.perf_counter()
            model.fit(X_train, y_train)
            accuracy = model.score(X_test, y_test)
            rows.append({
                "data": data_name,
                "model": name,
                "accuracy": round(accuracy, 3),
                "seconds": round(time.perf_counter() - start, 1),
            })
            print(rows[-1], flush=True)
    print_table(rows, ["data", "model", "accuracy", "seconds"],
                title="Transfer defaults (fit + score)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", choices=list(DATA))
    parser.add_argument("--only", nargs="*", choices=list(CONTENDERS))
    args = parser.parse_args()
    main(args.data, args.only)
