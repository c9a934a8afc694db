"""Models that travel and fail safely: pickles, failed and interrupted fits, bad values.

Each test is numbered after the case of the issue "Models that travel and fail
safely" that it covers.
"""

import io
import os
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from PIL import Image
from skorch.callbacks import Callback
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.utils.validation import check_is_fitted

from sk_imgcls import CNNClassifier, ImageReadError, PretrainedFeatures, TransferClassifier
from sk_imgcls.datasets import load_image_folder
from sk_imgcls.preprocessing import ImageLoader


def _small(**params):
    return CNNClassifier(**{"max_epochs": 2, "width": 4, "random_state": 0, **params})


class RaiseAtEpoch(Callback):
    """Raise ``error`` when epoch ``epoch`` begins."""

    def __init__(self, epoch, error=RuntimeError):
        self.epoch = epoch
        self.error = error

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise self.error("raised by the test")


class CountFits(Callback):
    """Count the fits that reach their first epoch (in a module-level list)."""

    starts = []

    def on_train_begin(self, net, **kwargs):
        CountFits.starts.append(1)


# -- 1-3: pickles -----------------------------------------------------------


def test_1_early_stopping_model_pickles(digits_images):
    """Check that a model fitted with early stopping pickles and joblib-dumps."""
    X, y = digits_images
    clf = _small(early_stopping=True).fit(X[:300], y[:300])
    for dumped in (pickle.loads(pickle.dumps(clf)), _joblib_round_trip(clf)):
        np.testing.assert_array_equal(dumped.predict_proba(X[:20]), clf.predict_proba(X[:20]))


def _joblib_round_trip(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


def _pickled_as_if_on_a_gpu(obj, monkeypatch):
    """Pickle ``obj`` with every tensor storage tagged "cuda:0", as a GPU-trained model is."""
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        return pickle.dumps(obj)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks loading without a GPU")
def test_2_gpu_pickles_load_on_a_cpu_only_machine(digits_images, monkeypatch):
    """Check that models whose tensors were saved from a GPU load and predict on the CPU."""
    X, y = digits_images
    clf = _small().fit(X[:200], y[:200])
    loaded = pickle.loads(_pickled_as_if_on_a_gpu(clf, monkeypatch))
    np.testing.assert_array_equal(loaded.predict_proba(X[:20]), clf.predict_proba(X[:20]))
    features = PretrainedFeatures("resnet18", weights=None, image_size=32).fit(X[:4])
    loaded = pickle.loads(_pickled_as_if_on_a_gpu(features, monkeypatch))
    np.testing.assert_array_equal(loaded.transform(X[:4]), features.transform(X[:4]))


def test_3_pickle_holds_the_weights_once():
    """Check that a pickle is at most 1.1 times the weights and module_ is the net's after loading."""
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(16, 32, 32, 3)).astype(np.uint8)
    clf = TransferClassifier("resnet18", weights=None, image_size=32, max_epochs=1, tta=None)
    clf.fit(X, np.arange(16) % 2)
    weights = sum(t.numel() * t.element_size() for t in clf.module_.state_dict().values())
    pickled = pickle.dumps(clf)
    assert len(pickled) <= 1.1 * weights, (len(pickled), weights)
    loaded = pickle.loads(pickled)
    assert loaded.module_ is loaded.net_.module_ is loaded.net_.module
    assert loaded.history_ is loaded.net_.history
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_3_a_learning_rate_schedule_does_not_carry_the_optimizer_into_the_pickle(digits_images):
    """Check that with a cosine schedule the pickle stays the size of a constant rate's."""
    X, y = digits_images
    cosine = _small(lr_schedule="cosine").fit(X[:100], y[:100])
    constant = _small(lr_schedule=None).fit(X[:100], y[:100])
    assert len(pickle.dumps(cosine)) < 1.1 * len(pickle.dumps(constant))
    loaded = pickle.loads(pickle.dumps(cosine))
    assert dict(cosine.net_.callbacks_)["lr_schedule"].lr_scheduler_ is not None  # kept here
    np.testing.assert_array_equal(loaded.predict_proba(X[:20]), cosine.predict_proba(X[:20]))


def test_3_warm_start_pickles_keep_the_optimizer_state(digits_images):
    """Check that warm_start models keep Adam's state in the pickle, others drop it."""
    X, y = digits_images
    plain = pickle.loads(pickle.dumps(_small().fit(X[:100], y[:100])))
    assert not hasattr(plain.net_, "optimizer_")
    plain.partial_fit(X[:100], y[:100])  # a new optimizer is made when needed
    warm = _small(warm_start=True).fit(X[:100], y[:100])
    loaded = pickle.loads(pickle.dumps(warm))
    assert loaded.net_.optimizer_.state_dict()["state"]


# -- 4-7: failed and interrupted fits ---------------------------------------


def test_4_a_failed_fit_leaves_the_estimator_unfitted(digits_images):
    """Check that a fit raising mid-training leaves no fitted attribute."""
    X, y = digits_images
    clf = _small(callbacks=[RaiseAtEpoch(2)])
    with pytest.raises(RuntimeError, match="raised by the test"):
        clf.fit(X[:100], y[:100])
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    assert not [name for name in vars(clf) if name.endswith("_")]


def test_4_a_failed_refit_keeps_the_previous_model(digits_images):
    """Check that a failed fit of a fitted estimator leaves its previous model intact."""
    X, y = digits_images
    clf = _small().fit(X[:100], y[:100])
    before = clf.predict_proba(X[:20])
    clf.set_params(callbacks=[RaiseAtEpoch(2)])
    with pytest.raises(RuntimeError):
        clf.fit(X[100:300], y[100:300])
    np.testing.assert_array_equal(clf.predict_proba(X[:20]), before)
    assert clf.n_iter_ == 2


def test_5_warm_start_and_partial_fit_work_after_a_failure(digits_images):
    """Check that after a failed fit, warm_start fits and partial_fit train again."""
    X, y = digits_images
    clf = _small(warm_start=True, callbacks=[RaiseAtEpoch(2)])
    with pytest.raises(RuntimeError):
        clf.fit(X[:100], y[:100])
    clf.set_params(callbacks=None).fit(X[:100], y[:100])
    clf.fit(X[:100], y[:100])
    assert clf.n_iter_ == 4
    other = _small(callbacks=[RaiseAtEpoch(2)])
    with pytest.raises(RuntimeError):
        other.fit(X[:100], y[:100])
    assert other.partial_fit(X[:100], y[:100]).n_iter_ == 1


def test_5_a_failed_continued_fit_restores_the_network(tmp_path):
    """Check that a warm_start fit failing on a deleted file gives back weights and history."""
    rng = np.random.RandomState(0)
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(8):
            pixels = rng.randint(0, 256, size=(8, 8, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{i}.png")
    paths, labels = load_image_folder(tmp_path)
    clf = _small(warm_start=True).fit(paths, labels)
    before = clf.predict_proba(paths)
    os.remove(paths[3])
    with pytest.raises(ImageReadError, match="3.png"):
        clf.fit(paths, labels)
    assert clf.n_iter_ == len(clf.history_) == 2
    np.testing.assert_array_equal(clf.predict_proba(np.delete(paths, 3)), np.delete(before, 3, 0))


def test_6_ctrl_c_stops_a_cross_validation(digits_images):
    """Check that Ctrl-C in one fit of cross_val_score stops it instead of scoring on."""
    X, y = digits_images
    CountFits.starts.clear()
    clf = _small(max_epochs=3, callbacks=[CountFits(), RaiseAtEpoch(2, KeyboardInterrupt)])
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cross_val_score(clf, X[:150], y[:150], cv=3)
    assert len(CountFits.starts) == 1


def test_7_ctrl_c_keeps_the_finished_epochs_and_says_so(digits_images):
    """Check that an interrupted fit keeps its finished epochs, warns and marks the epoch."""
    X, y = digits_images
    clf = _small(max_epochs=5, callbacks=[RaiseAtEpoch(3, KeyboardInterrupt)])
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning, match="during epoch 3") as record:
        clf.fit(X[:100], y[:100])
    assert record[0].filename == __file__  # the user's fit call, not ours
    assert clf.interrupted_epoch_ == 3
    assert clf.n_iter_ == len(clf.history_) == 2
    assert clf.predict(X[:5]).shape == (5,)
    assert _small().fit(X[:100], y[:100]).interrupted_epoch_ is None


def test_8_threaded_fits_with_one_random_state_agree(digits_images):
    """Check that fits in threads with the same random_state give the same model."""
    X, y = digits_images
    fits = joblib.Parallel(n_jobs=2, backend="threading")(
        joblib.delayed(lambda: _small(max_epochs=3).fit(X[:300], y[:300]))() for _ in range(4)
    )
    first = fits[0].predict_proba(X[:50])
    for clf in fits[1:]:
        np.testing.assert_array_equal(clf.predict_proba(X[:50]), first)


# -- 9-17: bad values ---------------------------------------------------------


def test_9_negative_class_weight_is_refused(digits_images):
    """Check that a negative class weight is an error naming it, not a NaN model."""
    X, y = digits_images
    with pytest.raises(ValueError, match=r"non-negative finite weights; got \{3: -1\.0\}"):
        _small(class_weight={3: -1.0}).fit(X[:100], y[:100])


def test_9_weights_summing_to_zero_say_so(digits_images):
    """Check that all-zero class weights report their sum."""
    X, y = digits_images
    weights = {label: 0.0 for label in range(10)}
    with pytest.raises(ValueError, match="sum to 0"):
        _small(class_weight=weights).fit(X[:100], y[:100])


def test_10_values_beyond_float32_are_refused(digits_images):
    """Check that X or sample_weight beyond float32's range is an error, not a NaN model."""
    X, y = digits_images
    huge = X[:100].astype(np.float64)
    huge[0, 0, 0] = 1e39
    with pytest.raises(ValueError, match="X holds values up to 1e\\+39, beyond float32"):
        _small().fit(huge, y[:100])
    with pytest.raises(ValueError, match="sample_weight holds values up to 1e\\+39"):
        _small().fit(X[:100], y[:100], sample_weight=np.r_[1e39, np.ones(99)])


def test_11_parallel_loader_refuses_every_bomb(tmp_path, monkeypatch):
    """Check that ImageLoader(n_jobs=2) refuses every image past Pillow's limit."""
    paths = []
    for i in range(40):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (12, 12)).save(path)
        paths.append(str(path))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    filters = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(ImageReadError, match="None of the 40 files could be read"):
            ImageLoader(n_jobs=2, on_error="skip").fit_transform(paths)
    assert warnings.filters == filters


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without a GPU")
@pytest.mark.parametrize(
    "device, message",
    [
        ("cuda", r"torch.cuda.is_available\(\) is False: install a CUDA build"),
        ("cuda:1", "is_available"),
        ("gpu", "'gpu' is not a torch device"),
        ("meta", "type 'meta'"),
    ],
)
def test_12_unavailable_devices_are_refused_in_fit(digits_images, device, message):
    """Check that devices this machine lacks are refused in fit, with a hint, for all estimators."""
    X, y = digits_images
    with pytest.raises(ValueError, match=message):
        _small(device=device).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match=message):
        PretrainedFeatures("resnet18", weights=None, image_size=32, device=device).fit(X[:4])


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(callbacks=[object()]), r"callbacks\[0\] is <object object"),
        (dict(callbacks=[("name",)]), r"callbacks\[0\] is \('name',\)"),
        (dict(image_size=(16,)), r"image_size must be .*got image_size=\(16,\)"),
        (dict(image_size=("a", "b")), r"got image_size=\('a', 'b'\)"),
        (dict(image_size=(16.5, 16)), r"got image_size=\(16.5, 16\)"),
        (dict(lr_schedule="onecycle", warmup_epochs=3), "warmup_epochs=3 leaves no epoch"),
    ],
)
def test_15_16_bad_parameters_get_clear_errors(digits_images, params, message):
    """Check that malformed callbacks, image sizes and warm-up lengths are named."""
    X, y = digits_images
    with pytest.raises(ValueError, match=message):
        _small(**params).fit(X[:50], y[:50])


def test_16_early_stopping_names_the_users_single_sample_class(digits_images):
    """Check that a class with one sample is named by its label, not its index."""
    X, y = digits_images
    labels = np.r_[y[:59] + 100, 99]
    with pytest.raises(ValueError, match=r"classes \[99\] have 1"):
        _small(early_stopping=True).fit(X[:60], labels)


def test_17_paths_in_messages_are_plain_strings(tmp_path):
    """Check that paths from load_image_folder appear as plain strings in errors."""
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / label / "x.png")
    paths, labels = load_image_folder(tmp_path)
    os.remove(paths[0])
    with pytest.raises(ImageReadError) as info:
        _small(image_size=8).fit(paths, labels)
    assert "np.str_" not in str(info.value) and repr(str(paths[0])) in str(info.value)
