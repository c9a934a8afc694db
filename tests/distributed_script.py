"""One process of a data-parallel fit, as a user's script run by torchrun.

Run by ``tests/test_distributed.py`` under ``python -m torch.distributed.run
--nproc_per_node=2`` or with the launcher's environment variables set by the
test itself. ``python distributed_script.py MODE OUT_DIR [BATCH_SIZE]``
writes ``OUT_DIR/rank{RANK}.npz``: the fitted weights, the held-out accuracy
and the per-epoch losses.

Modes:

- ``fit``: CNNClassifier on scikit-learn's digits (stratified 75/25, rs=0);
- ``mismatch``: rank 1 leaves out its last training image;
- ``raise``: rank 1 raises in the middle of its second epoch;
- ``hang``: rank 1 raises in its second epoch, then stays alive without
  answering (the process group is initialized here with a 10 s timeout);
- ``features``: PretrainedFeatures of a small random backbone on the digits;
- ``transfer``: TransferClassifier's default linear probe on cached features
  (each rank embeds its share of the images) of a small random backbone.
"""

import datetime
import os
import sys
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch.callbacks import Callback

from sk_imgcls import CNNClassifier, PretrainedFeatures, TransferClassifier


class RaiseInSecondEpoch(Callback):
    """Raise on rank 1 at the third batch of the second epoch."""

    def on_batch_end(self, net, training=False, **kwargs):
        epoch = len(net.history)
        if training and epoch == 2 and len(net.history[-1]["batches"]) == 3:
            if int(os.environ["RANK"]) == 1:
                raise RuntimeError("rank 1 fails in epoch 2")


def main(mode, out_dir, batch_size=32):
    rank = int(os.environ["RANK"])
    digits = load_digits()
    X = (digits.images * 16).clip(0, 255).astype(np.uint8)
    X_train, X_test, y_train, y_test = train_test_split(
        X, digits.target, stratify=digits.target, random_state=0
    )
    if mode == "hang":
        torch.distributed.init_process_group("gloo", timeout=datetime.timedelta(seconds=10))
    if mode == "features":
        features = PretrainedFeatures("resnet18", weights=None, image_size=32, random_state=0)
        Z = features.fit(X_test).transform(X_test)
        np.savez(os.path.join(out_dir, f"rank{rank}.npz"), features=Z)
        return
    if mode == "transfer":
        clf = TransferClassifier(
            "resnet18", weights=None, image_size=32, max_epochs=3, random_state=0
        ).fit(X_train[:400], y_train[:400])
        np.savez(
            os.path.join(out_dir, f"rank{rank}.npz"),
            proba=clf.predict_proba(X_test[:50]),
            **{name: p.detach().numpy() for name, p in clf.module_.head.state_dict().items()},
        )
        return
    if mode == "mismatch" and rank == 1:
        X_train, y_train = X_train[:-1], y_train[:-1]
    callbacks = [RaiseInSecondEpoch()] if mode in ("raise", "hang") else None
    clf = CNNClassifier(
        batch_size=batch_size,
        max_epochs=8,
        early_stopping=True,
        random_state=0,
        callbacks=callbacks,
        verbose=2,
    )
    try:
        clf.fit(X_train, y_train)
    except RuntimeError:
        if mode == "hang" and rank == 1:
            time.sleep(600)  # alive, but never answers rank 0 again
        raise
    np.savez(
        os.path.join(out_dir, f"rank{rank}.npz"),
        accuracy=clf.score(X_test, y_test),
        train_loss=clf.history_[:, "train_loss"],
        valid_loss=clf.history_[:, "valid_loss"],
        **{name: p.detach().numpy() for name, p in clf.module_.state_dict().items()},
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:]))
