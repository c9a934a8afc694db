"""Decoding throughput of ImageLoader against torchvision's ImageFolder and DataLoader.

A folder of 5,000 JPEGs of random sizes between 200 and 500 pixels per side
(two class folders, generated once into ``benchmarks/_data/`` and reused) is
decoded and resized to 64x64 RGB uint8 by:

- ``ImageLoader(size=(64, 64), n_jobs=2)``: ``transform`` of the paths listed
  by ``load_image_folder``, two decoding threads, one (n, 64, 64, 3) array;
- ``torchvision ImageFolder + DataLoader``: ``ImageFolder`` with
  ``v2.Compose([v2.Resize((64, 64)), v2.PILToTensor()])``, iterated by a
  ``DataLoader(batch_size=64, num_workers=2)`` and concatenated into one
  (n, 3, 64, 64) tensor. Once with new worker processes per pass (the
  default, ``persistent_workers=False``) and once with persistent workers
  started during warm-up.

Both decode with Pillow and resize with Pillow's antialiased bilinear filter:
the run checks that they give the same pixels. Each timed call includes
listing the folder. "vs torchvision" is the median over rounds of the
contender's images/s divided by that of the DataLoader with new workers in
the same round, "vs persistent workers" the same against the DataLoader with
persistent workers: above 1.0 the contender is faster.

Run from the repository root: ``python -m benchmarks.bench_decode [--rounds N]``.
"""

import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from sk_imgcls.datasets import load_image_folder
from sk_imgcls.preprocessing._loader import ImageLoader

from .common import (
    median,
    paired_ratio,
    parse_args,
    print_machine,
    print_table,
    run_interleaved,
    spread,
)

N_IMAGES = 5000
SIDES = (200, 500)
QUALITY = 90
SIZE = (64, 64)
N_WORKERS = 2
BATCH_SIZE = 64
ROUNDS = 5
SEED = 0
DATA = Path(__file__).resolve().parent / "_data" / "decode_jpegs"
SPEC = {"n_images": N_IMAGES, "sides": list(SIDES), "quality": QUALITY, "seed": SEED}

COLUMNS = [
    ("contender", "contender"),
    ("median_s", "median s"),
    ("spread", "spread"),
    ("images_per_s", "images/s"),
    ("vs_torchvision", "vs torchvision"),
    ("vs_persistent", "vs persistent workers"),
]


def _photo_like(rng, height, width):
    """Smooth color field with fine noise: compresses and decodes like a photo."""
    coarse = rng.integers(0, 256, (height // 32 + 2, width // 32 + 2, 3), dtype=np.uint8)
    smooth = np.asarray(
        Image.fromarray(coarse).resize((width, height), resample=Image.Resampling.BICUBIC),
        dtype=np.int16,
    )
    noise = rng.integers(-12, 13, (height, width, 3), dtype=np.int16)
    return Image.fromarray(np.clip(smooth + noise, 0, 255).astype(np.uint8))


def make_folder(root=DATA):
    """Write the JPEGs into ``root/<class>/``, unless a complete copy is there already."""
    marker = root / "spec.json"
    if marker.exists() and json.loads(marker.read_text()) == SPEC:
        return root
    rng = np.random.default_rng(SEED)
    for i in range(N_IMAGES):
        folder = root / f"class_{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        height, width = rng.integers(SIDES[0], SIDES[1] + 1, size=2)
        _photo_like(rng, int(height), int(width)).save(folder / f"{i:05d}.jpg", quality=QUALITY)
    marker.write_text(json.dumps(SPEC))
    return root


def image_loader(root):
    """Decode the folder with ImageLoader."""
    paths, _ = load_image_folder(root)
    return ImageLoader(size=SIZE, n_jobs=N_WORKERS).transform(paths)


def _image_folder(root):
    transform = v2.Compose([v2.Resize(SIZE), v2.PILToTensor()])
    return ImageFolder(root, transform=transform)


def torchvision_loader(root):
    """Decode the folder with ImageFolder and a DataLoader starting new workers."""
    loader = DataLoader(_image_folder(root), batch_size=BATCH_SIZE, num_workers=N_WORKERS)
    return torch.cat([images for images, _ in loader])


class PersistentLoader:
    """A DataLoader whose workers outlive each pass, as with persistent_workers=True."""

    def __init__(self, root):
        self.root = root
        self.loader = None

    def __call__(self):
        if self.loader is None:
            self.loader = DataLoader(
                _image_folder(self.root),
                batch_size=BATCH_SIZE,
                num_workers=N_WORKERS,
                persistent_workers=True,
            )
        return torch.cat([images for images, _ in self.loader])


def main():
    args = parse_args(__doc__.splitlines()[0])
    rounds = args.rounds or ROUNDS
    print_machine()
    root = make_folder()
    n_images = len(load_image_folder(root)[0])

    ours = image_loader(root)
    theirs = torchvision_loader(root).permute(0, 2, 3, 1).numpy()
    same = np.array_equal(ours, theirs)
    persistent = PersistentLoader(root)
    contenders = [
        ("ImageLoader(n_jobs=2)", lambda: image_loader(root)),
        ("ImageFolder + DataLoader(num_workers=2)", lambda: torchvision_loader(root)),
        ("ImageFolder + DataLoader(num_workers=2, persistent_workers=True)", persistent),
    ]
    times = run_interleaved(contenders, rounds=rounds)
    baseline, persistent_name = contenders[1][0], contenders[2][0]
    rows = [
        {
            "contender": name,
            "median_s": median(times[name]),
            "spread": spread(times[name]),
            "images_per_s": n_images / median(times[name]),
            "vs_torchvision": paired_ratio(times, baseline, name),
            "vs_persistent": paired_ratio(times, persistent_name, name),
        }
        for name, _ in contenders
    ]
    print_table(
        rows,
        COLUMNS,
        title=(
            f"Decode + resize {n_images:,} JPEGs ({SIDES[0]}-{SIDES[1]} px a side) "
            f"to {SIZE[0]}x{SIZE[1]} RGB uint8, {rounds} interleaved rounds"
        ),
        notes=[
            f"Same pixels from ImageLoader and torchvision: {same}.",
            f"Images in {os.path.relpath(root)}; spread is (max - min) / median of "
            "the rounds; vs torchvision (vs persistent workers) is the median over "
            "rounds of the speed relative to the DataLoader with new (persistent) "
            "workers in the same round: above 1.0 is faster.",
        ],
    )


if __name__ == "__main__":
    main()
