"""Inference throughput and single-image latency of fitted classifiers.

``CNNClassifier.predict`` and ``predict_proba`` (validation, skorch's
prediction loop, float64 probabilities) against a hand-written
``torch.inference_mode`` loop over the same fitted ``module_`` with the same
batch size, on synthetic uint8 images: 8x8 and 28x28 grayscale, 64x64 RGB.
Then the latency of one image at a time, the median over many calls; both
run the single image alone through the same module. For one image torch
picks another convolution kernel than for a batch; ``predict_proba`` keeps
oneDNN's at every batch size so that an image scores the same alone or in a
batch (``sk_imgcls._batch_invariance``), so the hand-written loop is also
timed on those kernels ("vs batch-invariant loop"): that is the comparison
of the runs before 2026-12-02, when ``module_`` itself carried them.

If ``sk_imgcls`` exports ``TransferClassifier``, the same comparison for it
(``tta=None``: one pass per image) against its bare backbone module on float
input already resized and normalized, in the channels-last layout the
classifier feeds it (so the classifier's extra cost is validation,
preprocessing and the head) and, for comparison, contiguous NCHW; then the
latency of one image, the classifier's against the bare backbone's.

"vs hand-written" is the median over rounds of the hand-written time divided
by the contender's time in the same round: above 1.0 the contender is faster.

Run from the repository root: ``python -m benchmarks.bench_predict [--rounds N]``.
"""

import numpy as np
import torch

from sk_imgcls import CNNClassifier
from sk_imgcls._batch_invariance import batch_invariant

from .common import (
    best_ratio,
    interleaved_latencies,
    median,
    paired_ratio,
    parse_args,
    print_machine,
    print_table,
    run_interleaved,
    spread,
)

# (name, side in pixels, channels, images to predict); a CNNClassifier of the
# fit benchmark's configuration is fitted on N_TRAIN of them for one epoch.
CASES = [("8x8", 8, 1, 20000), ("28x28", 28, 1, 8000), ("64x64x3", 64, 3, 2000)]
N_TRAIN = 1000
N_CLASSES = 10
DEPTH = 2
WIDTH = 32
BATCH_SIZE = 32
ROUNDS = 5
# Per case: no new round starts after this many seconds (a loaded machine).
MAX_SECONDS = 20
LATENCY_ROUNDS = 5
LATENCY_CALLS = 40
# A TransferClassifier call takes 20-30 ms: fewer calls per round.
TRANSFER_LATENCY_CALLS = 10
SEED = 0

THROUGHPUT_COLUMNS = [
    ("case", "images"),
    ("contender", "contender"),
    ("n_images", "n"),
    ("rounds", "rounds"),
    ("median_s", "median s"),
    ("spread", "spread"),
    ("images_per_s", "images/s"),
    ("vs_hand_written", "vs hand-written"),
    ("best_vs_hand_written", "best vs hand-written"),
]
LATENCY_COLUMNS = [
    ("case", "images"),
    ("contender", "contender"),
    ("median_us", "median us/call"),
    ("p90_us", "p90 us/call"),
    ("vs_hand_written", "vs hand-written"),
    ("vs_invariant", "vs batch-invariant loop"),
]


def make_data(side, n_samples, channels=1, seed=SEED):
    """Random uint8 images and labels in [0, 10).

    Images are (n_samples, side, side) for one channel, else
    (n_samples, side, side, channels).
    """
    rng = np.random.default_rng(seed)
    shape = (n_samples, side, side) + ((channels,) if channels > 1 else ())
    X = rng.integers(0, 256, size=shape, dtype=np.uint8)
    y = rng.integers(0, N_CLASSES, size=n_samples)
    return X, y


def hand_written_proba(module, images, batch_size):
    """Softmax of ``module`` over batches of a (N, H, W, C) tensor, as float64 NumPy."""
    module.eval()
    with torch.inference_mode():
        proba = torch.cat([module(b).softmax(dim=1) for b in images.split(batch_size)])
    return proba.double().numpy()


def hand_written_predict(module, images, batch_size, classes):
    """Argmax labels of ``module`` over batches, mapped to ``classes``."""
    module.eval()
    with torch.inference_mode():
        idx = torch.cat([module(b).argmax(dim=1) for b in images.split(batch_size)]).numpy()
    return classes[idx]


def _throughput_rows(case, contenders, n_images, rounds, baselines):
    """Rows of a throughput table; ``baselines`` maps a contender to its hand-written twin."""
    times = run_interleaved(contenders, rounds=rounds, max_seconds=MAX_SECONDS)
    rows = []
    for name, _ in contenders:
        t = median(times[name])
        rows.append(
            {
                "benchmark": "predict",
                "case": case,
                "contender": name,
                "n_images": n_images,
                "rounds": len(times[name]),
                "median_s": t,
                "spread": spread(times[name]),
                "images_per_s": n_images / t,
                "vs_hand_written": paired_ratio(times, baselines.get(name, name), name),
                "best_vs_hand_written": best_ratio(times, baselines.get(name, name), name),
            }
        )
    return rows


def _latency_rows(case, contenders, baselines, calls=None, invariant=None):
    """Rows of a latency table; ``invariant`` names the batch-invariant loop, if one ran."""
    latencies = interleaved_latencies(
        contenders, rounds=LATENCY_ROUNDS, calls_per_round=calls or LATENCY_CALLS
    )
    rows = []
    for name, _ in contenders:
        base = latencies[baselines.get(name, name)]
        vs_invariant = (
            median(latencies[invariant]) / median(latencies[name]) if invariant else float("nan")
        )
        rows.append(
            {
                "benchmark": "latency",
                "case": case,
                "contender": name,
                "median_us": 1e6 * median(latencies[name]),
                "p90_us": 1e6 * float(np.percentile(latencies[name], 90)),
                "vs_hand_written": median(base) / median(latencies[name]),
                "vs_invariant": vs_invariant,
            }
        )
    return rows


def bench_cnn(rounds):
    throughput, latency = [], []
    baselines = {
        "CNNClassifier.predict_proba": "hand-written proba",
        "CNNClassifier.predict": "hand-written predict",
    }
    for case, side, channels, n_images in CASES:
        X, y = make_data(side, n_images, channels)
        # The fit benchmark's network (depth 2, as before depth="auto"), so
        # that runs stay comparable across versions.
        clf = CNNClassifier(
            depth=DEPTH, width=WIDTH, batch_size=BATCH_SIZE, max_epochs=1, random_state=SEED
        )
        clf.fit(X[:N_TRAIN], y[:N_TRAIN])
        module, classes = clf.module_, clf.classes_
        # The hand-written loop gets the same zero-copy channels-last view
        # that CNNClassifier builds from the array.
        images = torch.from_numpy(X)
        if images.ndim == 3:
            images = images.unsqueeze(-1)
        contenders = [
            ("hand-written proba", lambda: hand_written_proba(module, images, BATCH_SIZE)),
            ("CNNClassifier.predict_proba", lambda: clf.predict_proba(X)),
            (
                "hand-written predict",
                lambda: hand_written_predict(module, images, BATCH_SIZE, classes),
            ),
            ("CNNClassifier.predict", lambda: clf.predict(X)),
        ]
        throughput += _throughput_rows(case, contenders, n_images, rounds, baselines)

        x1, image1 = X[:1], images[:1]

        def invariant_proba():
            # The same loop on the kernels CNNClassifier predicts with: for
            # one image, torch's own choice is another (faster) convolution
            # than for a batch, and the scores would depend on the batching.
            with batch_invariant(module, device="cpu", batch_size=BATCH_SIZE):
                return hand_written_proba(module, image1, BATCH_SIZE)

        contenders = [
            ("hand-written proba", lambda: hand_written_proba(module, image1, BATCH_SIZE)),
            ("hand-written proba, batch-invariant", invariant_proba),
            ("CNNClassifier.predict_proba", lambda: clf.predict_proba(x1)),
            ("CNNClassifier.predict", lambda: clf.predict(x1)),
        ]
        latency += _latency_rows(
            case,
            contenders,
            {**baselines, "CNNClassifier.predict": "hand-written proba"},
            invariant="hand-written proba, batch-invariant",
        )
    return throughput, latency


def bench_transfer(rounds):
    """TransferClassifier vs its bare backbone; [] with a message when unavailable."""
    try:
        from sk_imgcls import TransferClassifier
    except ImportError as exc:
        print(f"\nTransferClassifier: skipped, not exported by sk_imgcls ({exc}).")
        return []
    n_images, side = 64, 224
    rng = np.random.default_rng(SEED)
    X = rng.integers(0, 256, size=(n_images, side, side, 3), dtype=np.uint8)
    y = np.arange(n_images) % 2
    try:
        # No test-time augmentation: one forward pass per image, as the backbone.
        clf = TransferClassifier(
            freeze="backbone",
            image_size=side,
            tta=None,
            augment=None,
            max_epochs=1,
            batch_size=BATCH_SIZE,
            random_state=SEED,
        ).fit(X[:BATCH_SIZE], y[:BATCH_SIZE])
        backbone = clf.module_.features.backbone
    except Exception as exc:  # missing weights or API still in flux: report, don't fail the suite
        print(f"\nTransferClassifier: skipped, could not fit it ({type(exc).__name__}: {exc}).")
        return []
    crop = clf.preprocess_.crop
    # What the backbone sees after preprocessing: normalized float NCHW, in
    # the channels-last layout the classifier gives it (an NHWC batch
    # permuted), and contiguous NCHW for comparison.
    inputs = torch.randn(n_images, 3, crop, crop)
    inputs_cl = inputs.contiguous(memory_format=torch.channels_last)

    def bare_backbone(x):
        backbone.eval()
        with torch.inference_mode():
            return torch.cat([backbone(b) for b in x.split(BATCH_SIZE)]).numpy()

    contenders = [
        ("bare backbone, channels_last", lambda: bare_backbone(inputs_cl)),
        ("bare backbone, contiguous NCHW", lambda: bare_backbone(inputs)),
        ("TransferClassifier.predict_proba", lambda: clf.predict_proba(X)),
    ]
    base = "bare backbone, channels_last"
    case = f"{side}x{side}x3 -> {crop}"
    throughput = _throughput_rows(
        case, contenders, n_images, rounds, {name: base for name, _ in contenders}
    )
    x1, input1 = X[:1], inputs_cl[:1]
    contenders = [
        ("bare backbone", lambda: bare_backbone(input1)),
        ("TransferClassifier.predict_proba", lambda: clf.predict_proba(x1)),
    ]
    latency = _latency_rows(
        case,
        contenders,
        {"TransferClassifier.predict_proba": "bare backbone"},
        calls=TRANSFER_LATENCY_CALLS,
    )
    return throughput, latency


def _vs_bare_backbone(columns):
    """``columns`` of a table, titled against the bare backbone instead of the hand-written loop."""
    return [
        (key, title.replace("hand-written", "bare backbone"))
        for key, title in columns
        if key != "vs_invariant"
    ]


def main(rounds=None):
    """Time inference; print the tables and return their rows."""
    rounds = rounds or ROUNDS
    throughput, latency = bench_cnn(rounds)
    print_table(
        throughput,
        THROUGHPUT_COLUMNS,
        title=(
            f"predict: CNNClassifier(batch_size={BATCH_SIZE}) vs torch.inference_mode loop, "
            f"up to {rounds} interleaved rounds"
        ),
        notes=[
            "vs hand-written: median over rounds of t(hand-written twin) / t(contender); "
            "above 1.0 the contender is faster. best vs hand-written: the twin's fastest round "
            "/ the contender's fastest round."
        ],
    )
    print_table(
        latency,
        LATENCY_COLUMNS,
        title=(
            f"single-image latency: median of {LATENCY_ROUNDS} x {LATENCY_CALLS} interleaved calls"
        ),
        notes=[
            "vs hand-written: median latency of the hand-written loop / the contender's. "
            "vs batch-invariant loop: the same against the hand-written loop on the "
            "batch-invariant kernels (oneDNN at every batch size) that predict_proba uses."
        ],
    )
    transfer, transfer_latency = bench_transfer(rounds) or ([], [])
    if transfer:
        print_table(
            transfer,
            _vs_bare_backbone(THROUGHPUT_COLUMNS),
            title=(
                "predict: TransferClassifier vs its bare backbone, "
                f"up to {rounds} interleaved rounds"
            ),
            notes=[
                "The bare backbone gets float inputs already resized and normalized; "
                "TransferClassifier validates, resizes, crops and normalizes uint8 images itself. "
                "vs bare backbone: median over rounds of t(bare backbone, channels_last) / "
                "t(contender)."
            ],
        )
    if transfer_latency:
        print_table(
            transfer_latency,
            _vs_bare_backbone(LATENCY_COLUMNS),
            title=(
                f"single-image latency: TransferClassifier vs its bare backbone, median of "
                f"{LATENCY_ROUNDS} x {TRANSFER_LATENCY_CALLS} interleaved calls"
            ),
            notes=[
                "The bare backbone gets one preprocessed float image; TransferClassifier one "
                "uint8 image, which it validates, resizes, crops and normalizes."
            ],
        )
    return throughput + latency + transfer + transfer_latency


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    print_machine()
    main(args.rounds)
