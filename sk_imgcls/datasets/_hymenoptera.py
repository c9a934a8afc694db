"""The ants and bees photos of PyTorch's transfer-learning tutorial."""

import contextlib
import os
import tempfile
from numbers import Integral, Real

import numpy as np
from sklearn.datasets import fetch_file, get_data_home
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from torchvision.datasets.utils import extract_archive

from ._image_folder import load_image_folder

URL = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"

# The checksum that PyTorch's tutorials pin for this file in their own
# download script (github.com/pytorch/tutorials, .jenkins/download_data.py).
SHA256 = "fbc41b31d544714d18dd1230b1e2b455e1557766e13e67f9f5a7a23af7c02209"

ARCHIVE = "hymenoptera_data.zip"

FOLDER = "hymenoptera_data"

SUBSETS = ("train", "val")

# The zip's train/ants/imageNotFound.gif is a placeholder picture, not an ant.
# The tutorial never sees it (torchvision's ImageFolder does not list .gif
# files); leaving it out keeps the tutorial's 244 training photos.
_PLACEHOLDERS = frozenset({os.path.join("train", "ants", "imageNotFound.gif")})

DESCR = """\
.. _hymenoptera_dataset:

Hymenoptera (ants and bees) dataset
-----------------------------------

**Data Set Characteristics:**

:Number of Instances: 397 (244 train: 123 ants, 121 bees; 153 val: 70 ants,
  83 bees)
:Number of Classes: 2 (ants, bees)
:Images: RGB JPEG photos of varied sizes, 130 to 2592 pixels a side (most
  about 500x375)
:Source: https://download.pytorch.org/tutorial/hymenoptera_data.zip

A very small subset of ImageNet, the data of PyTorch's "Transfer Learning for
Computer Vision" tutorial: too few photos to train a network from scratch,
enough to fine-tune a pretrained one or to train a linear model on its
features.

.. dropdown:: References

  - Sasank Chilamkurthy. "Transfer Learning for Computer Vision Tutorial",
    PyTorch tutorials, 2017.
    https://pytorch.org/tutorials/beginner/transfer_learning_tutorial.html
  - Jia Deng, Wei Dong, Richard Socher, Li-Jia Li, Kai Li, Li Fei-Fei.
    "ImageNet: A Large-Scale Hierarchical Image Database". CVPR, 2009.
"""


def _how_to_get(data_home):
    return (
        f"Put the extracted folder {FOLDER}/ (holding train/ and val/) in "
        f"{data_home}, or put {ARCHIVE} (from {URL}, SHA-256 {SHA256}) there and "
        "call again with download_if_missing=True: it is then checked and "
        "extracted without network."
    )


def _extract(archive, data_home):
    """Extract ``archive`` into ``<data_home>/hymenoptera_data`` all at once."""
    root = os.path.join(data_home, FOLDER)
    # Extract into a scratch folder and rename it: an interrupted extraction
    # leaves no half-filled folder that a later call would take as complete.
    with tempfile.TemporaryDirectory(prefix=FOLDER + ".part_", dir=data_home) as scratch:
        extract_archive(archive, scratch)
        extracted = os.path.join(scratch, FOLDER)
        if not os.path.isdir(extracted):
            raise OSError(f"{archive!r} holds no folder {FOLDER}/: it is not the zip of {URL}.")
        try:
            os.rename(extracted, root)
        except OSError:
            # Unless a concurrent call has extracted the same photos meanwhile.
            if not os.path.isdir(root):
                raise
    # The folder now stands for the zip, as in scikit-learn's own fetchers;
    # a concurrent call may have removed it already.
    with contextlib.suppress(FileNotFoundError):
        os.remove(archive)


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "subset": [StrOptions({"train", "val", "all"})],
        "download_if_missing": ["boolean"],
        "return_X_y": ["boolean"],
        "n_retries": [Interval(Integral, 0, None, closed="left")],
        "delay": [Interval(Real, 0.0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def fetch_hymenoptera(
    *,
    data_home=None,
    subset="train",
    download_if_missing=True,
    return_X_y=False,
    n_retries=3,
    delay=1.0,
):
    """Load the ants and bees photos of PyTorch's transfer-learning tutorial.

    =================   ===================================
    Classes                                               2
    Samples total       397 (244 train, 153 val)
    Image               JPEG colour photos of varied sizes
    =================   ===================================

    The photos are read from ``<data_home>/hymenoptera_data/``. When that
    folder is missing, the zip is downloaded from download.pytorch.org (when
    ``download_if_missing`` allows it), checked and extracted there once;
    later calls use the folder without network. Files are listed, not
    opened: decode them with :class:`~sk_imgcls.preprocessing.ImageLoader` or
    pass the paths to a classifier that accepts them.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        Folder of scikit-learn's datasets (see
        :func:`sklearn.datasets.get_data_home`; None is ``$SCIKIT_LEARN_DATA``
        or ``~/scikit_learn_data``). The photos are looked for, and extracted
        to, its subfolder ``hymenoptera_data``.
    subset : {"train", "val", "all"}, default="train"
        The tutorial's split to load: the 244 training photos, the 153
        validation photos, or all 397 (training first).
    download_if_missing : bool, default=True
        Download and extract the photos when they are not in ``data_home``.
        When False, a missing folder is an error.
    return_X_y : bool, default=False
        Return ``(filenames, target)`` instead of a Bunch.
    n_retries : int, default=3
        Number of retries of a download that fails with a network error.
    delay : float, default=1.0
        Seconds to wait between two attempts.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        filenames : ndarray of shape (n_samples,), dtype str
            Path of each photo,
            ``<data_home>/hymenoptera_data/<subset>/<class>/<file>``, sorted
            by subset (train first), class and file name.
        target : ndarray of shape (n_samples,), dtype int64
            Class index of each photo: 0 for ants, 1 for bees.
        target_names : ndarray of shape (2,), dtype str
            ``array(['ants', 'bees'])``: ``target_names[target]`` names each
            photo.
        DESCR : str
            Description of the dataset.

    (filenames, target) : tuple
        Only when ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If the photos are not in ``data_home`` and ``download_if_missing`` is
        False. The message says where to put the zip or the extracted folder.
    OSError
        If the download fails (no network: the message says where to put the
        zip or the extracted folder), or its SHA-256 checksum differs from the
        published one (the damaged file is deleted), or the zip holds no
        ``hymenoptera_data`` folder.

    See Also
    --------
    load_image_folder : The same listing for any folder with one subfolder
        per class.
    fetch_fashion_mnist : 70,000 grayscale 28x28 images of clothing.

    Notes
    -----
    The data of Sasank Chilamkurthy's "Transfer Learning for Computer Vision"
    PyTorch tutorial, a small subset of ImageNet (Deng et al., CVPR 2009).
    The download goes through :func:`sklearn.datasets.fetch_file`, which
    retries on network errors and checks the SHA-256 that PyTorch's
    tutorials pin for the zip; a zip already in ``data_home`` with that
    checksum is used without network. The zip is extracted with
    :func:`torchvision.datasets.utils.extract_archive` into a scratch folder
    renamed once complete, then deleted. The zip's
    ``train/ants/imageNotFound.gif``, a placeholder picture that the
    tutorial's ``torchvision.datasets.ImageFolder`` does not list either, is
    left out.

    Examples
    --------
    With a network connection, or the photos already in ``data_home``:

    >>> from sk_imgcls.datasets import fetch_hymenoptera
    >>> data = fetch_hymenoptera(subset="val")  # doctest: +SKIP
    >>> data.filenames.shape, data.target_names  # doctest: +SKIP
    ((153,), array(['ants', 'bees'], dtype='<U4'))

    Offline, the error says where to put the files:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as home:
    ...     fetch_hymenoptera(data_home=home, download_if_missing=False)
    Traceback (most recent call last):
    ...
    FileNotFoundError: The hymenoptera photos are not in ... Put the extracted folder hymenoptera_data/ ...
    """
    data_home = get_data_home(data_home)
    root = os.path.join(data_home, FOLDER)
    if not os.path.isdir(root):
        if not download_if_missing:
            raise FileNotFoundError(
                f"The hymenoptera photos are not in {root}, and download_if_missing "
                "is False. " + _how_to_get(data_home)
            )
        try:
            archive = fetch_file(
                URL,
                folder=data_home,
                local_filename=ARCHIVE,
                sha256=SHA256,
                n_retries=n_retries,
                delay=delay,
            )
        except OSError as exc:
            raise OSError(
                f"Could not download the hymenoptera photos from {URL} ({exc}). "
                + _how_to_get(data_home)
            ) from exc
        _extract(archive, data_home)
    filenames, labels = [], []
    for name in SUBSETS if subset == "all" else (subset,):
        paths, classes = load_image_folder(os.path.join(root, name))
        keep = [os.path.relpath(path, root) not in _PLACEHOLDERS for path in paths]
        filenames.append(paths[keep])
        labels.append(classes[keep])
    filenames = np.concatenate(filenames)
    target_names, target = np.unique(np.concatenate(labels), return_inverse=True)
    if return_X_y:
        return filenames, target
    return Bunch(filenames=filenames, target=target, target_names=target_names, DESCR=DESCR)
