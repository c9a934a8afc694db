"""Path-streamed training throughput: CNNClassifier on file paths against ImageFolder + DataLoader.

The 5,000 JPEGs of ``bench_decode`` (200-500 pixels a side, two class
folders, generated once into ``benchmarks/_data/`` and reused) are decoded,
resized to 64x64 RGB and used to train the same network for one epoch, with
the same number of decoding worker processes:

- ``CNNClassifier``: ``fit(paths, y)`` with ``image_size=64`` and
  ``num_workers=2``, as a user calls it (it also estimates the per-channel
  statistics from 256 decoded images);
- ``hand-written``: ``torchvision.datasets.ImageFolder`` with
  ``v2.Compose([v2.Resize((64, 64)), v2.PILToTensor()])``, a shuffling
  ``DataLoader(batch_size=32, num_workers=2)``, and the zero_grad / forward /
  ``CrossEntropyLoss`` / backward / Adam step loop over
  ``sk_imgcls._cnn.CNN``.

"vs hand-written" is the median over rounds of the hand-written time divided
by the contender's time in the same round: above 1.0 the contender is faster.

Run from the repository root: ``python -m benchmarks.bench_paths [--rounds N]``.
"""

import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from sk_imgcls import CNNClassifier
from sk_imgcls._cnn import CNN
from sk_imgcls.datasets import load_image_folder

from .bench_decode import make_folder
from .common import median, paired_ratio, parse_args, print_machine, print_table, run_interleaved, spread

SIDE = 64
N_WORKERS = 2
BATCH_SIZE = 32
DEPTH = 2
WIDTH = 32
LR = 1e-3
ROUNDS = 3
SEED = 0

COLUMNS = [
    ("contender", "contender"),
    ("rounds", "rounds"),
    ("median_s", "median s"),
    ("spread", "spread"),
    ("images_per_s", "images/s"),
    ("vs_hand_written", "vs hand-written"),
]


def fit_cnn_classifier(paths, y):
    """The estimator under test, on file paths."""
    clf = CNNClassifier(
        depth=DEPTH,
        width=WIDTH,
        image_size=SIDE,
        batch_size=BATCH_SIZE,
        lr=LR,
        max_epochs=1,
        num_workers=N_WORKERS,
        random_state=SEED,
    )
    return clf.fit(paths, y)


def fit_hand_written(root):
    """torchvision's ImageFolder and a DataLoader feeding the same network."""
    torch.manual_seed(SEED)
    dataset = ImageFolder(root, transform=v2.Compose([v2.Resize((SIDE, SIDE)), v2.PILToTensor()]))
    loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True, num_workers=N_WORKERS)
    module = CNN(
        (SIDE, SIDE, 3),
        len(dataset.classes),
        depth=DEPTH,
        width=WIDTH,
        residual=False,
        dropout=0.2,
        mean=[127.5] * 3,
        std=[64.0] * 3,
    )
    optimizer = torch.optim.Adam(module.parameters(), lr=LR)
    criterion = torch.nn.CrossEntropyLoss()
    module.train()
    for images, targets in loader:
        optimizer.zero_grad()
        # (N, 3, H, W) -> the (N, H, W, 3) layout CNN takes.
        loss = criterion(module(images.permute(0, 2, 3, 1)), targets)
        loss.backward()
        optimizer.step()
    return module


def main(rounds=None):
    """Time both contenders; print a table and return its rows."""
    rounds = rounds or ROUNDS
    root = make_folder()
    paths, y = load_image_folder(root)
    contenders = [
        ("hand-written (ImageFolder + DataLoader)", lambda: fit_hand_written(root)),
        ("CNNClassifier.fit(paths)", lambda: fit_cnn_classifier(paths, y)),
    ]
    # Warm up on a few hundred images: oneDNN primitives, worker start-up paths.
    warm = np.arange(0, len(paths), max(1, len(paths) // 256))
    times = run_interleaved(
        contenders,
        rounds=rounds,
        warmup={contenders[1][0]: lambda: fit_cnn_classifier(paths[warm], y[warm])},
    )
    baseline = contenders[0][0]
    rows = [
        {
            "benchmark": "paths",
            "contender": name,
            "rounds": len(times[name]),
            "median_s": median(times[name]),
            "spread": spread(times[name]),
            "images_per_s": len(paths) / median(times[name]),
            "vs_hand_written": paired_ratio(times, baseline, name),
        }
        for name, _ in contenders
    ]
    print_table(
        rows,
        COLUMNS,
        title=(
            f"Path-streamed training: {len(paths):,} JPEGs decoded to {SIDE}x{SIDE} RGB, "
            f"depth={DEPTH}, width={WIDTH}, batch_size={BATCH_SIZE}, Adam, 1 epoch, "
            f"num_workers={N_WORKERS}, {rounds} interleaved rounds"
        ),
        notes=["target for CNNClassifier: vs hand-written >= 1.0."],
    )
    return rows


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    print_machine()
    main(args.rounds)
