"""Tests of ImageLoader: image files to an array of images in a Pipeline."""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.exceptions import SkipTestWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks
from sklearn.utils._param_validation import InvalidParameterError

from sk_imgcls._image_io import ImageReadError, open_image
from sk_imgcls.datasets import load_image_folder
from sk_imgcls.preprocessing._loader import ImageLoader

HYMENOPTERA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hymenoptera"

# Each kind of bad file, with words its error message must hold.
BAD_FILES = {
    "missing": "does not exist",
    "directory": "is a directory",
    "empty": "is empty",
    "text": "not an image",
    "truncated_jpeg": "truncated",
    "truncated_png": "truncated",
}


def _make_bad_file(tmp_path, kind):
    path = tmp_path / f"bad_{kind}.{'png' if kind.endswith('png') else 'jpg'}"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.touch()
    elif kind == "text":
        path.write_text("not an image\n")
    elif kind.startswith("truncated"):
        pixels = np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return str(path)


def _images(tmp_path, n=6, size=(12, 10), fmt="png", seed=0):
    """Write n random RGB images of size (height, width); return their paths."""
    rng = np.random.default_rng(seed)
    tmp_path.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = tmp_path / f"img{i:02d}.{fmt}"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_transform_stacks_decoded_images_in_order(tmp_path):
    """Check that transform stacks open_image of each path into (n_samples, h, w, 3) uint8."""
    paths = _images(tmp_path)
    images = ImageLoader().fit_transform(paths)
    assert images.shape == (6, 12, 10, 3) and images.dtype == np.uint8
    for row, path in zip(images, paths):
        np.testing.assert_array_equal(row, open_image(path))


def test_mode_size_and_interpolation_are_passed_to_the_decoder(tmp_path):
    """Check that mode, size and interpolation give the images open_image gives."""
    paths = _images(tmp_path, size=(30, 40))
    loader = ImageLoader(8, mode="L", interpolation="bicubic")
    images = loader.transform(paths)
    assert images.shape == (6, 8, 8, 1)
    expected = [open_image(p, mode="L", size=8, interpolation="bicubic") for p in paths]
    np.testing.assert_array_equal(images, np.stack(expected))


def test_transform_needs_no_fit(tmp_path):
    """Check that the transformer is stateless: transform works unfitted and fit reads no file."""
    paths = _images(tmp_path, n=2)
    assert ImageLoader().transform(paths).shape == (2, 12, 10, 3)
    loader = ImageLoader()
    assert loader.fit([str(tmp_path / "absent.jpg")]) is loader


@pytest.mark.parametrize(
    "container",
    [
        list,
        np.array,
        lambda paths: np.array(paths, dtype=object),
        lambda paths: [Path(p) for p in paths],
        lambda paths: np.array(paths)[:, np.newaxis],
        pd.Series,
        lambda paths: pd.DataFrame({"path": paths}),
    ],
)
def test_path_containers_are_accepted(tmp_path, container):
    """Check that lists, arrays, Path objects, Series and one-column tables give the same images."""
    paths = _images(tmp_path, n=3)
    expected = ImageLoader().transform(paths)
    np.testing.assert_array_equal(ImageLoader().transform(container(paths)), expected)


@pytest.mark.parametrize(
    "X, match",
    [
        ("one/path.jpg", "not a single path"),
        ([], "0 sample"),
        (np.zeros((3, 2)), "1-D array-like of file paths"),
        (np.zeros((3, 8, 8, 3)), "1-D array-like of file paths"),
        ([1.5, 2.5], r"X\[0\] is 1.5 of type float"),
        (["a.jpg", None], r"X\[1\] is None"),
    ],
)
def test_invalid_x_raises(X, match):
    """Check that X other than a non-empty 1-D array of paths raises ValueError."""
    with pytest.raises(ValueError, match=match):
        ImageLoader().fit(X)
    with pytest.raises(ValueError, match=match):
        ImageLoader().transform(X)


@pytest.mark.parametrize(
    "params",
    [dict(mode="CMYK"), dict(on_error="ignore"), dict(interpolation="area"), dict(n_jobs=1.5)],
)
def test_invalid_parameters_raise_in_fit_and_transform(tmp_path, params):
    """Check that invalid parameters raise InvalidParameterError, fitted or not."""
    paths = _images(tmp_path, n=1)
    with pytest.raises(InvalidParameterError):
        ImageLoader(**params).fit(paths)
    with pytest.raises(InvalidParameterError):
        ImageLoader(**params).transform(paths)


@pytest.mark.parametrize("size", [(0, 4), (4, 4, 3), (4, "a")])
def test_invalid_size_raises(tmp_path, size):
    """Check that a size tuple that is not two positive ints raises ValueError."""
    with pytest.raises(ValueError, match="size must be"):
        ImageLoader(size).transform(_images(tmp_path, n=1))


def test_mixed_sizes_without_size_list_the_sizes_and_files(tmp_path):
    """Check that images of several sizes and size=None raise ValueError listing sizes and files."""
    paths = (
        _images(tmp_path / "a", n=3, size=(8, 8))
        + _images(tmp_path / "b", n=2, size=(16, 12))
        + _images(tmp_path / "c", n=1, size=(5, 7))
    )
    with pytest.raises(ValueError, match="3 different sizes") as info:
        ImageLoader().transform(paths)
    message = str(info.value)
    assert "8x8 (3 files, e.g. " + repr(paths[0]) in message
    assert "16x12 (2 files, e.g. " + repr(paths[3]) in message
    assert "5x7 (1 file, e.g. " + repr(paths[5]) in message
    assert "size=(height, width)" in message
    assert ImageLoader(size=(8, 8)).transform(paths).shape == (6, 8, 8, 3)


def test_exif_rotated_sizes_count_upright(tmp_path):
    """Check that an EXIF-rotated file counts with its upright size."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (20, 10)).save(tmp_path / "rotated.jpg", exif=exif)
    Image.new("RGB", (10, 20)).save(tmp_path / "upright.jpg")
    paths = [str(tmp_path / "rotated.jpg"), str(tmp_path / "upright.jpg")]
    assert ImageLoader().transform(paths).shape == (2, 20, 10, 3)


@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_n_jobs_gives_the_same_images(tmp_path, on_error):
    """Check that decoding with 2 threads gives the images of 1 thread, in order."""
    paths = _images(tmp_path, n=40, size=(20, 30), fmt="jpg")
    expected = ImageLoader(on_error=on_error).transform(paths)
    np.testing.assert_array_equal(
        ImageLoader(on_error=on_error, n_jobs=2).transform(paths), expected
    )


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_raises_naming_it(tmp_path, kind, n_jobs):
    """Check that on_error="raise" raises ImageReadError naming the bad file and sets nothing."""
    paths = _images(tmp_path, n=4)
    bad = _make_bad_file(tmp_path, kind)
    loader = ImageLoader(n_jobs=n_jobs)
    with pytest.raises(ImageReadError, match=BAD_FILES[kind]) as info:
        loader.transform(paths[:2] + [bad] + paths[2:])
    assert repr(bad) in str(info.value)
    assert not hasattr(loader, "support_") and not hasattr(loader, "skipped_paths_")


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_skip_leaves_out_every_bad_file_with_one_warning(tmp_path, n_jobs):
    """Check that on_error="skip" drops each kind of bad file with a single warning listing them."""
    good = _images(tmp_path, n=4)
    bad = [_make_bad_file(tmp_path, kind) for kind in sorted(BAD_FILES)]
    paths = np.array([good[0], *bad[:3], good[1], good[2], *bad[3:], good[3]], dtype=object)
    loader = ImageLoader(on_error="skip", n_jobs=n_jobs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = loader.transform(paths)
    # Only the loader's own warnings: joblib's workers (n_jobs=2) may warn
    # about themselves while "always" records everything (seen once in CI).
    ours = [w for w in caught if "ImageLoader" in str(w.message) or "skipped" in str(w.message)]
    assert len(ours) == 1 and issubclass(ours[0].category, UserWarning), [
        f"{w.category.__name__}: {w.message}" for w in caught
    ]
    message = str(ours[0].message)
    assert "skipped 6 of 10 files" in message
    for path, kind in zip(bad, sorted(BAD_FILES)):
        assert repr(path) in message and BAD_FILES[kind] in message
    np.testing.assert_array_equal(images, ImageLoader().transform(good))
    np.testing.assert_array_equal(paths[loader.support_], good)
    assert sorted(loader.skipped_paths_) == sorted(bad)


def test_skip_aligns_y_through_support(tmp_path):
    """Check that support_ selects the labels of the images that were kept."""
    paths = _images(tmp_path, n=3)
    paths.insert(1, _make_bad_file(tmp_path, "empty"))
    y = np.array(["a", "bad", "b", "c"])
    loader = ImageLoader(on_error="skip")
    with pytest.warns(UserWarning, match="skipped 1 of 4"):
        images = loader.fit_transform(paths)
    assert len(images) == len(y[loader.support_])
    assert y[loader.support_].tolist() == ["a", "b", "c"]


def test_skip_works_when_the_first_file_is_bad(tmp_path):
    """Check that with size=None the first readable image sets the size."""
    paths = [_make_bad_file(tmp_path, "text"), *_images(tmp_path, n=2)]
    with pytest.warns(UserWarning):
        images = ImageLoader(on_error="skip").transform(paths)
    assert images.shape == (2, 12, 10, 3)


def test_skip_warning_lists_at_most_ten_files(tmp_path):
    """Check that the one warning names ten files and counts the rest."""
    bad = [str(tmp_path / f"absent{i:02d}.jpg") for i in range(13)]
    with pytest.warns(UserWarning, match=r"skipped 13 of 14") as record:
        ImageLoader(on_error="skip").transform(bad + _images(tmp_path, n=1))
    message = str(record[0].message)
    assert "absent09.jpg" in message and "absent10.jpg" not in message
    assert "... and 3 more" in message


def test_skip_with_nothing_readable_raises(tmp_path):
    """Check that when every file is bad, skip raises ImageReadError listing them."""
    bad = [_make_bad_file(tmp_path, "empty"), _make_bad_file(tmp_path, "text")]
    with pytest.raises(ImageReadError, match="None of the 2 files could be read"):
        ImageLoader(size=8, on_error="skip").transform(bad)


def test_support_is_all_true_without_errors(tmp_path):
    """Check that support_ is all True and skipped_paths_ empty when every file is read."""
    loader = ImageLoader(on_error="skip")
    loader.transform(_images(tmp_path, n=3))
    assert loader.support_.tolist() == [True] * 3
    assert loader.skipped_paths_.shape == (0,)


def test_pipeline_learns_from_paths(tmp_path):
    """Check that a Pipeline from paths to a classifier fits and predicts."""
    rng = np.random.default_rng(0)
    paths, y = [], []
    for i in range(20):
        color = (200, 30, 30) if i % 2 else (30, 30, 200)
        noise = rng.integers(-20, 21, (10, 14, 3))
        pixels = np.clip(np.array(color) + noise, 0, 255).astype(np.uint8)
        path = tmp_path / f"{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
        y.append("red" if i % 2 else "blue")
    pipe = make_pipeline(
        ImageLoader(size=(8, 8), n_jobs=2),
        FunctionTransformer(lambda images: images.reshape(len(images), -1) / 255.0),
        LogisticRegression(),
    )
    pipe.fit(paths[:14], y[:14])
    assert pipe.predict(paths[14:]).tolist() == y[14:]


def test_clone_and_pickle_keep_the_behaviour(tmp_path):
    """Check that clones and unpickled copies decode the same images."""
    paths = _images(tmp_path, n=3)
    loader = ImageLoader(size=(6, 5), mode="L", on_error="skip", n_jobs=2)
    expected = loader.transform(paths)
    for copy in (clone(loader), pickle.loads(pickle.dumps(loader))):
        assert copy.get_params() == loader.get_params()
        np.testing.assert_array_equal(copy.transform(paths), expected)


def test_tags_declare_1d_string_input_and_no_fit():
    """Check that the tags say: 1-D string input, no 2-D numeric input, no fit needed."""
    tags = ImageLoader().__sklearn_tags__()
    assert tags.requires_fit is False
    assert tags.input_tags.one_d_array and tags.input_tags.string
    assert not tags.input_tags.two_d_array
    assert tags.transformer_tags.preserves_dtype == []


def test_check_estimator_skips_1d_string_input():
    """Check that check_estimator passes, having skipped the checks that need 2-D numeric data."""
    with pytest.warns(SkipTestWarning, match="Can't test estimator ImageLoader"):
        results = estimator_checks.check_estimator(ImageLoader())
    assert [r["status"] for r in results] == ["passed"]


@pytest.mark.parametrize(
    "check_name",
    [
        "check_estimator_cloneable",
        "check_estimator_repr",
        "check_estimator_tags_renamed",
        "check_valid_tag_types",
        "check_no_attributes_set_in_init",
        "check_parameters_default_constructible",
        "check_get_params_invariance",
        "check_set_params",
        "check_do_not_raise_errors_in_init_or_set_params",
        "check_param_validation",
        "check_estimator_sparse_tag",
        "check_estimators_unfitted",
    ],
)
def test_sklearn_checks_that_need_no_numeric_data(check_name):
    """Check that ImageLoader passes each scikit-learn check that needs no 2-D numeric X."""
    getattr(estimator_checks, check_name)("ImageLoader", ImageLoader())


@pytest.mark.parametrize("split, n_images", [("train", 244), ("val", 153)])
def test_hymenoptera_photos_decode_in_parallel(split, n_images):
    """Check that the real ants and bees JPEGs decode to 64x64 with 2 threads, as one by one."""
    if not (HYMENOPTERA / split).is_dir():
        pytest.skip(f"{HYMENOPTERA / split} is not present")
    paths, _ = load_image_folder(HYMENOPTERA / split)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images = ImageLoader(size=64, n_jobs=2).transform(paths)
    assert images.shape == (n_images, 64, 64, 3) and images.dtype == np.uint8
    assert 40 < images.mean() < 200
    np.testing.assert_array_equal(images[::50], [open_image(p, size=64) for p in paths[::50]])


def test_hymenoptera_photos_without_size_have_mixed_sizes():
    """Check that the photos, of many sizes, are refused with size=None and a list of sizes."""
    if not (HYMENOPTERA / "train").is_dir():
        pytest.skip(f"{HYMENOPTERA} is not present")
    paths, _ = load_image_folder(HYMENOPTERA / "train")
    with pytest.raises(ValueError, match=r"different sizes \(height x width\): \d+x\d+ \("):
        ImageLoader().transform(paths)
