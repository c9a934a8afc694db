"""Tests of the one route every image takes: paths, PIL images and arrays alike."""

import copy
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sk_imgcls import CNNClassifier, PretrainedFeatures, TransferClassifier


def _decoded(path):
    """A photo decoded as a user would: Pillow, RGB, uint8, its own size."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _as_every_kind(path):
    """The same photo as a str path, a pathlib.Path, a PIL image and a decoded array."""
    with Image.open(path) as image:
        pil = image.convert("RGB")
    return {
        "str": [str(path)],
        "Path": [Path(path)],
        "PIL": [pil],
        "array": _decoded(path)[None],
    }


def _assert_same_proba_for_every_kind(clf, paths):
    for path in paths:
        probas = {kind: clf.predict_proba(X) for kind, X in _as_every_kind(path).items()}
        for kind, proba in probas.items():
            np.testing.assert_allclose(proba, probas["str"], rtol=0, atol=1e-6, err_msg=kind)


def test_transfer_classifier_predicts_a_photo_the_same_by_path_pil_and_array(photo_paths):
    """Check that the default TransferClassifier gives one photo the same probabilities
    whether it comes as a path, a pathlib.Path, a PIL image or a decoded array."""
    paths, labels = photo_paths
    clf = TransferClassifier(max_epochs=1, random_state=0).fit(paths, labels)
    _assert_same_proba_for_every_kind(clf, paths[[0, -1]])
    # Arrays of other sizes than the network's are resized and cropped too.
    assert clf.predict_proba(_decoded(paths[0])[None, ::2, ::3]).shape == (1, 2)


def test_cnn_classifier_with_image_size_predicts_a_photo_the_same_by_every_kind(photo_paths):
    """Check that CNNClassifier(image_size=...) fitted on paths gives one photo the same
    probabilities as a path, a pathlib.Path, a PIL image and a decoded array."""
    paths, labels = photo_paths
    clf = CNNClassifier(image_size=32, max_epochs=2, random_state=0).fit(paths, labels)
    assert clf.image_shape_ == (32, 32, 3)
    assert not hasattr(clf, "n_features_in_")
    _assert_same_proba_for_every_kind(clf, paths[[0, -1]])


def test_every_input_kind_fits_and_transforms(photo_paths):
    """Check that fit and transform of PretrainedFeatures take paths, PIL images and arrays."""
    paths, _ = photo_paths
    features = PretrainedFeatures("resnet18", weights=None, image_size=32, random_state=0)
    pil = []
    for path in paths[:3]:
        with Image.open(path) as image:
            pil.append(image.convert("RGB"))
    by_path = features.fit(list(map(Path, paths[:3]))).transform(paths[:3])
    by_pil = features.fit(pil).transform(pil)
    np.testing.assert_allclose(by_pil, by_path, atol=1e-6)
    assert features.image_shape_ == (32, 32, 3)


def test_cnn_classifier_resizes_arrays_like_files_when_image_size_is_set():
    """Check that CNNClassifier(image_size) takes arrays of any size and records the network shape."""
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(12, 20, 30, 3)).astype(np.uint8)
    y = np.arange(12) % 2
    clf = CNNClassifier(image_size=(8, 10), max_epochs=1, random_state=0).fit(X, y)
    assert clf.image_shape_ == (8, 10, 3)
    assert clf.n_features_in_ == 20 * 30 * 3
    assert clf.predict(rng.randint(0, 256, size=(2, 40, 9, 3)).astype(np.uint8)).shape == (2,)
    with pytest.raises(ValueError, match=r"fitted on images of shape \(8, 10, 3\)"):
        clf.predict(rng.rand(2, 20, 30, 1))


def test_cnn_classifier_without_image_size_refuses_other_sizes():
    """Check that without image_size the CNN takes only the fitted image shape."""
    rng = np.random.RandomState(0)
    clf = CNNClassifier(max_epochs=1, random_state=0).fit(rng.rand(8, 6, 6), np.arange(8) % 2)
    with pytest.raises(ValueError, match=r"shape \(7, 6, 1\).*fitted on images of shape \(6, 6, 1\)"):
        clf.predict(rng.rand(2, 7, 6))


@pytest.mark.filterwarnings("ignore:.*as an image 1 pixel high:UserWarning")
def test_flat_rows_keep_the_n_features_in_contract():
    """Check that 2-D rows of another length are refused, as scikit-learn requires."""
    rng = np.random.RandomState(0)
    clf = TransferClassifier(
        "resnet18", weights=None, image_size=16, max_epochs=1, augment=None, tta=None
    ).fit(rng.rand(6, 12), np.arange(6) % 2)
    with pytest.raises(ValueError, match="X has 10 features, but TransferClassifier is expecting 12"):
        clf.predict(rng.rand(2, 10))


@pytest.fixture(scope="module")
def fitted_cnn(photo_paths):
    paths, labels = photo_paths
    return CNNClassifier(image_size=16, max_epochs=1, random_state=0).fit(paths, labels)


def _pil(path):
    with Image.open(path) as image:
        return image.convert("RGB")


@pytest.mark.parametrize(
    "make_X, message",
    [
        (lambda p: p[0], r"single path.*X=\[path\]"),
        (lambda p: Path(p[0]), r"single path.*X=\[path\]"),
        (lambda p: _pil(p[0]), r"single PIL image.*X=\[image\]"),
        (lambda p: [p[0], _decoded(p[1])], r"X\[1\] is array\("),
        (lambda p: [_pil(p[0]), p[1]], r"only PIL images.*X\[1\] is the path"),
        (lambda p: [p[0], os.fsencode(p[1])], r"X\[1\] is the bytes path"),
        (lambda p: [os.fsencode(p[0])], r"X\[0\] is the bytes path"),
        (lambda p: [p[0], None], r"X\[1\] is None"),
        (lambda p: np.array([p[0], 3], dtype=object), r"X\[1\] is 3 of type int"),
        (lambda p: [Image.new("La", (8, 8))], r"X\[0\] cannot be used.*mode 'La'"),
    ],
)
def test_bad_inputs_get_errors_that_name_the_element(fitted_cnn, photo_paths, make_X, message):
    """Check that each wrong input kind raises a ValueError naming the problem."""
    X = make_X(photo_paths[0])
    with pytest.raises(ValueError, match=message):
        fitted_cnn.predict(X)


def test_arrays_with_the_wrong_channels_are_refused(photo_paths):
    """Check that a CNN fitted on RGB files refuses grayscale arrays, naming both shapes."""
    paths, labels = photo_paths
    clf = CNNClassifier(image_size=16, max_epochs=1, random_state=0).fit(paths, labels)
    with pytest.raises(ValueError, match=r"shape \(16, 16, 1\).*fitted on images of shape \(16, 16, 3\)"):
        clf.predict(np.zeros((1, 16, 16), dtype=np.uint8))


def test_files_decode_to_the_channels_a_gray_model_was_fitted_on(photo_paths):
    """Check that a CNN fitted on 1-channel arrays reads files as grayscale."""
    paths, _ = photo_paths
    gray = np.stack([np.asarray(_pil(p).convert("L").resize((16, 16))) for p in paths])
    clf = CNNClassifier(image_size=16, max_epochs=1, random_state=0).fit(gray, np.arange(8) % 2)
    assert clf.predict_proba(paths[:2]).shape == (2, 2)


def test_inputs_are_never_modified(photo_paths):
    """Check that fit and predict leave arrays, PIL images and path lists as they were."""
    paths, labels = photo_paths
    X = np.stack([_decoded(p)[:40, :40] for p in paths])
    images = [_pil(p) for p in paths]
    path_list = list(paths)
    before = (X.copy(), [np.asarray(im).copy() for im in images], copy.copy(path_list))
    clf = CNNClassifier(image_size=16, max_epochs=1, random_state=0)
    clf.fit(X, labels).predict(X)
    clf.fit(images, labels).predict(images)
    clf.fit(path_list, labels).predict(path_list)
    np.testing.assert_array_equal(X, before[0])
    for image, pixels in zip(images, before[1]):
        np.testing.assert_array_equal(np.asarray(image), pixels)
    assert path_list == before[2]


def test_a_list_of_arrays_with_a_path_is_refused(fitted_cnn, photo_paths):
    """Check that a list starting with an array and holding a path names the path's position."""
    paths, _ = photo_paths
    with pytest.raises(ValueError, match=r"X mixes arrays.*X\[1\] is the path"):
        fitted_cnn.predict([np.zeros((16, 16, 3), dtype=np.uint8), paths[0]])


def test_dataloader_workers_do_not_change_the_model(photo_paths):
    """Check that decoding files in worker processes trains the same model as in the main one."""
    paths, labels = photo_paths
    probas = [
        CNNClassifier(image_size=16, max_epochs=2, random_state=0, num_workers=workers)
        .fit(paths, labels)
        .predict_proba(paths)
        for workers in (0, 2)
    ]
    np.testing.assert_array_equal(probas[0], probas[1])


def test_median_shorter_side_reads_every_kind_of_array():
    """Check the size image_size="auto" reads: rows, gray and colour arrays, ragged lists."""
    from sk_imgcls._input import median_shorter_side

    assert median_shorter_side(np.zeros((5, 12))) == 1  # rows: 1 x 12 images
    assert median_shorter_side(np.zeros((5, 30, 20))) == 20
    assert median_shorter_side(np.zeros((5, 30, 40, 3))) == 30
    # What is not images is left to check_input to name.
    assert median_shorter_side([np.zeros((3, 3)), np.zeros((4, 5))]) is None
    assert median_shorter_side(np.zeros(5)) is None

    class OnlyArrayProtocol:  # as scikit-learn's checks pass X: no shape, no NumPy functions
        def __array__(self, dtype=None, copy=None):
            return np.zeros((5, 30, 40))

        def __array_function__(self, func, types, args, kwargs):
            raise TypeError(f"{func.__name__} called")

    assert median_shorter_side(OnlyArrayProtocol()) == 30


def test_a_series_or_a_single_column_of_paths_or_images_is_read_as_that_column(photo_paths):
    """Check that a pandas Series, a one-column DataFrame and an (n_samples, 1) array of
    paths or PIL images give the probabilities the 1-D list gives, and the same size to
    image_size="auto"; a one-column table of numbers stays an array (rows of features)."""
    import pandas as pd

    from sk_imgcls._input import median_shorter_side

    paths, labels = photo_paths
    clf = CNNClassifier(image_size=16, max_epochs=1, random_state=0).fit(list(paths), labels)
    expected = clf.predict_proba(list(paths))
    pil = []
    for path in paths:
        with Image.open(path) as image:
            pil.append(image.convert("RGB"))
    columns = {
        "Series": pd.Series(paths),
        "DataFrame": pd.DataFrame({"path": paths}),
        "array (n, 1)": np.asarray(paths, dtype=object)[:, None],
        "str array (n, 1)": np.asarray(paths, dtype=str)[:, None],
        "DataFrame of PIL images": pd.DataFrame({"image": pil}),
    }
    for name, X in columns.items():
        np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-6, err_msg=name)
        assert median_shorter_side(X) == median_shorter_side(list(paths)), name
    refit = CNNClassifier(image_size=16, max_epochs=1, random_state=0)
    refit.fit(pd.DataFrame({"path": paths}), pd.Series(labels))
    np.testing.assert_allclose(refit.predict_proba(list(paths)), expected, atol=1e-6)
    # Numbers in one column are still rows of one feature, not a column of items.
    assert median_shorter_side(pd.DataFrame({"x": np.arange(4.0)})) == 1
    # Two columns of paths are refused by name, before any file is read.
    for X in (pd.DataFrame({"a": paths, "b": paths}), np.c_[paths, paths], [[p, p] for p in paths]):
        with pytest.raises(ValueError, match=r"table of 8 rows and 2 columns whose first cell is "
                           r"the path '.*'; pass the images as one column"):
            clf.predict(X)
    assert np.allclose(clf.predict_proba([[p] for p in paths]), expected, atol=1e-6)
