"""Tests for CNNClassifier."""

import copy
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from skorch.callbacks import Callback

from sk_imgcls import CNNClassifier



@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.reshape(-1, 8, 8), y


def _small(**params):
    return CNNClassifier(**{"max_epochs": 3, "width": 8, "random_state": 0, **params})


def _blobs(n=60, shape=(6, 6), n_classes=2, seed=0):
    rng = np.random.RandomState(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, *shape)) + y.reshape(-1, *([1] * len(shape))) * 2.0
    return X, y


def test_digits_accuracy_and_attributes(digits):
    """Check that a CNN learns real digits and exposes every fitted attribute."""
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    clf = CNNClassifier(max_epochs=10, random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.95
    assert clf.n_features_in_ == 64
    assert clf.image_shape_ == (8, 8, 1)
    assert clf.n_iter_ == 10 == len(clf.history_)
    assert isinstance(clf.module_, torch.nn.Module)
    assert not clf.module_.training
    assert np.all(np.isfinite(clf.history_[:, "train_loss"]))


def test_predict_returns_original_string_labels():
    """Check that predict returns the string labels of y, not indices."""
    X, y = _blobs()
    labels = np.array(["cat", "dog"])[y]
    clf = _small().fit(X, labels)
    assert set(clf.predict(X)) <= {"cat", "dog"}
    assert clf.predict(X).dtype == labels.dtype
    assert list(clf.classes_) == ["cat", "dog"]


def test_predict_returns_non_contiguous_integer_labels():
    """Check that integer labels such as -3 and 10 come back unchanged."""
    X, y = _blobs(n_classes=3)
    labels = np.array([-3, 7, 10])[y]
    clf = _small(max_epochs=20, lr=0.01, batch_size=16).fit(X, labels)
    assert set(clf.predict(X)) <= {-3, 7, 10}
    assert np.mean(clf.predict(X) == labels) > 0.8


def test_predict_proba_columns_follow_classes():
    """Check that predict_proba has one column per class, in classes_ order, summing to 1."""
    X, y = _blobs(n_classes=3)
    labels = np.array(["c", "a", "b"])[y]
    clf = _small(max_epochs=20, lr=0.01, batch_size=16).fit(X, labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    # Column j is the probability of classes_[j]: high on samples of that class.
    for j, label in enumerate(clf.classes_):
        assert proba[labels == label, j].mean() > proba[labels != label, j].mean()


@pytest.mark.parametrize(
    "shape",
    [(1, 1), (1, 1, 3), (8, 8), (28, 28), (5, 13, 2), (224, 224, 3)],
)
def test_any_image_size_trains_and_predicts(shape):
    """Check that images from 1x1 to 224x224, gray or multi-channel, go through the network."""
    rng = np.random.RandomState(0)
    n = 4 if shape[0] == 224 else 12
    X = rng.randint(0, 256, size=(n, *shape)).astype(np.uint8)
    y = np.arange(n) % 2
    clf = CNNClassifier(width=4, max_epochs=1, batch_size=4, random_state=0)
    clf.fit(X, y)
    assert clf.predict_proba(X).shape == (n, 2)
    expected = shape if len(shape) == 3 else (*shape, 1)
    assert clf.image_shape_ == expected


@pytest.mark.parametrize(
    "shape, depth",
    [((1, 1), 1), ((2, 3), 1), ((1, 10), 2), ((8, 8), 2), ((28, 28), 3), ((32, 32, 3), 4),
     ((64, 64, 3), 5), ((224, 224, 3), 5)],
)
def test_auto_depth_stops_when_the_map_is_at_most_3_pixels(shape, depth):
    """Check that depth="auto" adds blocks until the longer side is <= 3 pixels, at most 5."""
    X = np.random.RandomState(0).randint(0, 256, size=(4, *shape)).astype(np.uint8)
    clf = CNNClassifier(width=2, max_epochs=1, random_state=0).fit(X, [0, 1, 0, 1])
    assert clf.depth == "auto"
    assert clf.depth_ == depth
    assert len(clf.module_.features) == depth


@pytest.mark.parametrize(
    "shape, params, head, n_inputs",
    [
        # Single-channel, last map at most 3 pixels: flattened (C * h * w).
        ((8, 8), {}, "flatten", 4 * 2 * 2),  # depth 2: a 2x2 map of 4 channels
        ((28, 28), {}, "flatten", 8 * 3 * 3),  # depth 3: 3x3 map of 8 channels
        ((1, 10), {}, "flatten", 4 * 1 * 2),
        # Colour: global average pooling.
        ((32, 32, 3), {}, "avg", 16),
        # A large map (depth 1 on 28x28 leaves 14x14): global average pooling.
        ((28, 28), {"depth": 1}, "avg", 2),
        # Explicit values are kept.
        ((32, 32, 3), {"head": "flatten"}, "flatten", 16 * 2 * 2),
        ((28, 28), {"head": "avg"}, "avg", 8),
    ],
)
def test_auto_head_flattens_small_single_channel_maps(shape, params, head, n_inputs):
    """Check head="auto": "flatten" for gray images with a last map of <= 3 pixels, else "avg"."""
    X = np.random.RandomState(0).randint(0, 256, size=(4, *shape)).astype(np.uint8)
    clf = CNNClassifier(width=2, max_epochs=1, random_state=0, **params).fit(X, [0, 1, 0, 1])
    assert clf.head_ == head
    assert clf.module_.head[-1].in_features == n_inputs
    assert clf.predict_proba(X).shape == (4, 2)


def test_head_in_a_grid_and_bad_values(digits_images):
    """Check that "auto" and explicit heads mix in a grid, and that an unknown head raises."""
    X, y = digits_images
    search = GridSearchCV(
        CNNClassifier(width=4, max_epochs=1, random_state=0), {"head": ["auto", "avg"]}, cv=2
    ).fit(X[:200], y[:200])
    assert [p["head"] for p in search.cv_results_["params"]] == ["auto", "avg"]
    with pytest.raises(ValueError, match="'head' parameter of CNNClassifier must be") as info:
        CNNClassifier(head="max").fit(X[:20], y[:20])
    # The valid values, in set order (which varies between runs).
    assert all(repr(value) in str(info.value) for value in ("auto", "avg", "flatten", "max"))


def test_an_explicit_depth_is_kept_within_what_the_images_allow():
    """Check that an int depth is used as given, up to one block past a 1x1 map."""
    X = np.zeros((4, 8, 8), dtype=np.uint8)
    clf = CNNClassifier(depth=4, width=2, max_epochs=1, random_state=0).fit(X, [0, 1, 0, 1])
    assert clf.depth_ == 4


@pytest.mark.parametrize("shape, largest", [((8, 8), 4), ((1, 1), 1), ((2, 3), 2)])
def test_too_large_a_depth_raises_before_building_the_network(shape, largest, monkeypatch):
    """Check that depth=100 raises a ValueError naming the largest depth, allocating nothing."""
    import sk_imgcls._cnn as cnn_module

    def no_network(*args, **kwargs):
        raise AssertionError("the network was built")

    monkeypatch.setattr(cnn_module, "CNN", no_network)  # the error must come first
    X = np.zeros((4, *shape), dtype=np.uint8)
    clf = CNNClassifier(depth=100, max_epochs=1)
    with pytest.raises(ValueError, match=rf"depth=100 is too large .* at most {largest} blocks"):
        clf.fit(X, [0, 1, 0, 1])
    assert not hasattr(clf, "depth_")


def test_grid_search_over_auto_and_int_depths(digits_images):
    """Check that "auto" and ints mix in a GridSearchCV grid and set_params."""
    X, y = digits_images
    search = GridSearchCV(
        CNNClassifier(width=4, max_epochs=1, random_state=0), {"depth": ["auto", 1]}, cv=2
    ).fit(X[:200], y[:200])
    assert [p["depth"] for p in search.cv_results_["params"]] == ["auto", 1]
    assert search.best_estimator_.depth_ in (1, 2)
    clf = CNNClassifier().set_params(depth="auto")
    with pytest.raises(ValueError, match="depth"):
        CNNClassifier(depth="deep").fit(X[:20], y[:20])
    assert clf.depth == "auto"


@pytest.mark.parametrize(
    "n_samples, epochs",
    [(1, 30), (244, 30), (1347, 30), (20_000, 30), (30_000, 20), (60_000, 10),
     (120_000, 5), (300_000, 2), (400_001, 1), (1_200_000, 1), (10_000_000, 1)],
)
def test_auto_max_epochs_trains_on_about_600000_images(n_samples, epochs):
    """Check that max_epochs="auto" gives round(600,000 / n_samples) epochs, between 1 and 30."""
    assert CNNClassifier()._n_epochs(n_samples) == epochs
    assert CNNClassifier(max_epochs=7)._n_epochs(n_samples) == 7


def test_auto_max_epochs_is_resolved_in_fit_and_works_in_a_grid(digits_images):
    """Check that max_epochs="auto" is stored as max_epochs_, and mixes with ints in a grid."""
    X, y = digits_images
    clf = CNNClassifier(depth=1, width=2, random_state=0).fit(X[:40], y[:40])
    assert clf.max_epochs == "auto"
    assert clf.max_epochs_ == 30
    assert clf.n_iter_ == 30
    clf.set_params(max_epochs=2).fit(X[:40], y[:40])
    assert (clf.max_epochs_, clf.n_iter_) == (2, 2)
    search = GridSearchCV(
        CNNClassifier(depth=1, width=2, random_state=0), {"max_epochs": ["auto", 1]}, cv=2
    ).fit(X[:40], y[:40])
    assert [p["max_epochs"] for p in search.cv_results_["params"]] == ["auto", 1]
    with pytest.raises(ValueError, match="max_epochs"):
        CNNClassifier(max_epochs="all").fit(X[:20], y[:20])
    with pytest.raises(ValueError, match="max_epochs"):
        CNNClassifier(max_epochs=0).fit(X[:20], y[:20])


def test_image_size_resizes_arrays_of_any_size():
    """Check that image_size resizes every array to the network's shape, in fit and predict."""
    X, y = _blobs(shape=(10, 14))
    clf = _small(image_size=(6, 8)).fit(X, y)
    assert clf.image_shape_ == (6, 8, 1)
    assert clf.preprocess_ is not None
    assert clf.n_features_in_ == 10 * 14
    X_other, _ = _blobs(shape=(20, 9))
    assert clf.predict_proba(X_other).shape == (len(X_other), 2)
    square = _small(image_size=5).fit(X, y)
    assert square.image_shape_ == (5, 5, 1)
    plain = _small().fit(X, y)
    assert plain.preprocess_ is None and plain.image_shape_ == (10, 14, 1)


@pytest.mark.parametrize("image_size", [0, (4, 0), (4, 4, 4), (4.5, 4)])
def test_bad_image_size_raises(image_size):
    """Check that image_size must be a positive int or a pair of positive ints."""
    X, y = _blobs()
    with pytest.raises(ValueError, match="image_size"):
        _small(image_size=image_size).fit(X, y)


def test_2d_input_uses_image_shape_or_reads_rows_as_1_by_n_images():
    """Check both documented readings of a 2-D X."""
    X, y = _blobs(shape=(36,))
    assert _small(image_shape=(6, 6)).fit(X, y).image_shape_ == (6, 6, 1)
    assert _small(image_shape=(3, 4, 3)).fit(X, y).image_shape_ == (3, 4, 3)
    assert _small().fit(X, y).image_shape_ == (1, 36, 1)


def test_uint8_and_float_inputs_give_the_same_model():
    """Check that uint8 images and the same values as float32 train identical networks."""
    X, y = _blobs()
    X_uint8 = np.clip(X * 40 + 128, 0, 255).astype(np.uint8)
    a = _small().fit(X_uint8, y).predict_proba(X_uint8)
    b = _small().fit(X_uint8.astype(np.float32), y).predict_proba(X_uint8.astype(np.float32))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_same_random_state_gives_identical_weights_and_predictions():
    """Check reproducibility on CPU, and that the caller's torch RNG is untouched."""
    X, y = _blobs()
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = _small(random_state=7).fit(X, y)
    assert torch.equal(torch.rand(1), expected_next)
    b = _small(random_state=7).fit(X, y)
    for (name, pa), pb in zip(a.module_.state_dict().items(), b.module_.state_dict().values()):
        assert torch.equal(pa, pb), name
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = _small(random_state=8).fit(X, y)
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


class _RecordWeights(Callback):
    def initialize(self):
        self.states = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.states.append(copy.deepcopy(net.module_.state_dict()))


def test_early_stopping_restores_best_epoch_weights():
    """Check that early stopping stops before max_epochs and restores the best epoch."""
    X, y = _blobs(n=80, n_classes=2)
    y = np.where(np.random.RandomState(1).rand(len(y)) < 0.3, 1 - y, y)  # noisy: overfits
    clf = CNNClassifier(
        width=16,
        lr=0.05,
        max_epochs=60,
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=3,
        callbacks=[("record", _RecordWeights())],
        random_state=0,
    ).fit(X, y)
    valid_loss = clf.history_[:, "valid_loss"]
    assert clf.n_iter_ < 60
    assert {"train_loss", "valid_loss", "valid_acc"} <= set(clf.history_[-1])
    best = int(np.argmin(valid_loss))
    assert best < clf.n_iter_ - 1
    record = dict(clf.net_.callbacks_)["record"]
    for name, value in clf.module_.state_dict().items():
        torch.testing.assert_close(value, record.states[best][name], msg=name)


def test_sgd_momentum_and_weight_decay_reach_the_optimizer():
    """Check that optimizer, momentum and weight_decay configure torch's optimizer."""
    X, y = _blobs()
    clf = _small(optimizer="sgd", momentum=0.8, weight_decay=1e-3, lr=0.01).fit(X, y)
    optimizer = clf.net_.optimizer_
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.param_groups[0]["momentum"] == 0.8
    assert optimizer.param_groups[0]["weight_decay"] == 1e-3
    assert isinstance(_small(optimizer="adamw").fit(X, y).net_.optimizer_, torch.optim.AdamW)


def test_verbose_prints_progress_and_zero_is_silent(capsys):
    """Check that verbose=1 prints a per-epoch table and verbose=0 prints nothing."""
    X, y = _blobs()
    _small().fit(X, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    _small(verbose=1, early_stopping=True, validation_fraction=0.25).fit(X, y)
    captured = capsys.readouterr()
    assert "train_loss" in captured.out and "valid_acc" in captured.out


def test_clone_pickle_and_set_params():
    """Check that clone, set_params and pickling keep a working estimator."""
    X, y = _blobs()
    clf = _small().fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    fresh = clone(clf).set_params(depth=1)
    assert not hasattr(fresh, "classes_") and fresh.depth == 1
    fresh.fit(X, y)
    assert len(fresh.module_.features) == 1


def test_grid_search_and_cross_val_score(digits):
    """Check that GridSearchCV over lr and depth, and cross_val_score, work unchanged."""
    X, y = digits
    X, y = X[:300], y[:300]
    search = GridSearchCV(
        CNNClassifier(max_epochs=4, width=8, random_state=0),
        {"lr": [1e-3, 1e-2], "depth": [2, 3]},
        cv=2,
    ).fit(X, y)
    assert set(search.cv_results_["params"][0]) == {"lr", "depth"}
    assert search.best_score_ > 0.7
    scores = cross_val_score(CNNClassifier(max_epochs=2, width=8, random_state=0), X, y, cv=3)
    assert scores.shape == (3,)


def test_inputs_are_not_modified_in_place():
    """Check that fit and predict leave X and y exactly as they were."""
    X, y = _blobs()
    for X_in in (X.astype(np.float32), np.clip(X * 40 + 128, 0, 255).astype(np.uint8)):
        X_before, y_before = X_in.copy(), y.copy()
        clf = _small().fit(X_in, y)
        clf.predict_proba(X_in)
        np.testing.assert_array_equal(X_in, X_before)
        np.testing.assert_array_equal(y, y_before)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_pixels_raise(bad):
    """Check that NaN or infinite pixels raise a ValueError."""
    X, y = _blobs()
    X[3, 2, 1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        _small().fit(X, y)


@pytest.mark.parametrize("shape", [(12,), (12, 2, 3, 3, 1)])
def test_wrong_number_of_dimensions_raises(shape):
    """Check that 1-D numeric X and 5-D X raise a ValueError."""
    X = np.zeros(shape)
    y = np.arange(12) % 2
    with pytest.raises(ValueError, match="1D array|dimensions"):
        _small().fit(X, y)


def test_predict_time_image_shape_differs_from_fit_states_both_shapes():
    """Check that predicting on images of another shape names both shapes."""
    X, y = _blobs(shape=(6, 6))
    clf = _small().fit(X, y)
    with pytest.raises(ValueError, match=r"\(6, 4, 1\).*\(6, 6, 1\)"):
        clf.predict(X[:, :, :4])
    with pytest.raises(ValueError, match=r"\(3, 6, 2\).*\(6, 6, 1\)"):
        clf.predict(X.reshape(len(X), 3, 6, 2))


def test_channels_first_input_raises():
    """Check that an (n, 3, 32, 32) array is rejected as channels-first."""
    X = np.zeros((4, 3, 32, 32), dtype=np.float32)
    with pytest.raises(ValueError, match="channels-first.*transpose"):
        _small().fit(X, [0, 1, 0, 1])


def test_image_shape_not_matching_n_features_raises():
    """Check that image_shape must hold exactly n_features values."""
    X, y = _blobs(shape=(64,))
    with pytest.raises(ValueError, match=r"image_shape=\(8, 9\) holds 72 values.*64 features"):
        _small(image_shape=(8, 9)).fit(X, y)


def test_single_class_raises():
    """Check that fitting on one class raises an error that mentions the class."""
    X, _ = _blobs()
    with pytest.raises(ValueError, match="class"):
        _small().fit(X, np.zeros(len(X)))


def test_y_length_mismatch_raises():
    """Check that y must have one label per image."""
    X, y = _blobs()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _small().fit(X, y[:-1])


def test_sparse_input_raises_type_error():
    """Check that a sparse matrix raises a TypeError asking for a dense array."""
    X, y = _blobs(shape=(36,))
    with pytest.raises(TypeError, match="dense"):
        _small().fit(sp.csr_matrix(X), y)


def test_complex_input_raises():
    """Check that complex pixels are rejected."""
    X, y = _blobs()
    with pytest.raises(ValueError, match="[Cc]omplex"):
        _small().fit(X + 1j, y)


@pytest.mark.parametrize("shape", [(0, 8, 8), (0, 64)])
def test_empty_input_raises(shape):
    """Check that X without samples raises a ValueError."""
    with pytest.raises(ValueError, match="0 sample"):
        _small().fit(np.zeros(shape), np.zeros(0))
