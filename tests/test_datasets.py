"""Tests of sk_imgcls.datasets: image folders, digits, Fashion-MNIST and ants/bees."""

import gzip
import hashlib
import io
import os
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.utils._param_validation import InvalidParameterError

from sk_imgcls.datasets import (
    fetch_fashion_mnist,
    fetch_hymenoptera,
    list_images,
    load_digits_images,
    load_image_folder,
)
from sk_imgcls.datasets import _fashion_mnist, _hymenoptera

HYMENOPTERA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hymenoptera"
DEBIAN_FASHION_MNIST = Path(_fashion_mnist.SYSTEM_FOLDER)


@pytest.fixture
def http_server(monkeypatch):
    """Serve the bytes of ``files`` (URL path -> bytes) on 127.0.0.1; record the paths asked for.

    A path not in ``files`` is a 404, which urllib raises as a URLError like a
    network failure.
    """
    files, requested = {}, []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requested.append(self.path)
            data = files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass  # the default writes every request to stderr

    # A proxy set in the environment must not see the requests to 127.0.0.1.
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for one, at every test's teardown.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield SimpleNamespace(
        url=f"http://127.0.0.1:{server.server_port}/", files=files, requested=requested
    )
    server.shutdown()
    server.server_close()
    thread.join()


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


# list_images


def _relative(paths, root):
    return [os.path.relpath(path, root) for path in paths]


def test_list_images_is_recursive_sorted_object_array_of_str(tmp_path):
    """Check that images at every depth are listed, sorted by folders then file name."""
    _tree(tmp_path, ["z.png", "b/y.jpg", "a.png", "b/c/x.png", "b/a.png", "a/deep/w.png"])
    paths = list_images(tmp_path)
    assert _relative(paths, tmp_path) == [
        "a/deep/w.png",
        "a.png",
        "b/a.png",
        "b/c/x.png",
        "b/y.jpg",
        "z.png",
    ]
    assert paths.ndim == 1 and paths.dtype == object
    assert all(type(path) is str and os.path.isfile(path) for path in paths)
    np.testing.assert_array_equal(list_images(str(tmp_path)), paths)


def test_list_images_follows_the_rules_of_load_image_folder(tmp_path):
    """Check extensions in any case, hidden entries and other files as in load_image_folder."""
    names = ["a.JPG", "b.jpeg", "c.Png", "d.bmp", "e.GIF", "f.webp", "g.tiff", "h.TIF"]
    _tree(tmp_path, [f"x/{name}" for name in names] + ["x/.hidden.png", ".cache/i.png"])
    (tmp_path / "x" / "notes.txt").write_text("hello")
    (tmp_path / "x" / "jpg").write_text("no extension")
    (tmp_path / "x" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "x" / "folder.png").mkdir()
    assert _relative(list_images(tmp_path), tmp_path) == [f"x/{name}" for name in names]
    paths, _ = load_image_folder(tmp_path)
    np.testing.assert_array_equal(list_images(tmp_path), paths)


def test_list_images_follows_links_without_looping(tmp_path):
    """Check that linked folders are listed and a link to an enclosing folder is not followed."""
    _tree(tmp_path, ["photos/a.png", "elsewhere/b.png", "c.png"])
    (tmp_path / "photos" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "photos" / "loop").symlink_to(tmp_path / "photos")
    # Through "linked", the way up reaches c.png, then stops at the folders already walked.
    (tmp_path / "elsewhere" / "up").symlink_to(tmp_path)
    assert _relative(list_images(tmp_path / "photos"), tmp_path / "photos") == [
        "a.png",
        "linked/b.png",
        "linked/up/c.png",
    ]


def test_list_images_missing_folder_raises_file_not_found(tmp_path):
    """Check that a folder that does not exist raises FileNotFoundError naming it."""
    with pytest.raises(FileNotFoundError, match="absent"):
        list_images(tmp_path / "absent")


def test_list_images_folder_that_is_a_file_raises(tmp_path):
    """Check that a file instead of a folder raises NotADirectoryError naming it."""
    _touch_image(tmp_path / "photo.png")
    with pytest.raises(NotADirectoryError, match="photo.png' is a file; list_images"):
        list_images(tmp_path / "photo.png")


def test_list_images_without_images_raises_naming_the_folder(tmp_path):
    """Check that a folder with only other or hidden files raises ValueError naming it."""
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("x")
    _touch_image(tmp_path / "empty" / ".hidden" / "a.png")
    with pytest.raises(ValueError, match=r"folder '.*empty' holds no image file"):
        list_images(tmp_path / "empty")


def test_list_images_on_hymenoptera_photos():
    """Check that the 397 ants and bees photos are all listed, as load_image_folder lists them."""
    if not HYMENOPTERA.is_dir():
        pytest.skip(f"{HYMENOPTERA} is not present")
    paths = list_images(HYMENOPTERA)
    by_class = [load_image_folder(HYMENOPTERA / split)[0] for split in ("train", "val")]
    assert len(paths) == 397
    np.testing.assert_array_equal(paths, np.concatenate(by_class))


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
def fashion_server(http_server, monkeypatch):
    """Serve the fake files at BASE_URL, with their SHA-256 in FILES."""
    files = _fake_files()
    for name, data in files.items():
        http_server.files["/" + name] = data
    monkeypatch.setattr(_fashion_mnist, "BASE_URL", http_server.url)
    monkeypatch.setattr(
        _fashion_mnist,
        "FILES",
        {
            subset: tuple(
                f._replace(sha256=hashlib.sha256(files[f.filename]).hexdigest())
                for f in remotes
            )
            for subset, remotes in _fashion_mnist.FILES.items()
        },
    )
    return http_server


@pytest.mark.parametrize("gzipped", [True, False])
@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_reads_local_files(tmp_path, gzipped):
    """Check that gzipped or plain IDX files in data_home/fashion_mnist are read exactly."""
    folder = _write_fake_files(tmp_path / "fashion_mnist", gzipped=gzipped)
    for subset in ("train", "test"):
        data = fetch_fashion_mnist(tmp_path, subset=subset, download_if_missing=False)
        np.testing.assert_array_equal(data.images, FAKE[subset][0])
        np.testing.assert_array_equal(data.target, FAKE[subset][1])
        assert data.images.dtype == np.uint8 and data.target.dtype == np.int64
        assert data.target_names.tolist()[0] == "T-shirt/top" and len(data.target_names) == 10
        assert "Fashion-MNIST" in data.DESCR
    # Decompressing for torchvision's readers leaves nothing behind.
    assert len(os.listdir(folder)) == 4


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
def test_fashion_mnist_downloads_missing_files(tmp_path, fashion_server):
    """Check that missing files are downloaded into data_home, checked, then reused."""
    data = fetch_fashion_mnist(tmp_path, subset="test")
    np.testing.assert_array_equal(data.images, FAKE["test"][0])
    np.testing.assert_array_equal(data.target, FAKE["test"][1])
    assert fashion_server.requested == [
        "/t10k-images-idx3-ubyte.gz",
        "/t10k-labels-idx1-ubyte.gz",
    ]
    assert sorted(os.listdir(tmp_path / "fashion_mnist")) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    fetch_fashion_mnist(tmp_path, subset="test")
    assert len(fashion_server.requested) == 2


@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_bad_checksum_raises_and_leaves_nothing(
    tmp_path, fashion_server, monkeypatch
):
    """Check that a download whose SHA-256 differs raises OSError and is deleted."""
    files = dict(_fashion_mnist.FILES)
    images, labels = files["train"]
    files["train"] = (images._replace(sha256="0" * 64), labels)
    monkeypatch.setattr(_fashion_mnist, "FILES", files)
    with pytest.raises(OSError, match="SHA256 checksum of train-images-idx3-ubyte.gz"):
        fetch_fashion_mnist(tmp_path)
    assert os.listdir(tmp_path / "fashion_mnist") == []


@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_offline_error_says_how_to_get_the_files(tmp_path, http_server, monkeypatch):
    """Check that a failed download retries, then raises OSError saying how to get the files."""
    monkeypatch.setattr(_fashion_mnist, "BASE_URL", http_server.url)
    with pytest.warns(UserWarning, match="Retry downloading"):
        with pytest.raises(OSError, match="Could not download Fashion-MNIST") as info:
            fetch_fashion_mnist(tmp_path, n_retries=2, delay=0)
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path / "fashion_mnist") in message
    assert http_server.requested == ["/train-images-idx3-ubyte.gz"] * 3
    assert os.listdir(tmp_path / "fashion_mnist") == []


@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_without_download_raises_file_not_found(tmp_path, http_server, monkeypatch):
    """Check that download_if_missing=False raises FileNotFoundError and asks for no URL."""
    monkeypatch.setattr(_fashion_mnist, "BASE_URL", http_server.url)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        fetch_fashion_mnist(tmp_path, download_if_missing=False)
    assert http_server.requested == []


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) - 100], id="truncated"),
        pytest.param(lambda data: data + b"\x00", id="too-long"),
        pytest.param(lambda data: b"\x00\x00\x0d\x03" + data[4:], id="float-type"),
        pytest.param(lambda data: b"\x00\x00\x08\x05" + data[4:], id="five-dimensions"),
        pytest.param(lambda data: b"\x00\x00\x08\x01" + data[4:], id="one-dimension"),
        pytest.param(lambda data: data[:10], id="cut-header"),
        pytest.param(lambda data: b"", id="empty"),
    ],
)
@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_damaged_file_raises_naming_it(tmp_path, damage):
    """Check that a truncated, overlong or mislabeled IDX file raises OSError naming it."""
    folder = _write_fake_files(tmp_path / "fashion_mnist", gzipped=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(
        OSError, match="train-images-idx3-ubyte' is not a valid Fashion-MNIST IDX file"
    ):
        fetch_fashion_mnist(tmp_path, download_if_missing=False)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[:-20], id="cut-stream"),
        pytest.param(lambda data: data[:30] + bytes(50) + data[80:], id="corrupt-stream"),
        pytest.param(lambda data: b"not gzip" + data, id="not-gzip"),
    ],
)
@pytest.mark.usefixtures("no_system_copy")
def test_fashion_mnist_damaged_gzip_raises_naming_it(tmp_path, damage):
    """Check that a cut, corrupt or non-gzip .gz file raises OSError naming it."""
    folder = _write_fake_files(tmp_path / "fashion_mnist")
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
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


# fetch_hymenoptera


def _png_bytes():
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 100, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


# A tiny stand-in for the tutorial's zip: its layout, its placeholder gif, and
# the macOS metadata folder that zips made on a Mac often carry.
FAKE_ZIP_MEMBERS = [
    "hymenoptera_data/train/ants/a1.png",
    "hymenoptera_data/train/ants/a2.jpg",
    "hymenoptera_data/train/ants/imageNotFound.gif",
    "hymenoptera_data/train/bees/b1.png",
    "hymenoptera_data/val/ants/a3.png",
    "hymenoptera_data/val/bees/b2.png",
    "hymenoptera_data/val/bees/b3.png",
    "__MACOSX/hymenoptera_data/train/ants/._a1.png",
]


def _zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in members:
            archive.writestr(name, _png_bytes())
    return buffer.getvalue()


@pytest.fixture
def hymenoptera_server(http_server, monkeypatch):
    """Serve a tiny zip at URL, with its SHA-256 in SHA256."""
    data = _zip_bytes(FAKE_ZIP_MEMBERS)
    http_server.files["/tutorial/hymenoptera_data.zip"] = data
    monkeypatch.setattr(_hymenoptera, "URL", http_server.url + "tutorial/hymenoptera_data.zip")
    monkeypatch.setattr(_hymenoptera, "SHA256", hashlib.sha256(data).hexdigest())
    return http_server


@pytest.fixture
def hymenoptera_home(tmp_path):
    """A data_home holding the shared ants and bees photos as hymenoptera_data/."""
    if not HYMENOPTERA.is_dir():
        pytest.skip(f"{HYMENOPTERA} is not present")
    (tmp_path / "hymenoptera_data").mkdir()
    for split in ("train", "val"):
        (tmp_path / "hymenoptera_data" / split).symlink_to(HYMENOPTERA.resolve() / split)
    return tmp_path


@pytest.mark.parametrize(
    "subset, n_ants, n_bees", [("train", 123, 121), ("val", 70, 83), ("all", 193, 204)]
)
def test_hymenoptera_reads_extracted_photos_without_network(
    hymenoptera_home, http_server, monkeypatch, subset, n_ants, n_bees
):
    """Check that photos already in data_home are listed with their classes, asking no URL."""
    monkeypatch.setattr(_hymenoptera, "URL", http_server.url + "hymenoptera_data.zip")
    data = fetch_hymenoptera(data_home=hymenoptera_home, subset=subset)
    assert http_server.requested == []
    assert data.target_names.tolist() == ["ants", "bees"]
    assert data.target.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(data.target), [n_ants, n_bees])
    assert all(
        Path(path).parent.name == name
        for path, name in zip(data.filenames, data.target_names[data.target])
    )
    root = hymenoptera_home / "hymenoptera_data"
    splits = ["train", "val"] if subset == "all" else [subset]
    expected = np.concatenate([load_image_folder(root / split)[0] for split in splits])
    np.testing.assert_array_equal(data.filenames, expected)
    assert "ants" in data.DESCR and "hymenoptera" in data.DESCR.lower()


def test_hymenoptera_return_x_y_gives_filenames_and_target(hymenoptera_home):
    """Check that return_X_y gives the Bunch's filenames and target as a tuple."""
    filenames, target = fetch_hymenoptera(
        data_home=hymenoptera_home, subset="val", return_X_y=True, download_if_missing=False
    )
    data = fetch_hymenoptera(data_home=hymenoptera_home, subset="val")
    np.testing.assert_array_equal(filenames, data.filenames)
    np.testing.assert_array_equal(target, data.target)


def test_hymenoptera_downloads_checks_and_extracts_once(tmp_path, hymenoptera_server):
    """Check that the zip is downloaded, extracted into data_home and deleted, only once."""
    data = fetch_hymenoptera(data_home=tmp_path, subset="all")
    assert hymenoptera_server.requested == ["/tutorial/hymenoptera_data.zip"]
    assert _relative(data.filenames, tmp_path / "hymenoptera_data") == [
        "train/ants/a1.png",
        "train/ants/a2.jpg",
        "train/bees/b1.png",
        "val/ants/a3.png",
        "val/bees/b2.png",
        "val/bees/b3.png",
    ]
    assert data.target.tolist() == [0, 0, 1, 0, 1, 1]
    assert os.listdir(tmp_path) == ["hymenoptera_data"]
    assert (tmp_path / "hymenoptera_data" / "train" / "ants" / "imageNotFound.gif").is_file()
    again = fetch_hymenoptera(data_home=tmp_path, subset="val", download_if_missing=False)
    assert len(hymenoptera_server.requested) == 1
    np.testing.assert_array_equal(again.filenames, data.filenames[3:])


def test_hymenoptera_extracts_a_zip_put_in_the_default_data_home(
    tmp_path, hymenoptera_server, monkeypatch
):
    """Check that a zip put in $SCIKIT_LEARN_DATA by hand is checked and extracted offline."""
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    (tmp_path / "hymenoptera_data.zip").write_bytes(
        hymenoptera_server.files.pop("/tutorial/hymenoptera_data.zip")
    )
    filenames, target = fetch_hymenoptera(return_X_y=True)
    assert hymenoptera_server.requested == []
    assert _relative(filenames, tmp_path) == [
        "hymenoptera_data/train/ants/a1.png",
        "hymenoptera_data/train/ants/a2.jpg",
        "hymenoptera_data/train/bees/b1.png",
    ]
    assert target.tolist() == [0, 0, 1]


def test_hymenoptera_bad_checksum_raises_and_leaves_nothing(
    tmp_path, hymenoptera_server, monkeypatch
):
    """Check that a zip whose SHA-256 differs raises OSError, is deleted and not extracted."""
    monkeypatch.setattr(_hymenoptera, "SHA256", "0" * 64)
    with pytest.raises(OSError, match="SHA256 checksum of hymenoptera_data.zip"):
        fetch_hymenoptera(data_home=tmp_path)
    assert os.listdir(tmp_path) == []


def test_hymenoptera_offline_error_says_where_to_put_the_files(
    tmp_path, http_server, monkeypatch
):
    """Check that a failed download raises OSError naming data_home, the zip and the folder."""
    monkeypatch.setattr(_hymenoptera, "URL", http_server.url + "hymenoptera_data.zip")
    with pytest.raises(OSError, match="Could not download the hymenoptera photos") as info:
        fetch_hymenoptera(data_home=tmp_path, n_retries=0)
    message = str(info.value)
    assert f"extracted folder hymenoptera_data/ (holding train/ and val/) in {tmp_path}" in message
    assert "hymenoptera_data.zip" in message and _hymenoptera.SHA256 in message
    assert http_server.requested == ["/hymenoptera_data.zip"]
    assert os.listdir(tmp_path) == []


def test_hymenoptera_without_download_raises_file_not_found(tmp_path, http_server, monkeypatch):
    """Check that download_if_missing=False raises FileNotFoundError and asks for no URL."""
    monkeypatch.setattr(_hymenoptera, "URL", http_server.url + "hymenoptera_data.zip")
    with pytest.raises(FileNotFoundError, match=f"not in {tmp_path}.*Put the extracted folder"):
        fetch_hymenoptera(data_home=tmp_path, download_if_missing=False)
    assert http_server.requested == []


def test_hymenoptera_zip_without_the_folder_raises(tmp_path, hymenoptera_server, monkeypatch):
    """Check that a zip without hymenoptera_data/ raises OSError and leaves no folder behind."""
    data = _zip_bytes(["train/ants/a1.png", "val/bees/b1.png"])
    hymenoptera_server.files["/tutorial/hymenoptera_data.zip"] = data
    monkeypatch.setattr(_hymenoptera, "SHA256", hashlib.sha256(data).hexdigest())
    with pytest.raises(OSError, match="holds no folder hymenoptera_data/"):
        fetch_hymenoptera(data_home=tmp_path)
    assert os.listdir(tmp_path) == ["hymenoptera_data.zip"]


def test_hymenoptera_invalid_subset_raises(tmp_path):
    """Check that an unknown subset is rejected before anything is read or downloaded."""
    with pytest.raises(InvalidParameterError, match="subset"):
        fetch_hymenoptera(data_home=tmp_path, subset="test")
    assert os.listdir(tmp_path) == []
