"""onnxruntime on the exported graph against ``predict_proba``: latency of one image, throughput of a batch.

The contenders compute the same thing from the same uint8 images:
``predict_proba`` (validation, preprocessing, batch-invariant torch forward)
and ``onnxruntime.InferenceSession.run`` on the graph of
``sk_imgcls._onnx.to_onnx`` (preprocessing, network and softmax in one graph,
onnxruntime's default CPU threads). Cases: a ``CNNClassifier`` on 28x28
grayscale images (no resize), and ``TransferClassifier`` (EfficientNet-Lite0,
``tta=None``) on 320x240 RGB photos-sized images, resized and cropped to 224
inside both contenders.

"vs predict_proba" is the median over rounds of t(predict_proba) / t(onnxruntime)
in the same round: above 1.0 onnxruntime is faster.

Run from the repository root: ``python -m benchmarks.bench_onnx [--rounds N]``.
"""

import numpy as np

from sk_imgcls import CNNClassifier, TransferClassifier

from .common import (
    interleaved_latencies,
    median,
    paired_ratio,
    parse_args,
    print_machine,
    print_table,
    run_interleaved,
    spread,
)

ROUNDS = 5
MAX_SECONDS = 30
LATENCY_ROUNDS = 5
LATENCY_CALLS = 20
SEED = 0

THROUGHPUT_COLUMNS = [
    ("case", "images"),
    ("contender", "contender"),
    ("n_images", "n"),
    ("rounds", "rounds"),
    ("median_s", "median s"),
    ("spread", "spread"),
    ("images_per_s", "images/s"),
    ("vs_predict_proba", "vs predict_proba"),
]
LATENCY_COLUMNS = [
    ("case", "images"),
    ("contender", "contender"),
    ("median_ms", "median ms/call"),
    ("p90_ms", "p90 ms/call"),
    ("vs_predict_proba", "vs predict_proba"),
]


def _session(estimator, sample):
    import onnxruntime as ort

    from sk_imgcls._onnx import to_onnx

    model = to_onnx(estimator, sample)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _cases():
    rng = np.random.default_rng(SEED)
    X = rng.integers(0, 256, size=(2000, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=len(X))
    # depth 2, as in the runs before depth="auto", to compare across versions.
    cnn = CNNClassifier(depth=2, max_epochs=1, random_state=SEED).fit(X[:1000], y[:1000])
    yield "28x28 CNNClassifier", cnn, X
    photos = rng.integers(0, 256, size=(64, 240, 320, 3), dtype=np.uint8)
    labels = np.arange(len(photos)) % 2
    transfer = TransferClassifier(
        image_size=224, tta=None, augment=None, max_epochs=1, random_state=SEED
    ).fit(photos[:32], labels[:32])
    yield "240x320x3 -> 224 TransferClassifier", transfer, photos


def main(rounds=None):
    """Time both contenders per case; print the tables and return their rows."""
    rounds = rounds or ROUNDS
    throughput, latency = [], []
    for case, estimator, X in _cases():
        session = _session(estimator, X[:1])
        contenders = [
            ("predict_proba", lambda: estimator.predict_proba(X)),
            ("onnxruntime", lambda: session.run(None, {"X": X})),
        ]
        times = run_interleaved(contenders, rounds=rounds, max_seconds=MAX_SECONDS)
        for name, _ in contenders:
            t = median(times[name])
            throughput.append(
                {
                    "case": case,
                    "contender": name,
                    "n_images": len(X),
                    "rounds": len(times[name]),
                    "median_s": t,
                    "spread": spread(times[name]),
                    "images_per_s": len(X) / t,
                    "vs_predict_proba": paired_ratio(times, "predict_proba", name),
                }
            )
        x1 = X[:1]
        contenders = [
            ("predict_proba", lambda: estimator.predict_proba(x1)),
            ("onnxruntime", lambda: session.run(None, {"X": x1})),
        ]
        latencies = interleaved_latencies(
            contenders, rounds=LATENCY_ROUNDS, calls_per_round=LATENCY_CALLS
        )
        for name, _ in contenders:
            latency.append(
                {
                    "case": case,
                    "contender": name,
                    "median_ms": 1e3 * median(latencies[name]),
                    "p90_ms": 1e3 * float(np.percentile(latencies[name], 90)),
                    "vs_predict_proba": median(latencies["predict_proba"]) / median(latencies[name]),
                }
            )
    print_table(
        throughput,
        THROUGHPUT_COLUMNS,
        title=f"batch throughput: onnxruntime vs predict_proba, up to {rounds} interleaved rounds",
        notes=["vs predict_proba: median over rounds of t(predict_proba) / t(contender)."],
    )
    print_table(
        latency,
        LATENCY_COLUMNS,
        title=(
            f"single-image latency: median of {LATENCY_ROUNDS} x {LATENCY_CALLS} interleaved calls"
        ),
        notes=["vs predict_proba: median latency of predict_proba / the contender's."],
    )
    return throughput + latency


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    print_machine()
    main(args.rounds)
