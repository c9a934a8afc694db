"""Reduced precision on the CPU: ``mixed_mixed_precision="bf16"`` against float32, for speed and accuracy.

Speed, each contender interleaved over several rounds, relative to the
hand-written float32 loop on NCHW (contiguous) tensors, the PyTorch default:

- inference of 32 images of 224x224 through ``tf_efficientnet_lite0`` and
  ``resnet18``: the bare backbone on NCHW and on channels-last input, the
  bare backbone channels-last under bf16 autocast (the ceiling: no
  preprocessing), and ``TransferClassifier.predict_proba`` (``tta=None``) in
  float32 and in bf16, including its resize, center crop and normalization;
- one training epoch of ``CNNClassifier`` (depth 2, width 32, batch 32,
  Adam) on 2,000 64x64 RGB images, and of ``TransferClassifier`` fine-tuning
  all of ``resnet18`` on 96 images of 224x224: the hand-written loop on NCHW
  tensors, then the estimator in float32 and in bf16.

Accuracy, float32 against bf16 with the same seeds: ``CNNClassifier`` on the
digits (held-out quarter) and ``TransferClassifier()`` (its defaults) on the
ants-vs-bees validation photos, when ``../shared/data/hymenoptera`` exists.

Run from the repository root: ``python -m benchmarks.bench_precision [--rounds N]``.
"""

import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sk_imgcls import CNNClassifier, TransferClassifier, load_backbone
from sk_imgcls._device import bf16_supported
from sk_imgcls._cnn import CNN
from sk_imgcls.datasets import load_image_folder

from .common import median, paired_ratio, parse_args, print_machine, print_table, run_interleaved, spread

ROUNDS = 3
SEED = 0
HYMENOPTERA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hymenoptera"

COLUMNS = [
    ("case", "case"),
    ("contender", "contender"),
    ("median_s", "median s"),
    ("spread", "spread"),
    ("images_per_s", "images/s"),
    ("vs_nchw_fp32", "vs NCHW fp32 loop"),
]


def _rows(case, times, n_images, baseline):
    return [
        {
            "benchmark": "precision",
            "case": case,
            "contender": name,
            "median_s": median(values),
            "spread": spread(values),
            "images_per_s": n_images / median(values),
            "vs_nchw_fp32": paired_ratio(times, baseline, name),
        }
        for name, values in times.items()
    ]


def inference_case(backbone, rounds):
    """Bare backbone (NCHW, channels-last) against TransferClassifier in fp32 and bf16."""
    weights = "imagenet" if backbone == "tf_efficientnet_lite0" else None
    rng = np.random.default_rng(SEED)
    images = rng.integers(0, 256, size=(32, 224, 224, 3), dtype=np.uint8)
    y = np.arange(32) % 2
    nchw = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).contiguous()
    bare = load_backbone(backbone, weights=weights).module.eval()
    bare_cl = load_backbone(backbone, weights=weights).module.eval()
    bare_cl = bare_cl.to(memory_format=torch.channels_last)
    nhwc = nchw.contiguous(memory_format=torch.channels_last)
    estimators = {
        precision: TransferClassifier(
            backbone, weights=weights, image_size=224, max_epochs=1, augment=None, tta=None,
            mixed_precision=precision, random_state=SEED,
        ).fit(images, y)
        for precision in ("no", "bf16")
    }

    def run_bare(module, x, bf16=False):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return module(x)

    baseline = "bare backbone, NCHW fp32"
    contenders = [
        (baseline, lambda: run_bare(bare, nchw)),
        ("bare backbone, channels_last fp32", lambda: run_bare(bare_cl, nhwc)),
        # The ceiling of mixed_precision="bf16": the backbone alone, no preprocessing.
        ("bare backbone, channels_last bf16", lambda: run_bare(bare_cl, nhwc, bf16=True)),
        ("TransferClassifier.predict_proba fp32", lambda: estimators["no"].predict_proba(images)),
        ("TransferClassifier.predict_proba bf16", lambda: estimators["bf16"].predict_proba(images)),
    ]
    times = run_interleaved(contenders, rounds=rounds)
    return _rows(f"inference {backbone}, 32 x 224x224", times, len(images), baseline)


def _hand_written_fit(module, images, y, batch_size, lr):
    optimizer = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=lr)
    criterion = torch.nn.CrossEntropyLoss()
    targets = torch.from_numpy(y)
    module.train()
    for idx in torch.randperm(len(images)).split(batch_size):
        optimizer.zero_grad()
        criterion(module(images[idx]), targets[idx]).backward()
        optimizer.step()


def _fit_rows(case, n_images, hand_written, estimator, name, rounds):
    """Time the NCHW fp32 hand-written fit against ``estimator(precision)`` in fp32 and bf16."""
    baseline = "hand-written NCHW fp32"
    contenders = [
        (baseline, hand_written),
        (f"{name} fp32", lambda: estimator("no")),
        (f"{name} bf16", lambda: estimator("bf16")),
    ]
    times = run_interleaved(contenders, rounds=rounds)
    return _rows(case, times, n_images, baseline)


def cnn_fit_case(rounds):
    """One epoch of CNNClassifier on 64x64x3 images: NCHW fp32 loop, fp32, bf16."""
    rng = np.random.default_rng(SEED)
    X = rng.integers(0, 256, size=(2000, 64, 64, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=2000).astype(np.int64)

    class NCHWCNN(CNN):
        """The same network on NCHW float tensors (no channels-last view)."""

        def forward(self, x):
            return self.head(self.features((x - self.mean) / self.std))

    nchw = torch.from_numpy(X).permute(0, 3, 1, 2).float().contiguous()

    def hand_written():
        torch.manual_seed(SEED)
        module = NCHWCNN(
            (64, 64, 3), 10, depth=2, width=32, residual=False, dropout=0.2,
            mean=[127.5] * 3, std=[64.0] * 3,
        )
        _hand_written_fit(module, nchw, y, 32, 1e-3)

    def estimator(precision):
        # The hand-written network: depth 2, width 32 (not depth="auto").
        return CNNClassifier(
            depth=2, width=32, max_epochs=1, mixed_precision=precision, random_state=SEED
        ).fit(X, y)

    return _fit_rows(
        "fit CNN, 2,000 x 64x64x3, 1 epoch", len(X), hand_written, estimator, "CNNClassifier", rounds
    )


def transfer_fit_case(rounds):
    """One epoch fine-tuning all of resnet18: NCHW fp32 loop, fp32, bf16."""
    rng = np.random.default_rng(SEED)
    X = rng.integers(0, 256, size=(96, 224, 224, 3), dtype=np.uint8)
    y = (np.arange(96) % 2).astype(np.int64)
    nchw = torch.from_numpy(X).permute(0, 3, 1, 2).float().div(255).contiguous()

    def hand_written():
        torch.manual_seed(SEED)
        backbone = load_backbone("resnet18", weights=None)
        module = torch.nn.Sequential(backbone.module, torch.nn.Linear(backbone.n_features, 2))
        _hand_written_fit(module, nchw, y, 32, 1e-3)

    def estimator(precision):
        return TransferClassifier(
            "resnet18", weights=None, image_size=224, freeze="none", max_epochs=1,
            augment=None, tta=None, lr=1e-3, mixed_precision=precision, random_state=SEED,
        ).fit(X, y)

    return _fit_rows(
        "fit resnet18, 96 x 224x224, 1 epoch", len(X), hand_written, estimator,
        "TransferClassifier", rounds,
    )


def accuracy_rows():
    """Held-out accuracy in fp32 and bf16 on digits and, when present, ants vs bees."""
    rows = []
    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.images, digits.target, test_size=0.25, stratify=digits.target, random_state=SEED
    )
    for precision in ("no", "bf16"):
        start = time.perf_counter()
        clf = CNNClassifier(depth=3, random_state=SEED, mixed_precision=precision).fit(X_train, y_train)
        rows.append(
            {
                "data": "digits (CNNClassifier(depth=3))",
                "precision": precision,
                "accuracy": clf.score(X_test, y_test),
                "fit_s": time.perf_counter() - start,
            }
        )
    if (HYMENOPTERA / "train").is_dir():
        train_paths, train_labels = load_image_folder(HYMENOPTERA / "train")
        val_paths, val_labels = load_image_folder(HYMENOPTERA / "val")
        for precision in ("no", "bf16"):
            start = time.perf_counter()
            clf = TransferClassifier(random_state=SEED, mixed_precision=precision)
            clf.fit(train_paths, train_labels)
            rows.append(
                {
                    "data": "ants vs bees (TransferClassifier())",
                    "precision": precision,
                    "accuracy": clf.score(val_paths, val_labels),
                    "fit_s": time.perf_counter() - start,
                }
            )
    print_table(
        rows,
        [("data", "data"), ("precision", "precision"), ("accuracy", "accuracy"), ("fit_s", "fit s")],
        title="Accuracy in float32 and bf16, same seeds",
    )
    return rows


def main(rounds=None, accuracy=True):
    """Time the cases and measure accuracy; print tables and return their rows."""
    rounds = rounds or ROUNDS
    if not bf16_supported("cpu"):
        print("This CPU has no bfloat16 support: precision='bf16' falls back to float32.")
    rows = []
    for backbone in ("tf_efficientnet_lite0", "resnet18"):
        rows += inference_case(backbone, rounds)
    rows += cnn_fit_case(rounds)
    rows += transfer_fit_case(rounds)
    print_table(
        rows,
        COLUMNS,
        title=f"bf16 and channels_last against the float32 NCHW loop, {rounds} interleaved rounds",
        notes=[
            "vs NCHW fp32 loop: median over rounds of t(hand-written NCHW fp32) / t(contender); "
            "targets for bf16: inference >= 2.5, fit >= 1.5."
        ],
    )
    if accuracy:
        rows += accuracy_rows()
    return rows


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    print_machine()
    main(args.rounds)
