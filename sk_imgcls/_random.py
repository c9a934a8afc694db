"""Seeding torch from a scikit-learn ``random_state`` without touching the caller's RNG."""

import contextlib
import threading

import numpy as np
import torch
from sklearn.utils import check_random_state


def draw_seed(random_state):
    """An int seed for torch, drawn from a scikit-learn ``random_state``.

    Parameters
    ----------
    random_state : int, RandomState instance or None
        As scikit-learn's ``random_state`` parameters.

    Returns
    -------
    seed : int
        In [0, 2**31 - 1).
    """
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


# torch's RNG is one per process, shared by every thread: two fits in
# threads (joblib's threading backend) would interleave their draws. Seeded
# blocks take turns, so a random_state gives the same model in any thread.
_TORCH_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded_torch(seed):
    """Seed torch's CPU RNG inside the block and restore the caller's state after it.

    Blocks in different threads run one at a time (their draws from the
    process-wide RNG would interleave otherwise); nested blocks in one
    thread are allowed.

    Parameters
    ----------
    seed : int
        Seed of ``torch.manual_seed``.
    """
    with _TORCH_RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
