"""Fit throughput of a 2-process data-parallel fit (torchrun, gloo) against one process.

The same ``CNNClassifier`` fit (Fashion-MNIST-sized synthetic 28x28 images,
depth 2, width 32, ``max_epochs`` epochs) with the same global batch of 64:

- ``1 process``: one process, ``batch_size=64``, torch's default threads
  (2 on a 2-core machine);
- ``2 processes (torchrun)``: ``torchrun --nproc_per_node=2``, each process
  one thread and ``batch_size=32`` on its half of every epoch, gradients
  averaged by DistributedDataParallel over gloo.

Both run as fresh subprocesses, interleaved over rounds; the time is that of
``fit`` alone, measured inside the script (rank 0 for torchrun), so process
start and imports are left out. "speedup" is the median over rounds of
t(1 process) / t(contender). On a 2-core machine both contenders have the
same two cores: the question is what the all-reduce costs against torch's
own intra-op threading, not how far more machines scale.

Run from the repository root: ``python -m benchmarks.bench_distributed [--rounds N]``.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time


from .common import median, paired_ratio, parse_args, print_machine, print_table, spread

N_IMAGES = 8000
SIDE = 28
GLOBAL_BATCH = 64
MAX_EPOCHS = 3
ROUNDS = 3
SEED = 0

COLUMNS = [
    ("contender", "contender"),
    ("rounds", "rounds"),
    ("median_s", "median fit s"),
    ("spread", "spread"),
    ("images_per_s", "images/s"),
    ("speedup", "speedup"),
]

# The fit each process runs; prints its fit time as JSON on rank 0.
SCRIPT = f"""
import json, os, time
import numpy as np
from sk_imgcls import CNNClassifier
rng = np.random.default_rng({SEED})
X = rng.integers(0, 256, size=({N_IMAGES}, {SIDE}, {SIDE}), dtype=np.uint8)
y = rng.integers(0, 10, size={N_IMAGES})
world = int(os.environ.get("WORLD_SIZE", 1))
clf = CNNClassifier(
    batch_size={GLOBAL_BATCH} // world, max_epochs={MAX_EPOCHS}, random_state={SEED}
)
start = time.perf_counter()
clf.fit(X, y)
seconds = time.perf_counter() - start
if int(os.environ.get("RANK", 0)) == 0:
    print(json.dumps({{"seconds": seconds}}))
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(command, env):
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main(rounds=None):
    """Time both contenders; print the table and return its rows."""
    rounds = rounds or ROUNDS
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": repo}
    env.pop("OMP_NUM_THREADS", None)
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "fit.py")
        with open(script, "w") as f:
            f.write(SCRIPT)
        contenders = {
            "1 process": lambda: _run([sys.executable, script], env),
            "2 processes (torchrun)": lambda: _run(
                [
                    sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                    f"--master_port={_free_port()}", script,
                ],
                {**env, "OMP_NUM_THREADS": "1"},
            ),
        }
        times = {name: [] for name in contenders}
        for _ in range(rounds):
            for name, run in contenders.items():
                times[name].append(run())
    rows = [
        {
            "benchmark": "distributed",
            "contender": name,
            "rounds": len(t),
            "median_s": median(t),
            "spread": spread(t),
            "images_per_s": N_IMAGES * MAX_EPOCHS / median(t),
            "speedup": paired_ratio(times, "1 process", name),
        }
        for name, t in times.items()
    ]
    print_table(
        rows,
        COLUMNS,
        title=(
            f"fit: {N_IMAGES:,} images {SIDE}x{SIDE}, {MAX_EPOCHS} epochs, global batch "
            f"{GLOBAL_BATCH}: one process vs torchrun with 2 processes, {rounds} rounds"
        ),
        notes=[
            "Fit time measured inside each run (rank 0), without process start and imports. "
            "speedup: median over rounds of t(1 process) / t(contender)."
        ],
    )
    return rows


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    print_machine()
    start = time.perf_counter()
    main(args.rounds)
    print(f"\nbench_distributed ran in {time.perf_counter() - start:.0f} s")
