"""scikit-learn's estimator checks over every public estimator of sk_imgcls."""

import importlib
import inspect
import pkgutil

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import sk_imgcls

# Instance settings, each with its reason; every other estimator is checked
# with its defaults.
CHECK_PARAMS = {
    # The defaults are sized for real work (a pretrained backbone at 224 or
    # 288 pixels); the checks use timm's tiny random-init test network at 16
    # pixels. The checks' data are 2-feature blobs read as 1 x 2 images: rows
    # of features, which get no flips (no mirrored view of the cached
    # features, no flip TTA; see ImageData.flippable), so the default
    # horizontal_flip=True and tta="flip" are checked as they are. A linear
    # probe (the default freeze="backbone": batch norm in eval mode) without
    # dropout, with all the data in one batch, makes every
    # step the full-batch gradient of the weighted mean loss, so integer
    # sample weights and repeated rows train the same model
    # (check_sample_weight_equivalence_on_dense_data passes) and the result
    # does not depend on the shuffling order. The random features of 1 x 2
    # images separate the blobs slowly: 6 epochs at lr=0.05 reach 0.93
    # (binary) and 0.873 (3 classes) on check_classifiers_train's data, above
    # its 0.83; more Adam steps let the float32 rounding that differs between
    # weighted and repeated rows grow past the equivalence check's 1e-7
    # (10 steps at lr=0.03 reached 1.1e-7).
    "TransferClassifier": dict(
        backbone="timm/test_efficientnet",
        weights=None,
        image_size=16,
        freeze="backbone",
        dropout=0.0,
        batch_size=1024,
        lr=5e-2,
        max_epochs=6,
    ),
    # image_size="auto", the default, is checked here: on the checks' 1 x 2
    # images it takes the test network's own 160 pixels.
    "PretrainedFeatures": dict(backbone="timm/test_efficientnet", weights=None),
}

_SAMPLE_WEIGHT_REASON = (
    "Training with batch normalization is not equivalent under repeated rows: "
    "batch-norm statistics are unweighted means over each batch (rows of zero "
    "weight count, repeated rows count several times), and with more rows the "
    "shuffled batches and dropout masks differ. "
    "scikit-learn lists this check as expected to fail for its own stochastic "
    "estimators (SGD, bagging, boosting)."
)

# Checks that are known to fail, each with its reason.
EXPECTED_FAILED_CHECKS = {
    "CNNClassifier": {"check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_REASON},
}


def _public_estimators():
    """Every BaseEstimator subclass exported by an ``__all__`` of the package."""
    modules = [sk_imgcls]
    for info in pkgutil.walk_packages(sk_imgcls.__path__, prefix="sk_imgcls."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            modules.append(importlib.import_module(info.name))
    found = {}
    for module in modules:
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
                found[name] = obj
    return [found[name] for name in sorted(found)]


def _instances():
    for cls in _public_estimators():
        yield cls(**CHECK_PARAMS.get(cls.__name__, {}))


def test_public_estimators_are_discovered():
    """Check that discovery finds the classifiers and the preprocessing transformers."""
    names = {cls.__name__ for cls in _public_estimators()}
    assert "CNNClassifier" in names
    assert len(names) >= 2


@parametrize_with_checks(
    list(_instances()),
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
)
# The checks fit on flat 2-D rows, on which the pretrained-backbone estimators
# warn that the rows are read as images 1 pixel high (see warn_if_feature_rows).
@pytest.mark.filterwarnings("ignore:.*as an image 1 pixel high:UserWarning")
def test_sklearn_compatible_estimator(estimator, check):
    """Check that each public estimator passes scikit-learn's estimator checks."""
    check(estimator)


@pytest.mark.parametrize("estimator", list(_instances()), ids=lambda est: type(est).__name__)
def test_every_fitted_attribute_is_documented(estimator):
    """Check that each public attribute set by fit is listed under Attributes."""
    import numpy as np
    from numpydoc.docscrape import ClassDoc

    if type(estimator).__name__ == "ImageLoader":
        pytest.skip("ImageLoader takes file paths; test_image_loader.py covers it")
    rng = np.random.RandomState(0)
    X = rng.randint(0, 255, size=(20, 8, 8, 3)).astype(np.uint8)
    y = np.arange(20) % 2
    estimator.set_params(**{"max_epochs": 1} if "max_epochs" in estimator.get_params() else {})
    estimator.fit(X, y)
    fitted = {a for a in vars(estimator) if a.endswith("_") and not a.startswith("_")}
    documented = {attr.name for attr in ClassDoc(type(estimator))["Attributes"]}
    assert fitted, type(estimator).__name__
    assert fitted <= documented, fitted - documented
