"""Fixtures shared by the test files: real photos, bad inputs, small estimators."""

from pathlib import Path

import numpy as np
import pytest

HYMENOPTERA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hymenoptera"


@pytest.fixture(scope="session")
def hymenoptera():
    """The ants-vs-bees photo folder (train/ and val/), or a skip when ../shared is absent."""
    if not HYMENOPTERA.is_dir():
        pytest.skip(f"the ants/bees photos are not at {HYMENOPTERA}")
    return HYMENOPTERA


@pytest.fixture(scope="session")
def photo_paths(hymenoptera):
    """Eight training photos (four ants, four bees) as str paths, and their labels."""
    from sk_imgcls.datasets import load_image_folder

    paths, labels = load_image_folder(hymenoptera / "train")
    keep = np.r_[0:4, len(paths) - 4 : len(paths)]
    return paths[keep], labels[keep]


@pytest.fixture(scope="session")
def digits_images():
    """scikit-learn's digits as (1797, 8, 8) float images and their labels."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.reshape(-1, 8, 8), y
