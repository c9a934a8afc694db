"""Fit throughput of CNNClassifier against a hand-written loop and plain skorch.

The network is the classic Keras-tutorial scale: two conv blocks of 32 and 64
channels, Adam, batch size 32, on synthetic uint8 images of 8x8 (digits) and
28x28 (MNIST) grayscale and 64x64 RGB pixels (photos: the channels-last
path).  The three contenders train the same module,
``sk_imgcls._cnn.CNN``, for the same epochs:

- ``CNNClassifier``: ``fit`` on the NumPy array, validation included;
- ``hand-written``: ``torch.randperm`` shuffling over in-memory tensors,
  ``zero_grad`` / forward / ``CrossEntropyLoss`` / ``backward`` / ``step``;
- ``skorch NeuralNetClassifier``: its defaults (per-sample ``Dataset``
  indexing and collation by a ``DataLoader``, ``EpochScoring`` callbacks),
  with ``train_split=None`` and shuffling like the others, and
  ``CrossEntropyLoss`` since the module returns logits.

All include the per-channel mean and standard deviation pass over the
training images. "vs hand-written" is the median over rounds of the
hand-written time divided by the contender's time in the same round: above
1.0 the contender is faster.

Run from the repository root: ``python -m benchmarks.bench_fit [--rounds N]``.
"""

import numpy as np
import torch
from skorch import NeuralNetClassifier

from sk_imgcls import CNNClassifier
from sk_imgcls._cnn import CNN

from .common import (
    best_ratio,
    median,
    paired_ratio,
    parse_args,
    print_machine,
    print_table,
    run_interleaved,
    spread,
)

# (name, side in pixels, channels, training images): with MAX_EPOCHS, a
# round of each contender takes 0.3-2 s with 2 threads on an idle 2-core
# machine.
CASES = [("8x8", 8, 1, 4000), ("28x28", 28, 1, 4000), ("64x64x3", 64, 3, 1000)]
N_CLASSES = 10
DEPTH = 2
WIDTH = 32
DROPOUT = 0.2  # CNNClassifier's default
BATCH_SIZE = 32
LR = 1e-3
MAX_EPOCHS = 2
ROUNDS = 7
# Per case: no new round starts after this many seconds (a loaded machine).
MAX_SECONDS = 60
N_WARMUP = 256
SEED = 0

COLUMNS = [
    ("case", "images"),
    ("contender", "contender"),
    ("n_images", "n x epochs"),
    ("rounds", "rounds"),
    ("median_s", "median s"),
    ("spread", "spread"),
    ("images_per_s", "images/s"),
    ("vs_hand_written", "vs hand-written"),
    ("best_vs_hand_written", "best vs hand-written"),
]


def make_data(side, n_samples, channels=1, seed=SEED):
    """Random uint8 images and int64 labels in [0, 10).

    Images are (n_samples, side, side) for one channel, else
    (n_samples, side, side, channels).
    """
    rng = np.random.default_rng(seed)
    shape = (n_samples, side, side) + ((channels,) if channels > 1 else ())
    X = rng.integers(0, 256, size=shape, dtype=np.uint8)
    y = rng.integers(0, N_CLASSES, size=n_samples).astype(np.int64)
    return X, y


def _module_and_data(X, y):
    """Channels-last uint8 tensor view, labels, and a CNN built as CNNClassifier builds it."""
    images = torch.from_numpy(X)
    if images.ndim == 3:
        images = images.unsqueeze(-1)
    targets = torch.from_numpy(y)
    pixels = images.to(torch.float32)
    mean = pixels.mean(dim=(0, 1, 2))
    std = pixels.std(dim=(0, 1, 2), correction=0)
    module = CNN(
        tuple(images.shape[1:]),
        N_CLASSES,
        depth=DEPTH,
        width=WIDTH,
        residual=False,
        dropout=DROPOUT,
        mean=mean,
        std=std,
    )
    return module, images, targets


def fit_hand_written(X, y):
    """The PyTorch loop a user would write around the same module."""
    torch.manual_seed(SEED)
    module, images, targets = _module_and_data(X, y)
    optimizer = torch.optim.Adam(module.parameters(), lr=LR)
    criterion = torch.nn.CrossEntropyLoss()
    module.train()
    for _ in range(MAX_EPOCHS):
        for idx in torch.randperm(len(images)).split(BATCH_SIZE):
            optimizer.zero_grad()
            loss = criterion(module(images[idx]), targets[idx])
            loss.backward()
            optimizer.step()
    return module


def fit_skorch(X, y):
    """skorch's NeuralNetClassifier with its defaults, no validation split, shuffled."""
    torch.manual_seed(SEED)
    module, images, _ = _module_and_data(X, y)
    net = NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=LR,
        batch_size=BATCH_SIZE,
        max_epochs=MAX_EPOCHS,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
    )
    return net.fit(images, y)


def fit_cnn_classifier(X, y):
    """The estimator under test, as a user calls it."""
    clf = CNNClassifier(
        depth=DEPTH,
        width=WIDTH,
        batch_size=BATCH_SIZE,
        lr=LR,
        max_epochs=MAX_EPOCHS,
        random_state=SEED,
    )
    return clf.fit(X, y)


CONTENDERS = [
    ("hand-written", fit_hand_written),
    ("CNNClassifier", fit_cnn_classifier),
    ("skorch NeuralNetClassifier", fit_skorch),
]


def main(rounds=None):
    """Time the contenders on each case; print a table and return its rows."""
    rounds = rounds or ROUNDS
    rows = []
    for case, side, channels, n_samples in CASES:
        X, y = make_data(side, n_samples, channels)
        Xw, yw = X[:N_WARMUP], y[:N_WARMUP]
        times = run_interleaved(
            [(name, lambda fn=fn: fn(X, y)) for name, fn in CONTENDERS],
            rounds=rounds,
            warmup={name: (lambda fn=fn: fn(Xw, yw)) for name, fn in CONTENDERS},
            max_seconds=MAX_SECONDS,
        )
        n_images = n_samples * MAX_EPOCHS
        for name, _ in CONTENDERS:
            t = median(times[name])
            rows.append(
                {
                    "benchmark": "fit",
                    "case": case,
                    "contender": name,
                    "n_images": n_images,
                    "rounds": len(times[name]),
                    "median_s": t,
                    "spread": spread(times[name]),
                    "images_per_s": n_images / t,
                    "vs_hand_written": paired_ratio(times, "hand-written", name),
                    "best_vs_hand_written": best_ratio(times, "hand-written", name),
                }
            )
    print_table(
        rows,
        COLUMNS,
        title=(
            f"fit: depth={DEPTH}, width={WIDTH}, batch_size={BATCH_SIZE}, Adam, "
            f"{MAX_EPOCHS} epochs, up to {rounds} interleaved rounds"
        ),
        notes=[
            "vs hand-written: median over rounds of t(hand-written) / t(contender); "
            "target for CNNClassifier >= 1.0. best vs hand-written: fastest hand-written round / "
            "the contender's fastest round (the least disturbed of each). spread: (max - min) / "
            "median of the round times."
        ],
    )
    return rows


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    print_machine()
    main(args.rounds)
