"""
=============================================================
A CNN trained from scratch on photos streamed from their files
=============================================================

The ants-vs-bees photos of the PyTorch transfer-learning tutorial (244
training and 153 validation JPEGs of various sizes, one folder per class)
are read with :func:`~sk_imgcls.datasets.load_image_folder` as file paths
and labels. :class:`~sk_imgcls.CNNClassifier` decodes and resizes them batch
by batch during ``fit`` and ``predict``, so memory does not grow with the
number of photos. With so few images a network trained from scratch does
little better than chance; ``plot_transfer_ants_bees.py`` shows what a
pretrained backbone does with the same photos.

Run from the repository root, with ``../shared/data/hymenoptera`` present::

    .venv/bin/python examples/plot_ants_bees_from_scratch.py
"""

import time
from pathlib import Path

from sk_imgcls import CNNClassifier
from sk_imgcls.datasets import load_image_folder

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hymenoptera"


def main(data=DATA):
    if not data.is_dir():
        print(f"The photos are not at {data.resolve()}; nothing to do.")
        return None
    start = time.perf_counter()
    paths_train, y_train = load_image_folder(data / "train")
    paths_val, y_val = load_image_folder(data / "val")
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
    print(f"train: {len(paths_train)} photos, validation: {len(paths_val)} photos")
    print(f"from-scratch CNN validation accuracy: {accuracy:.3f}")
    print(f"wall time: {time.perf_counter() - start:.1f} s")
    return accuracy


if __name__ == "__main__":
    main()
