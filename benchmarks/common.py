"""Timing helpers shared by the benchmarks: interleaved rounds, medians, tables.

Every benchmark times its contenders in one process, interleaved: round ``r``
runs each contender once, starting from contender ``r mod k``, so a burst of
load from the rest of a shared machine falls on all of them alike. Ratios are
taken within a round (same moment, same load) and their median reported,
which is steadier than a ratio of medians on a noisy machine.

Thread counts matter more than anything else on a small CPU box: torch runs
``torch.get_num_threads()`` OpenMP threads per operator, and when other
processes hold the cores those threads spin at barriers. Set
``OMP_NUM_THREADS`` before starting Python to change it; the machine
description printed at the top of every run says what was in effect.
"""

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np


def median(values):
    """Median of a non-empty sequence of numbers."""
    return statistics.median(values)


def run_interleaved(contenders, *, rounds, warmup=True, max_seconds=None):
    """Time each contender once per round, rotating the order across rounds.

    Parameters
    ----------
    contenders : list of (str, callable)
        Names and zero-argument callables; each call is one timed run.
    rounds : int
        Timed calls per contender.
    warmup : bool or dict, default=True
        True calls each contender once, untimed, before the first round
        (first-call costs: oneDNN primitive creation, lazy imports, worker
        start-up). A dict maps names to their own zero-argument warm-up
        callables; False skips warming up.
    max_seconds : float or None, default=None
        Time budget of the timed rounds: no new round starts once it is spent
        (at least one round always runs), so a suite stays within its time on
        a loaded machine. The rounds done are ``len(times[name])``.

    Returns
    -------
    times : dict of str to list of float
        Seconds per call, in round order, for each contender name.
    """
    if warmup:
        for name, fn in contenders:
            (warmup.get(name, fn) if isinstance(warmup, dict) else fn)()
    times = {name: [] for name, _ in contenders}
    k = len(contenders)
    begin = time.perf_counter()
    for r in range(rounds):
        if r and max_seconds is not None and time.perf_counter() - begin > max_seconds:
            break
        for name, fn in contenders[r % k :] + contenders[: r % k]:
            gc.collect()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def time_calls(fn, n_calls):
    """Seconds taken by each of ``n_calls`` consecutive calls of ``fn``."""
    durations = []
    for _ in range(n_calls):
        start = time.perf_counter()
        fn()
        durations.append(time.perf_counter() - start)
    return durations


def interleaved_latencies(contenders, *, rounds, calls_per_round, warmup_calls=5):
    """Per-call latencies of fast callables, interleaved as in :func:`run_interleaved`.

    Returns
    -------
    latencies : dict of str to list of float
        ``rounds * calls_per_round`` durations in seconds per contender.
    """
    for _, fn in contenders:
        time_calls(fn, warmup_calls)
    latencies = {name: [] for name, _ in contenders}
    k = len(contenders)
    for r in range(rounds):
        for name, fn in contenders[r % k :] + contenders[: r % k]:
            gc.collect()
            latencies[name].extend(time_calls(fn, calls_per_round))
    return latencies


def paired_ratio(times, numerator, denominator):
    """Median over rounds of ``times[numerator][r] / times[denominator][r]``.

    With times in seconds, ``paired_ratio(times, "baseline", "x")`` is the
    speed of ``x`` relative to the baseline (above 1: ``x`` is faster).
    """
    return median([a / b for a, b in zip(times[numerator], times[denominator], strict=True)])


def best_ratio(times, numerator, denominator):
    """``min(times[numerator]) / min(times[denominator])``: the ratio of best rounds.

    On a shared machine other processes only ever add time, so each
    contender's fastest round is its least disturbed one (the reasoning of
    Python's ``timeit``, which reports the minimum). Reported next to
    :func:`paired_ratio`, not instead of it.
    """
    return min(times[numerator]) / min(times[denominator])


def spread(values):
    """Relative spread (max - min) / median, to show how noisy a median is."""
    m = median(values)
    return (max(values) - min(values)) / m if m else float("nan")


def format_value(value):
    """Human-readable cell: 3 significant digits for floats, thousands separators for big ones."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if value != value:
            return "n/a"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return "" if value is None else str(value)


def markdown_table(rows, columns):
    """A GitHub markdown table of ``rows`` (dicts) restricted to ``columns``.

    ``columns`` is a list of keys, or of (key, header) pairs. Missing keys
    give empty cells.
    """
    columns = [c if isinstance(c, tuple) else (c, c) for c in columns]
    header = [title for _, title in columns]
    body = [[format_value(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(cell) for cell in col) for col in zip(header, *body)]
    numeric = [
        all(isinstance(row.get(key), (int, float, np.number)) for row in rows if key in row)
        and any(key in row for row in rows)
        for key, _ in columns
    ]

    def line(cells):
        padded = [
            cell.rjust(w) if num else cell.ljust(w)
            for cell, w, num in zip(cells, widths, numeric)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        "-" * (w + 1) + ":" if num else "-" * (w + 2) for w, num in zip(widths, numeric)
    ) + "|"
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


def print_table(rows, columns, *, title=None, notes=()):
    """Print a markdown table with an optional ``###`` title and note lines under it."""
    if title:
        print(f"\n### {title}\n")
    print(markdown_table(rows, columns))
    for note in notes:
        print(f"\n{note}")
    sys.stdout.flush()


def load_average():
    """1-minute load average of the machine, or NaN where unavailable."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return float("nan")


def _lscpu():
    try:
        out = subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    info = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def machine_description():
    """What the timings depend on: CPU, cores, load, library versions, thread settings.

    Returns
    -------
    description : dict of str to str
    """
    import sklearn
    import skorch
    import torch

    cpu = _lscpu()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    config = torch.__config__.show().splitlines()
    libraries = [
        line.strip(" -")
        for line in config
        if any(
            key in line for key in ("Math Kernel Library", "MKL-DNN", "oneDNN", "CPU capability")
        )
    ]
    parallel = torch.__config__.parallel_info().splitlines()
    backend = next(
        (
            line.split(":", 1)[1].strip()
            for line in parallel
            if line.startswith("ATen parallel backend")
        ),
        "unknown",
    )
    env = {
        var: os.environ[var]
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        if var in os.environ
    }
    cores = cpu.get("CPU(s)", str(os.cpu_count()))
    return {
        "CPU": cpu.get("Model name", platform.processor() or platform.machine()),
        "cores": (
            f"{cores} logical, {affinity} usable by this process, "
            f"{cpu.get('Thread(s) per core', '?')} thread(s) per core"
            + (f", hypervisor {cpu['Hypervisor vendor']}" if "Hypervisor vendor" in cpu else "")
        ),
        "caches": ", ".join(
            f"{name} {cpu[name]}" for name in ("L1d cache", "L2 cache", "L3 cache") if name in cpu
        ),
        "load average (1 min) at start": f"{load_average():.2f}",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "versions": (
            f"torch {torch.__version__}, skorch {skorch.__version__}, "
            f"scikit-learn {sklearn.__version__}, numpy {np.__version__}"
        ),
        "torch CPU libraries": "; ".join(libraries),
        "torch threads": (
            f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op, "
            f"backend {backend}"
        ),
        "thread env": ", ".join(f"{k}={v}" for k, v in env.items()) or "none set",
    }


def print_machine():
    """Print :func:`machine_description` as a markdown list."""
    print("## Machine\n")
    for key, value in machine_description().items():
        print(f"- {key}: {value}")
    sys.stdout.flush()


def parse_args(description):
    """Command line shared by the benchmark scripts: ``--rounds``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="timed rounds per contender (default: per benchmark)",
    )
    return parser.parse_args()


def sample_image_patches(side=32, test_size=0.4):
    """Patches of scikit-learn's two sample photos, labelled by photo and quadrant.

    ``load_sample_images`` holds two 427x640 colour photos (a temple in China
    and a flower). Each is cut into a grid of non-overlapping ``side`` x
    ``side`` patches (13 x 20 at 32 pixels, the rest of the border dropped),
    and each patch is labelled with its photo and the quadrant of the photo
    its centre lies in: 8 classes of small colour images showing parts of a
    scene (roof, sky, trees; petals, leaves) rather than whole objects.

    Returns
    -------
    X_train, y_train, X_test, y_test
        uint8 arrays of shape (n, side, side, 3) and labels such as
        ``"china, top left"``; a stratified split with ``random_state=0``
        (312 training and 208 test patches at 32 pixels).
    """
    from sklearn.datasets import load_sample_images
    from sklearn.model_selection import train_test_split

    data = load_sample_images()
    patches, labels = [], []
    for filename, photo in zip(data.filenames, data.images):
        name = os.path.splitext(os.path.basename(filename))[0]
        height, width = photo.shape[:2]
        for top in range(0, height - side + 1, side):
            for left in range(0, width - side + 1, side):
                vertical = "top" if top + side / 2 < height / 2 else "bottom"
                horizontal = "left" if left + side / 2 < width / 2 else "right"
                patches.append(photo[top : top + side, left : left + side])
                labels.append(f"{name}, {vertical} {horizontal}")
    X_train, X_test, y_train, y_test = train_test_split(
        np.stack(patches), np.array(labels), test_size=test_size, stratify=labels, random_state=0
    )
    return X_train, y_train, X_test, y_test
