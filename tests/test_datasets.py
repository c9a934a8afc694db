"""Tests of sk_imgcls.datasets: image folders, digits and Fashion-MNIST."""

import gzip
import hashlib
import io
import os
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.utils._param_validation import InvalidParameterError

from sk_imgcls.datasets import fetch_fashion_mnist, load_digits_images, load_image_folder
from sk_imgcls.datasets import _fashion_mnist

HYMENOPTERA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hymenoptera"
DEBIAN_FASHION_MNIST = Path(_fashion_mnist.SYSTEM_FOLDER)


def _touch_image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4)).save(path, format="PNG")


def _tree(root, names):
    for name in names:
        _touch_image(root / name)
    return root


# load_image_folder


def test_image_folder_lists_sorted_paths_and_labels(tmp_path):
    """Check that paths are sorted by class then file name, labels are folder names."""
    _tree(tmp_path, ["dog/b.png", "cat/z.png", "dog/a.jpg", "cat/a.png"])
    paths, labels = load_image_folder(tmp_path)
    assert [os.path.relpath(p, tmp_path) for p in paths] == [
        "cat/a.png",
        "cat/z.png",
        "dog/a.jpg",
        "dog/b.png",
    ]
    assert labels.tolist() == ["cat", "cat", "dog", "dog"]
    assert paths.ndim == labels.ndim == 1
    assert paths.dtype.kind == labels.dtype.kind == "U"
    assert all(os.path.isfile(p) for p in paths)


def test_image_folder_is_reproducible(tmp_path):
    """Check that two listings of the same folder are identical."""
    _tree(tmp_path, [f"c{i % 3}/{name}.png" for i, name in enumerate("qwertyuiop")])
    first, second = load_image_folder(tmp_path), load_image_folder(str(tmp_path))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_image_folder_extensions_are_case_insensitive(tmp_path):
    """Check that every image extension counts, in any case, and other files do not."""
    names = ["a.JPG", "b.jpeg", "c.Png", "d.bmp", "e.GIF", "f.webp", "g.tiff", "h.TIF"]
    _tree(tmp_path, [f"x/{name}" for name in names])
    (tmp_path / "x" / "notes.txt").write_text("hello")
    (tmp_path / "x" / "labels.csv").write_text("a,b")
    (tmp_path / "x" / "jpg").write_text("no extension")
    paths, _ = load_image_folder(tmp_path)
    assert [os.path.basename(p) for p in paths] == names


def test_image_folder_skips_hidden_and_nested_entries(tmp_path):
    """Check that hidden files and folders, nested folders and root files are ignored."""
    _tree(
        tmp_path,
        [
            "cat/a.png",
            "cat/.hidden.png",
            "cat/nested/deep.png",
            ".ipynb_checkpoints/b.png",
            "loose.png",
        ],
    )
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0")
    paths, labels = load_image_folder(tmp_path)
    assert [os.path.relpath(p, tmp_path) for p in paths] == ["cat/a.png"]
    assert labels.tolist() == ["cat"]


def test_image_folder_missing_root_raises_file_not_found(tmp_path):
    """Check that a root that does not exist raises FileNotFoundError naming it."""
    with pytest.raises(FileNotFoundError, match="absent"):
        load_image_folder(tmp_path / "absent")


def test_image_folder_root_that_is_a_file_raises(tmp_path):
    """Check that a root that is a file raises NotADirectoryError."""
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="file.png"):
        load_image_folder(tmp_path / "file.png")


def test_image_folder_empty_root_raises_naming_it(tmp_path):
    """Check that a root without class folders raises ValueError naming it."""
    _touch_image(tmp_path / "root" / "loose.png")
    with pytest.raises(ValueError, match=r"root' has no class subfolder"):
        load_image_folder(tmp_path / "root")


def test_image_folder_class_without_images_raises_naming_it(tmp_path):
    """Check that a class folder with no image file raises ValueError naming it."""
    _tree(tmp_path, ["cat/a.png"])
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"class folder '.*dog' holds no image file"):
        load_image_folder(tmp_path)


def test_image_folder_one_level_too_high_gives_a_hint(tmp_path):
    """Check that a root holding train/ and val/ splits is an error that says so."""
    _tree(tmp_path, ["train/ants/a.png", "val/ants/b.png"])
    with pytest.raises(ValueError, match=r"train' holds no image.*\['ants'\].*too high"):
        load_image_folder(tmp_path)


@pytest.mark.parametrize("split, n_images", [("train", 244), ("val", 153)])
def test_image_folder_on_hymenoptera_photos(split, n_images):
    """Check that the ants and bees photos are listed with their two classes."""
    if not (HYMENOPTERA / split).is_dir():
        pytest.skip(f"{HYMENOPTERA / split} is not present")
    paths, labels = load_image_folder(HYMENOPTERA / split)
    assert len(paths) == len(labels) == n_images
    assert sorted(set(labels)) == ["ants", "bees"]
    assert all(Path(p).parent.name == label for p, label in zip(paths, labels))


# load_digits_images


def test_digits_images_are_sklearn_digits_as_8x8():
    """Check that the images are sklearn's digits rows reshaped to 8x8."""
    digits = load_digits()
    data = load_digits_images()
    assert data.images.shape == (1797, 8, 8)
    np.testing.assert_array_equal(data.images.reshape(1797, 64), digits.data)
    np.testing.assert_array_equal(data.target, digits.target)
    np.testing.assert_array_equal(data.target_names, np.arange(10))
    assert "digits" in data.DESCR.lower()


def test_digits_images_return_x_y_and_n_class():
    """Check that return_X_y gives (images, target) and n_class keeps the first classes."""
    images, target = load_digits_images(n_class=3, return_X_y=True)
    assert images.shape == (len(target), 8, 8)
    assert set(target) == {0, 1, 2}


def test_digits_images_invalid_n_class_raises():
    """Check that n_class outside [1, 10] is rejected."""
    with pytest.raises(InvalidParameterError, match="n_class"):
        load_digits_images(n_class=11)


# fetch_fashion_mnist


def _idx_bytes(array):
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def _fake_split(n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    return images, labels


FAKE = {"train": _fake_split(6, 0), "test": _fake_split(4, 1)}


def _fake_files():
    """The four files of FAKE as name -> gzipped bytes."""
    files = {}
    for subset, (images, labels) in FAKE.items():
        image_file, label_file = _fashion_mnist.FILES[subset]
        files[image_file.filename] = gzip.compress(_idx_bytes(images), mtime=0)
        files[label_file.filename] = gzip.compress(_idx_bytes(labels), mtime=0)
    return files


def _write_fake_files(folder, gzipped=True):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in _fake_files().items():
        if gzipped:
            (folder / name).write_bytes(data)
        else:
            (folder / name[: -len(".gz")]).write_bytes(gzip.decompress(data))
    return folder


@pytest.fixture
def no_system_copy(monkeypatch, tmp_path):
    """Point the Debian folder at an empty path, so only data_home counts."""
    monkeypatch.setattr(_fashion_mnist, "SYSTEM_FOLDER", str(tmp_path / "no-system-copy"))


@pytest.fixture
def fake_server(monkeypatch):
    """Serve the fake files from urlopen, with their checksums; record the URLs asked for."""
    files = _fake_files()
    monkeypatch.setattr(
        _fashion_mnist,
        "FILES",
        {
            subset: tuple(
                f._replace(md5=hashlib.md5(files[f.filename]).hexdigest()) for f in remotes
            )
            for subset, remotes in _fashion_mnist.FILES.items()
        },
    )
    requested = []

    def urlopen(url, timeout=None):
        requested.append(url)
        return io.BytesIO(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(_fashion_mnist, "urlopen", urlopen)
    return requested


@pytest.mark.parametrize("gzipped", [True, False])
@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_reads_local_files(tmp_path, gzipped):
    """Check that gzipped or plain IDX files in data_home/fashion_mnist are read exactly."""
    _write_fake_files(tmp_path / "fashion_mnist", gzipped=gzipped)
    for subset in ("train", "test"):
        data = fetch_fashion_mnist(tmp_path, subset=subset, download_if_missing=False)
        np.testing.assert_array_equal(data.images, FAKE[subset][0])
        np.testing.assert_array_equal(data.target, FAKE[subset][1])
        assert data.images.dtype == np.uint8 and data.target.dtype == np.int64
        assert data.target_names.tolist()[0] == "T-shirt/top" and len(data.target_names) == 10
        assert "Fashion-MNIST" in data.DESCR


@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_all_is_train_then_test(tmp_path):
    """Check that subset="all" concatenates train then test, and return_X_y gives a tuple."""
    _write_fake_files(tmp_path / "fashion_mnist")
    images, target = fetch_fashion_mnist(
        tmp_path, subset="all", download_if_missing=False, return_X_y=True
    )
    np.testing.assert_array_equal(images, np.concatenate([FAKE["train"][0], FAKE["test"][0]]))
    np.testing.assert_array_equal(target, np.concatenate([FAKE["train"][1], FAKE["test"][1]]))


def test_fashion_mnist_falls_back_to_the_system_folder(tmp_path, monkeypatch):
    """Check that files missing from data_home are read from the Debian package's folder."""
    system = _write_fake_files(tmp_path / "system")
    monkeypatch.setattr(_fashion_mnist, "SYSTEM_FOLDER", str(system))
    data = fetch_fashion_mnist(tmp_path / "home", subset="test", download_if_missing=False)
    np.testing.assert_array_equal(data.images, FAKE["test"][0])


def test_fashion_mnist_prefers_data_home_to_the_system_folder(tmp_path, monkeypatch):
    """Check that a copy in data_home wins over the Debian package's."""
    system = tmp_path / "system"
    system.mkdir()
    for subset in ("train", "test"):
        for remote in _fashion_mnist.FILES[subset]:
            (system / remote.filename).write_bytes(b"not read")
    monkeypatch.setattr(_fashion_mnist, "SYSTEM_FOLDER", str(system))
    _write_fake_files(tmp_path / "home" / "fashion_mnist")
    data = fetch_fashion_mnist(tmp_path / "home", download_if_missing=False)
    np.testing.assert_array_equal(data.images, FAKE["train"][0])


@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_downloads_missing_files(tmp_path, fake_server):
    """Check that missing files are downloaded from Zalando's GitHub into data_home, then reused."""
    data = fetch_fashion_mnist(tmp_path, subset="test")
    np.testing.assert_array_equal(data.images, FAKE["test"][0])
    assert fake_server == [
        _fashion_mnist.BASE_URL + "t10k-images-idx3-ubyte.gz",
        _fashion_mnist.BASE_URL + "t10k-labels-idx1-ubyte.gz",
    ]
    github = "https://raw.githubusercontent.com/zalandoresearch/"
    assert all(url.startswith(github) for url in fake_server)
    assert sorted(os.listdir(tmp_path / "fashion_mnist")) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    fetch_fashion_mnist(tmp_path, subset="test")
    assert len(fake_server) == 2


@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_bad_checksum_raises_and_leaves_nothing(tmp_path, fake_server, monkeypatch):
    """Check that a download whose MD5 differs raises OSError and is deleted."""
    files = dict(_fashion_mnist.FILES)
    images, labels = files["train"]
    files["train"] = (images._replace(md5="0" * 32), labels)
    monkeypatch.setattr(_fashion_mnist, "FILES", files)
    with pytest.raises(OSError, match="MD5 checksum of train-images-idx3-ubyte.gz"):
        fetch_fashion_mnist(tmp_path)
    assert os.listdir(tmp_path / "fashion_mnist") == []


@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_offline_error_says_how_to_get_the_files(tmp_path, monkeypatch):
    """Check that a failed download retries, then raises OSError saying how to get the files."""
    calls = []

    def offline(url, timeout=None):
        calls.append(url)
        raise URLError("no network")

    monkeypatch.setattr(_fashion_mnist, "urlopen", offline)
    with pytest.raises(OSError, match="no network") as info:
        fetch_fashion_mnist(tmp_path, n_retries=2, delay=0)
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path / "fashion_mnist") in message
    assert len(calls) == 3
    assert os.listdir(tmp_path / "fashion_mnist") == []


@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_without_download_raises_file_not_found(tmp_path, monkeypatch):
    """Check that download_if_missing=False raises FileNotFoundError and never opens a URL."""

    def no_urlopen(url, timeout=None):
        raise AssertionError("urlopen called")

    monkeypatch.setattr(_fashion_mnist, "urlopen", no_urlopen)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        fetch_fashion_mnist(tmp_path, download_if_missing=False)


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda data: data[: len(data) - 100], "truncated"),
        (lambda data: b"\x00\x00\x0d\x03" + data[4:], "header"),
        (lambda data: data + b"\x00", "longer than"),
        (lambda data: b"", "header"),
    ],
)
@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_damaged_file_raises_naming_it(tmp_path, damage, match):
    """Check that a truncated, mislabeled or overlong IDX file raises OSError naming it."""
    folder = _write_fake_files(tmp_path / "fashion_mnist", gzipped=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(OSError, match=f"train-images-idx3-ubyte.*{match}"):
        fetch_fashion_mnist(tmp_path, download_if_missing=False)


@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_truncated_gzip_raises(tmp_path):
    """Check that a cut gzip stream raises OSError naming the file."""
    folder = _write_fake_files(tmp_path / "fashion_mnist")
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(OSError, match="t10k-images-idx3-ubyte.gz' is not a valid"):
        fetch_fashion_mnist(tmp_path, subset="test", download_if_missing=False)


@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_mismatched_files_raise(tmp_path):
    """Check that images and labels of different lengths raise OSError."""
    folder = _write_fake_files(tmp_path / "fashion_mnist")
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(np.zeros(5, dtype=np.uint8)))
    )
    with pytest.raises(OSError, match="6 images but .* 5 labels"):
        fetch_fashion_mnist(tmp_path, download_if_missing=False)


def test_fashion_mnist_invalid_subset_raises(tmp_path):
    """Check that an unknown subset is rejected before any file is read."""
    with pytest.raises(InvalidParameterError, match="subset"):
        fetch_fashion_mnist(tmp_path, subset="validation")


def test_fashion_mnist_debian_files(tmp_path):
    """Check that the files of the Debian package give the 60,000 + 10,000 balanced images."""
    names = [f.filename for files in _fashion_mnist.FILES.values() for f in files]
    if not all((DEBIAN_FASHION_MNIST / name).exists() for name in names):
        pytest.skip("the Debian package dataset-fashion-mnist is not installed")
    train = fetch_fashion_mnist(tmp_path, download_if_missing=False)
    test = fetch_fashion_mnist(tmp_path, subset="test", download_if_missing=False)
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert train.images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(train.target), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test.target), [1000] * 10)
    assert test.target_names[test.target[:3]].tolist() == ["Ankle boot", "Pullover", "Trouser"]
