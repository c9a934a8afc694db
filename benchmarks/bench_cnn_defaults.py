"""How CNNClassifier's defaults were chosen: accuracy and fit time on several data sets.

Each contender is a ``CNNClassifier`` with its defaults but for what its name
says, fitted on the training images and scored on held-out ones; "fit s" is
the wall time of ``fit``, in one process.

Data sets:

- ``digits``: scikit-learn's 8x8 digits, stratified 75/25 split with
  ``random_state=0`` (``SVC(gamma=0.001)`` scores 0.991 on it);
- ``fashion_mnist``: the 60,000 training and 10,000 test images of
  Fashion-MNIST (the Debian package ``dataset-fashion-mnist`` or
  ``fetch_fashion_mnist``'s cache);
- ``fashion_mnist_6k``: 6,000 training and 4,000 test images of it (random,
  seed 0): a small set of 28x28 images;
- ``fashion_mnist_6k_rgb``: the same as 3-channel images (gray in each);
- ``ants_bees_64``: the ants-vs-bees photos (244 training, 153 validation,
  ``../shared/data/hymenoptera``) as file paths, with ``image_size=64``;
- ``ants_bees_32``: the same at ``image_size=32``, standing for small colour
  photos;
- ``sample_patches``: 32x32 patches of scikit-learn's two sample photos,
  labelled by photo and quadrant (8 classes, 312 training and 208 test
  patches; ``common.sample_image_patches``): small colour images of parts
  of a scene.

Contenders (names as printed):

- ``default``: ``CNNClassifier()``;
- ``constant lr``: ``lr_schedule=None`` (the schedule before 2026-12-03);
- ``12 epochs``: ``max_epochs=12``;
- ``30 epochs, constant lr``: ``max_epochs=30, lr_schedule=None``, the
  default before 2026-12-03.
- ``label smoothing 0.1``: ``label_smoothing=0.1``;
- ``batch 64`` and ``batch 64, lr 2e-3``: ``batch_size=64`` (with
  ``lr=2e-3``);
- ``adamw 5e-4``: ``optimizer="adamw", weight_decay=5e-4``;
- ``augment light``: ``augment="light"`` (random shifts by up to an eighth
  of the side, and horizontal flips).
- ``head avg`` and ``head flatten``: ``head="avg"`` (global average
  pooling, the only head before 2026-12-03) and ``head="flatten"``.
- ``60 epochs``, ``60 epochs, augment light``, ``width 16, 60 epochs``:
  twice the epochs "auto" gives a small set (with light augmentation, or
  half the channels in every block); ``width 16``: half the channels;
- ``12 epochs, tta flip``: ``max_epochs=12, tta="flip"`` (predictions
  average each image and its mirror image).
- ``tuned, bf16, 12 epochs``: the tuned setting of
  ``bench_fashion_mnist`` (``residual=True, augment="light",
  optimizer="adamw", lr=3e-3, weight_decay=5e-4, lr_schedule="onecycle",
  batch_size=128, tta="flip"``) in ``mixed_precision="bf16"`` (a CPU with
  AVX-512 BF16 or AMX; float32 with a warning elsewhere), 12 epochs;
  ``tuned, bf16, width 24, 18 epochs``: the same with 24 channels in the
  first block instead of 32, for 18 epochs.

``--per-epoch`` prints the test accuracy after every epoch (a callback that
runs ``module_`` on the test images; the fit time then includes it).

Run from the repository root (F-MNIST's 60,000 images take about 8 minutes
per contender; pick data sets, contenders and seeds)::

    .venv/bin/python -m benchmarks.bench_cnn_defaults [--data NAME ...] [--only NAME ...] \\
        [--seeds 0 1 2]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch.callbacks import Callback

from sk_imgcls import CNNClassifier
from sk_imgcls.datasets import fetch_fashion_mnist, load_image_folder

from .common import print_machine, print_table, sample_image_patches

HYMENOPTERA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hymenoptera"


def _digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X.reshape(-1, 8, 8), y, test_size=0.25, stratify=y, random_state=0
    )
    return X_train, y_train, X_test, y_test, {}


def _fashion_mnist(n_train=None, n_test=None):
    train = fetch_fashion_mnist(subset="train", download_if_missing=False)
    test = fetch_fashion_mnist(subset="test", download_if_missing=False)
    rng = np.random.RandomState(0)
    train_rows = rng.permutation(len(train.images))[:n_train]
    test_rows = rng.permutation(len(test.images))[:n_test]
    return (
        train.images[train_rows], train.target[train_rows],
        test.images[test_rows], test.target[test_rows], {},
    )


def _rgb(data):
    X_train, y_train, X_test, y_test, params = data
    return np.repeat(X_train[..., None], 3, -1), y_train, np.repeat(X_test[..., None], 3, -1), y_test, params


def _ants_bees(size):
    X_train, y_train = load_image_folder(HYMENOPTERA / "train")
    X_test, y_test = load_image_folder(HYMENOPTERA / "val")
    return X_train, y_train, X_test, y_test, {"image_size": size}


class TestAccuracy(Callback):
    """Print the accuracy of the network on in-memory test images after each epoch."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def on_epoch_end(self, net, **kwargs):
        images = torch.as_tensor(self.X)
        if images.ndim == 3:
            images = images.unsqueeze(-1)
        net.module_.eval()
        with torch.no_grad():
            predicted = torch.cat([
                net.module_(images[i : i + 1000]).argmax(1) for i in range(0, len(images), 1000)
            ])
        net.module_.train()
        accuracy = np.mean(predicted.numpy() == np.asarray(self.y))
        print(f"  epoch {len(net.history)}: test accuracy {accuracy:.4f}", flush=True)


DATA = {
    "digits": _digits,
    "fashion_mnist": _fashion_mnist,
    "fashion_mnist_6k": lambda: _fashion_mnist(6000, 4000),
    "fashion_mnist_6k_rgb": lambda: _rgb(_fashion_mnist(6000, 4000)),
    "ants_bees_64": lambda: _ants_bees(64),
    "ants_bees_32": lambda: _ants_bees(32),
    "sample_patches": lambda: (*sample_image_patches(), {}),
}

# The tuned Fashion-MNIST setting of bench_fashion_mnist (residual blocks,
# light augmentation with flips, AdamW, one-cycle schedule, batches of 128,
# flip TTA), with its epochs and precision given by each contender.
TUNED = {
    "residual": True, "augment": "light", "optimizer": "adamw", "lr": 3e-3,
    "weight_decay": 5e-4, "lr_schedule": "onecycle", "batch_size": 128, "tta": "flip",
}

CONTENDERS = {
    "default": {},
    "constant lr": {"lr_schedule": None},
    "12 epochs": {"max_epochs": 12},
    "30 epochs, constant lr": {"max_epochs": 30, "lr_schedule": None},
    "label smoothing 0.1": {"label_smoothing": 0.1},
    "batch 64": {"batch_size": 64},
    "batch 64, lr 2e-3": {"batch_size": 64, "lr": 2e-3},
    "adamw 5e-4": {"optimizer": "adamw", "weight_decay": 5e-4},
    "augment light": {"augment": "light"},
    "head avg": {"head": "avg"},
    "head flatten": {"head": "flatten"},
    "60 epochs": {"max_epochs": 60},
    "60 epochs, augment light": {"max_epochs": 60, "augment": "light"},
    "width 16, 60 epochs": {"width": 16, "max_epochs": 60},
    "width 16": {"width": 16},
    "12 epochs, tta flip": {"max_epochs": 12, "tta": "flip"},
    "tuned, bf16, 12 epochs": {**TUNED, "max_epochs": 12, "mixed_precision": "bf16"},
    "tuned, bf16, width 24, 18 epochs": {
        **TUNED, "width": 24, "max_epochs": 18, "mixed_precision": "bf16"
    },
}


def main(data_names=None, contender_names=None, seeds=(0,), per_epoch=False):
    print_machine()
    rows = []
    for data_name in data_names or DATA:
        X_train, y_train, X_test, y_test, data_params = DATA[data_name]()
        for name in contender_names or CONTENDERS:
            for seed in seeds:
                callbacks = [TestAccuracy(X_test, y_test)] if per_epoch else None
                clf = CNNClassifier(
                    random_state=seed, callbacks=callbacks, **data_params, **CONTENDERS[name]
                )
                start = time.perf_counter()
                clf.fit(X_train, y_train)
                fit_seconds = time.perf_counter() - start
                rows.append({
                    "data": data_name,
                    "model": name,
                    "seed": seed,
                    "epochs": clf.n_iter_,
                    "accuracy": round(clf.score(X_test, y_test), 4),
                    "fit s": round(fit_seconds, 1),
                })
                print(rows[-1], flush=True)
    print_table(rows, ["data", "model", "seed", "epochs", "accuracy", "fit s"],
                title="CNNClassifier defaults")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", choices=list(DATA))
    parser.add_argument("--only", nargs="*", choices=list(CONTENDERS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--per-epoch", action="store_true",
                        help="print the test accuracy after every epoch (in-memory data)")
    args = parser.parse_args()
    main(args.data, args.only, tuple(args.seeds), args.per_epoch)
