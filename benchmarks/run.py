"""Run every benchmark in sequence and print their tables.

From the repository root: ``python -m benchmarks.run [--rounds N]`` (about
25 minutes on an idle 2-core machine). ``--rounds`` overrides the rounds of
the fit, predict and grid-search benchmarks. A benchmark that fails is
reported and the others still run; the exit status is then 1.
"""

import sys
import time
import traceback

from . import (
    bench_distributed,
    bench_fit,
    bench_gridsearch,
    bench_paths,
    bench_precision,
    bench_predict,
)
from .common import parse_args, print_machine

try:
    from . import bench_decode
except ImportError as exc:
    bench_decode = None
    _decode_missing = exc

try:
    from . import bench_onnx
except ImportError as exc:  # the export extra (onnx, onnxruntime) is not installed
    bench_onnx = None
    _onnx_missing = exc


def main(rounds=None):
    """Run the benchmarks; return a dict of benchmark name to result rows."""
    benchmarks = [
        ("fit", lambda: bench_fit.main(rounds)),
        ("predict", lambda: bench_predict.main(rounds)),
        ("gridsearch", lambda: bench_gridsearch.main(rounds)),
        ("paths", lambda: bench_paths.main(rounds)),
        ("precision", lambda: bench_precision.main(rounds)),
        ("distributed", lambda: bench_distributed.main(rounds)),
    ]
    if bench_decode is not None:
        benchmarks.append(("decode", bench_decode.main))
    else:
        print(f"\nbench_decode: skipped ({_decode_missing}).")
    if bench_onnx is not None:
        benchmarks.append(("onnx", lambda: bench_onnx.main(rounds)))
    else:
        print(f"\nbench_onnx: skipped ({_onnx_missing}).")
    results, failed = {}, []
    for name, run in benchmarks:
        print(f"\n## {name}")
        sys.stdout.flush()
        start = time.perf_counter()
        try:
            results[name] = run()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"\n({name}: {time.perf_counter() - start:.0f} s)")
    if failed:
        print(f"\nFailed: {', '.join(failed)}")
    return results, failed


if __name__ == "__main__":
    args = parse_args(__doc__.splitlines()[0])
    print_machine()
    start = time.perf_counter()
    _, failed = main(args.rounds)
    print(f"\nTotal: {time.perf_counter() - start:.0f} s")
    sys.exit(1 if failed else 0)
