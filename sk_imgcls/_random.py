"""Seeding torch from a scikit-learn ``random_state`` without touching the caller's RNG."""

import contextlib

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


@contextlib.contextmanager
def seeded_torch(seed):
    """Seed torch's CPU RNG inside the block and restore the caller's state after it.

    Parameters
    ----------
    seed : int
        Seed of ``torch.manual_seed``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
