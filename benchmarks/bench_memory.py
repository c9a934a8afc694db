"""Peak memory of a path-streamed fit: 2,000 versus 20,000 image files.

Run from the repository root::

    .venv/bin/python -m benchmarks.bench_memory

Each fit runs in a fresh subprocess (one epoch of ``CNNClassifier`` on file
paths, images decoded batch by batch) and reports its peak resident set size
(``ru_maxrss``). Target: the 20,000-image fit peaks less than 100 MB above the
2,000-image one. The JPEGs (64x64, random colors) are generated once under
``benchmarks/_data/memory`` and reused.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parent / "_data" / "memory"
N_LARGE = 20_000

_CHILD = r"""
import json, resource, sys, time
import numpy as np
from sk_imgcls import CNNClassifier
from sk_imgcls.datasets import load_image_folder
root, n = sys.argv[1], int(sys.argv[2])
paths, labels = load_image_folder(root)
rng = np.random.RandomState(0)
keep = np.sort(rng.choice(len(paths), size=n, replace=False))
start = time.perf_counter()
CNNClassifier(max_epochs=1, batch_size=64, width=8, num_workers=0, random_state=0).fit(
    paths[keep], labels[keep]
)
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"n": n, "peak_mb": peak_mb, "seconds": seconds}))
"""


def make_folder(n=N_LARGE, size=64):
    """Write ``n`` JPEGs in two class folders under benchmarks/_data/memory."""
    done = DATA / ".complete"
    if done.exists():
        return DATA
    rng = np.random.RandomState(0)
    for label in ("a", "b"):
        (DATA / label).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        color = rng.randint(0, 256, size=3)
        pixels = np.clip(rng.normal(color, 30, size=(size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(DATA / ("a", "b")[i % 2] / f"{i:05d}.jpg", quality=85)
    done.touch()
    return DATA


def measure(n):
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(DATA), str(n)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    make_folder()
    small, large = measure(2_000), measure(N_LARGE)
    growth = large["peak_mb"] - small["peak_mb"]
    print("| images | peak RSS (MB) | fit time (s) |")
    print("| --- | --- | --- |")
    for row in (small, large):
        print(f"| {row['n']:,} | {row['peak_mb']:.0f} | {row['seconds']:.1f} |")
    print(f"\npeak RSS growth from 2,000 to {N_LARGE:,} images: {growth:.0f} MB "
          f"(target < 100 MB): {'met' if growth < 100 else 'NOT met'}")
    return [small, large]


if __name__ == "__main__":
    main()
