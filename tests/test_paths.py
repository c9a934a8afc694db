"""Tests for classifiers fed image file paths, streamed from disk."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.pipeline import make_pipeline

import sk_imgcls._input as input_module
from sk_imgcls import CNNClassifier, ImageReadError
from sk_imgcls.datasets import load_image_folder
from sk_imgcls.preprocessing import ImageLoader

HYMENOPTERA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hymenoptera"


def _write_folder(root, n_per_class=24, size=(20, 16), seed=0):
    """Two classes of generated JPEGs: dark images with a bright square, or the opposite."""
    rng = np.random.RandomState(seed)
    for label, name in enumerate(["dark", "light"]):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            base = 60 if label == 0 else 190
            pixels = np.clip(rng.normal(base, 20, size=(*size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.jpg", quality=95)
    return load_image_folder(root)


def _clf(**params):
    return CNNClassifier(**{"max_epochs": 4, "width": 8, "lr": 1e-2, "random_state": 0, **params})


def test_fit_and_predict_from_paths(tmp_path):
    """Check that a CNN trains on file paths and predicts labels for paths."""
    paths, labels = _write_folder(tmp_path)
    clf = _clf().fit(paths, labels)
    assert clf.image_shape_ == (20, 16, 3)
    # Values per image mean nothing for files, which may have any size.
    assert not hasattr(clf, "n_features_in_")
    assert clf.score(paths, labels) > 0.9
    assert set(clf.predict(paths)) <= {"dark", "light"}


def test_image_size_resizes_files_of_mixed_sizes(tmp_path):
    """Check that image_size sets the decoded size, and mixed sizes without it raise."""
    paths, labels = _write_folder(tmp_path)
    Image.new("RGB", (50, 30)).save(tmp_path / "dark" / "odd.png")
    paths, labels = load_image_folder(tmp_path)
    with pytest.raises(ValueError, match="2 different sizes.*30x50"):
        _clf().fit(paths, labels)
    clf = _clf(image_size=(12, 10)).fit(paths, labels)
    assert clf.image_shape_ == (12, 10, 3)
    assert clf.predict_proba(paths).shape == (len(paths), 2)


def test_paths_and_image_loader_pipeline_reach_the_same_accuracy(tmp_path):
    """Check that paths fed directly and ImageLoader then CNN give the same accuracy."""
    paths, labels = _write_folder(tmp_path, n_per_class=30)
    train, test = np.arange(len(paths)) % 3 != 0, np.arange(len(paths)) % 3 == 0
    direct = _clf(image_size=16).fit(paths[train], labels[train])
    pipe = make_pipeline(ImageLoader(size=(16, 16)), _clf()).fit(paths[train], labels[train])
    assert direct.score(paths[test], labels[test]) == pipe.score(paths[test], labels[test])


def test_path_batches_are_decoded_lazily_by_a_dataloader(tmp_path, monkeypatch):
    """Check that files are decoded per item during training, never all up front."""
    paths, labels = _write_folder(tmp_path, n_per_class=8)
    calls = []
    original = input_module.open_image

    def counting_open_image(path, **kwargs):
        calls.append(path)
        return original(path, **kwargs)

    # Laziness is not visible through the public API: count the decodes by
    # spying on the one function that reads pixels from a file.
    monkeypatch.setattr(input_module, "open_image", counting_open_image)
    clf = _clf(max_epochs=2, batch_size=4).fit(paths, labels)
    # Statistics sample (at most 256 images) plus one decode per image per epoch.
    assert len(calls) == len(paths) + 2 * len(paths)
    assert sorted(calls) == sorted(list(paths) * 3)
    assert clf.n_iter_ == 2
    calls.clear()
    clf.predict(paths[:5])
    assert sorted(calls) == sorted(paths[:5])


def test_num_workers_decode_in_worker_processes(tmp_path):
    """Check that num_workers=2 gives the same model as decoding in the main process."""
    paths, labels = _write_folder(tmp_path, n_per_class=8)
    a = _clf(max_epochs=2).fit(paths, labels).predict_proba(paths)
    b = _clf(max_epochs=2, num_workers=2).fit(paths, labels).predict_proba(paths)
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_bad_file_during_fit_names_the_file(tmp_path):
    """Check that a broken file in the training paths raises ImageReadError naming it."""
    paths, labels = _write_folder(tmp_path, n_per_class=6)
    bad = tmp_path / "light" / "broken.jpg"
    bad.write_text("not an image")
    paths, labels = load_image_folder(tmp_path)
    with pytest.raises(ImageReadError, match="broken.jpg"):
        _clf(image_size=8).fit(paths, labels)


def test_fitted_on_paths_predicts_arrays_of_the_decoded_shape(tmp_path):
    """Check that a model fitted on paths accepts arrays shaped like the decoded images."""
    paths, labels = _write_folder(tmp_path, n_per_class=6)
    clf = _clf().fit(paths, labels)
    images = ImageLoader().transform(paths)
    np.testing.assert_allclose(clf.predict_proba(images), clf.predict_proba(paths), rtol=1e-5)
    with pytest.raises(ValueError, match="fitted on images of shape"):
        clf.predict(images[:, :10])


def test_path_pil_image_and_array_of_one_photo_predict_the_same(tmp_path):
    """Check that a file, its PIL image and its decoded array take the same resize and prediction."""
    paths, labels = _write_folder(tmp_path, n_per_class=6)
    clf = _clf(image_size=(12, 10), max_epochs=1).fit(paths, labels)
    assert clf.image_shape_ == (12, 10, 3)
    by_path = clf.predict_proba(paths)
    pil_images = [Image.open(path) for path in paths]
    np.testing.assert_array_equal(clf.predict_proba(pil_images), by_path)
    arrays = np.stack([np.asarray(image.convert("RGB")) for image in pil_images])
    assert arrays.shape[1:] == (20, 16, 3)  # decoded at their own size, resized by clf
    np.testing.assert_array_equal(clf.predict_proba(arrays), by_path)


def test_path_labels_length_mismatch_raises(tmp_path):
    """Check that y must have one label per path."""
    paths, labels = _write_folder(tmp_path, n_per_class=4)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _clf().fit(paths, labels[:-1])
