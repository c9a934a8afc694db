"""Fashion-MNIST: read from local IDX files, downloaded only when allowed."""

import os
import tempfile
import zlib
from collections import namedtuple
from numbers import Integral, Real

import numpy as np
from sklearn.datasets import fetch_file, get_data_home
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from torchvision.datasets.mnist import read_image_file, read_label_file
from torchvision.datasets.utils import extract_archive

# Where the Debian package dataset-fashion-mnist installs the four files.
SYSTEM_FOLDER = "/usr/share/datasets/fashion-mnist"

DEBIAN_PACKAGE = "dataset-fashion-mnist"

BASE_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"

RemoteFile = namedtuple("RemoteFile", ["filename", "sha256"])

# SHA-256 of the gzipped files published by Zalando Research (those whose MD5
# the README of github.com/zalandoresearch/fashion-mnist lists), as pinned by
# TensorFlow Datasets in tensorflow_datasets/url_checksums/fashion_mnist.txt.
# Debian's package recompresses the files, so only downloads are checked.
FILES = {
    "train": (
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
    ),
    "test": (
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    ),
}

TARGET_NAMES = np.array(
    [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
)

DESCR = """\
.. _fashion_mnist_dataset:

Fashion-MNIST dataset
---------------------

**Data Set Characteristics:**

:Number of Instances: 70,000 (60,000 train, 10,000 test)
:Number of Classes: 10
:Image size: 28x28 pixels, grayscale, uint8 in [0, 255]
:Creator: Han Xiao, Kashif Rasul, Roland Vollgraf (Zalando Research)
:License: MIT
:Source: https://github.com/zalandoresearch/fashion-mnist

Article images of Zalando's shop, one of 10 classes of clothing: T-shirt/top,
Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot. A
drop-in replacement for MNIST (same sizes, split and file format) that is
harder to classify.

.. dropdown:: References

  - Han Xiao, Kashif Rasul, Roland Vollgraf. "Fashion-MNIST: a Novel Image
    Dataset for Benchmarking Machine Learning Algorithms". arXiv:1708.07747,
    2017.
"""

# What torchvision's readers and gzip raise for a file that is not a valid
# IDX file of unsigned bytes: the readers check the header with asserts, look
# the type code up in a dict and let torch.Tensor.view reject a data length
# that does not match the header's shape.
_BAD_FILE_ERRORS = (
    AssertionError,
    KeyError,
    ValueError,
    TypeError,
    RuntimeError,
    OSError,
    EOFError,
    zlib.error,
)


def _find(filename, folders):
    """Return the path of ``filename``, gzipped or not, in the first folder holding it."""
    for folder in folders:
        for name in (filename, filename[: -len(".gz")]):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return None


def _how_to_get(folder):
    return (
        f"Install the Debian package with `apt-get install {DEBIAN_PACKAGE}` (it "
        f"puts them in {SYSTEM_FOLDER}), or copy the four files "
        f"({', '.join(f.filename for files in FILES.values() for f in files)}, "
        f"gzipped or not) into {folder}."
    )


def _download(remote, folder, n_retries, delay):
    """Download ``remote`` into ``folder`` with its SHA-256 checked; return its path."""
    url = BASE_URL + remote.filename
    # fetch_file creates the folder only when it picks the folder itself.
    os.makedirs(folder, exist_ok=True)
    try:
        path = fetch_file(
            url,
            folder=folder,
            local_filename=remote.filename,
            sha256=remote.sha256,
            n_retries=n_retries,
            delay=delay,
        )
    except OSError as exc:
        raise OSError(
            f"Could not download Fashion-MNIST from {url} ({exc}). " + _how_to_get(folder)
        ) from exc
    return os.fspath(path)


def _read_idx(path, reader):
    """Read an IDX file, gzipped or not, with a torchvision MNIST reader, as an ndarray."""
    try:
        with tempfile.TemporaryDirectory() as scratch:
            # torchvision's readers open the path as is (its MNIST dataset
            # decompresses the downloads first), and the Debian folder is
            # read-only: decompress into a scratch folder, gone after reading.
            if path.endswith(".gz"):
                return reader(extract_archive(path, scratch)).numpy()
            return reader(path).numpy()
    except _BAD_FILE_ERRORS as exc:
        raise OSError(
            f"{path!r} is not a valid Fashion-MNIST IDX file ({type(exc).__name__}: "
            f"{exc}). Delete it to download it again, or reinstall the Debian "
            f"package {DEBIAN_PACKAGE}."
        ) from exc


def _load_subset(subset, folders, download_folder, download_if_missing, n_retries, delay):
    paths = []
    for remote in FILES[subset]:
        path = _find(remote.filename, folders)
        if path is None:
            if not download_if_missing:
                raise FileNotFoundError(
                    f"Fashion-MNIST file {remote.filename} not found in "
                    f"{' or '.join(folders)}, and download_if_missing is False. "
                    + _how_to_get(download_folder)
                )
            path = _download(remote, download_folder, n_retries, delay)
        paths.append(path)
    images = _read_idx(paths[0], read_image_file)
    labels = _read_idx(paths[1], read_label_file)
    if len(images) != len(labels):
        raise OSError(
            f"{paths[0]!r} holds {len(images)} images but {paths[1]!r} holds "
            f"{len(labels)} labels: the files do not belong together."
        )
    return images, labels


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "subset": [StrOptions({"train", "test", "all"})],
        "download_if_missing": ["boolean"],
        "return_X_y": ["boolean"],
        "n_retries": [Interval(Integral, 0, None, closed="left")],
        "delay": [Interval(Real, 0.0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def fetch_fashion_mnist(
    data_home=None,
    *,
    subset="train",
    download_if_missing=True,
    return_X_y=False,
    n_retries=3,
    delay=1.0,
):
    """Load the Fashion-MNIST images of clothing (classification, 10 classes).

    =================   ==================================
    Classes                                             10
    Samples total       70,000 (60,000 train, 10,000 test)
    Image               28x28 grayscale, uint8
    =================   ==================================

    The four IDX files are read from ``<data_home>/fashion_mnist/``, else
    from ``/usr/share/datasets/fashion-mnist/`` where the Debian package
    ``dataset-fashion-mnist`` installs them. A file found in neither is
    downloaded into ``<data_home>/fashion_mnist/`` from Zalando Research's
    GitHub repository, when ``download_if_missing`` allows it.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        Folder of scikit-learn's datasets (see
        :func:`sklearn.datasets.get_data_home`; None is ``$SCIKIT_LEARN_DATA``
        or ``~/scikit_learn_data``). The files are looked for, and downloaded
        to, its subfolder ``fashion_mnist``.
    subset : {"train", "test", "all"}, default="train"
        The official split to load: the 60,000 training images, the 10,000
        test images, or all 70,000 (training first).
    download_if_missing : bool, default=True
        Download the files not found locally. When False, a missing file is
        an error.
    return_X_y : bool, default=False
        Return ``(images, target)`` instead of a Bunch.
    n_retries : int, default=3
        Number of retries of a download that fails with a network error.
    delay : float, default=1.0
        Seconds to wait between two attempts.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        images : ndarray of shape (n_samples, 28, 28), dtype uint8
            Grayscale images, values in [0, 255] (0 is the background).
        target : ndarray of shape (n_samples,), dtype int64
            Class index in [0, 9] of each image.
        target_names : ndarray of shape (10,), dtype str
            Class names: ``target_names[target]`` names each image.
        DESCR : str
            Description of the dataset.

    (images, target) : tuple
        Only when ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If a file is missing and ``download_if_missing`` is False. The message
        says how to get the files.
    OSError
        If a download fails (no network: the message says how to get the files
        offline) or its SHA-256 checksum differs from the published one (the
        damaged file is deleted), or if a file is not a valid IDX file of
        unsigned bytes (the message names it).

    See Also
    --------
    load_digits_images : 1797 8x8 images of digits, shipped with scikit-learn.
    torchvision.datasets.FashionMNIST : The same data as a torch Dataset.

    Notes
    -----
    Xiao, Rasul and Vollgraf, "Fashion-MNIST: a Novel Image Dataset for
    Benchmarking Machine Learning Algorithms", arXiv:1708.07747, 2017. The
    files are in the IDX format of MNIST (http://yann.lecun.com/exdb/mnist/),
    read with torchvision's MNIST readers
    (:func:`torchvision.datasets.mnist.read_image_file` and
    ``read_label_file``); the gzipped and the decompressed forms are both
    read. Downloads go through :func:`sklearn.datasets.fetch_file`, which
    retries on network errors, checks the SHA-256 of each file and writes it
    under a temporary name, renamed only when complete.

    Examples
    --------
    With the Debian package installed (read without network), or else a
    network connection:

    >>> from sk_imgcls.datasets import fetch_fashion_mnist
    >>> data = fetch_fashion_mnist(subset="test")
    >>> data.images.shape, data.images.dtype
    ((10000, 28, 28), dtype('uint8'))
    >>> data.target_names[data.target[:3]]
    array(['Ankle boot', 'Pullover', 'Trouser'], dtype='<U11')

    Files of your own in the same format, here 6 training and 4 test images:

    >>> import gzip, os, tempfile
    >>> import numpy as np
    >>> def write_idx(path, array):
    ...     header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    ...     with gzip.open(path, "wb") as f:
    ...         f.write(header + array.tobytes())
    >>> with tempfile.TemporaryDirectory() as home:
    ...     folder = os.path.join(home, "fashion_mnist")
    ...     os.mkdir(folder)
    ...     for prefix, n in [("train", 6), ("t10k", 4)]:
    ...         images = np.zeros((n, 28, 28), dtype=np.uint8)
    ...         labels = np.arange(n, dtype=np.uint8)
    ...         write_idx(f"{folder}/{prefix}-images-idx3-ubyte.gz", images)
    ...         write_idx(f"{folder}/{prefix}-labels-idx1-ubyte.gz", labels)
    ...     images, target = fetch_fashion_mnist(
    ...         home, subset="all", download_if_missing=False, return_X_y=True
    ...     )
    >>> images.shape, target
    ((10, 28, 28), array([0, 1, 2, 3, 4, 5, 0, 1, 2, 3]))
    """
    download_folder = os.path.join(get_data_home(data_home), "fashion_mnist")
    folders = [download_folder, SYSTEM_FOLDER]
    subsets = ["train", "test"] if subset == "all" else [subset]
    parts = [
        _load_subset(name, folders, download_folder, download_if_missing, n_retries, delay)
        for name in subsets
    ]
    if len(parts) == 1:
        images, target = parts[0]
    else:
        images = np.concatenate([part[0] for part in parts])
        target = np.concatenate([part[1] for part in parts])
    if return_X_y:
        return images, target
    return Bunch(images=images, target=target, target_names=TARGET_NAMES, DESCR=DESCR)
