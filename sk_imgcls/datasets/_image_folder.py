"""Listing of the image files of a folder: one subfolder per class, or unlabelled."""

import os

import numpy as np

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")


def _visible_entries(folder):
    with os.scandir(folder) as entries:
        return sorted(
            (entry for entry in entries if not entry.name.startswith(".")),
            key=lambda entry: entry.name,
        )


def _is_image_file(entry):
    return entry.name.lower().endswith(IMAGE_EXTENSIONS) and entry.is_file()


def _check_folder(root, caller, expected):
    """Return ``root`` as a str, or raise if it is not an existing folder."""
    root = os.fspath(root)
    if not os.path.exists(root):
        raise FileNotFoundError(f"The image folder {root!r} does not exist.")
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root!r} is a file; {caller} needs a folder {expected}.")
    return root


def load_image_folder(root):
    """List the image files of a folder with one subfolder per class.

    The layout is that of ``torchvision.datasets.ImageFolder``::

        root/ants/0013035.jpg
        root/ants/1030023514_aad5c608f9.jpg
        root/bees/1092977343_cb42b38d62.jpg

    Each subfolder of ``root`` is a class, named after the folder; the image
    files directly inside it are its samples. Files are listed, not opened:
    decode them with :class:`~sk_imgcls.preprocessing.ImageLoader` or pass the
    paths to a classifier that accepts them.

    Parameters
    ----------
    root : str or os.PathLike
        Folder holding one subfolder per class.

    Returns
    -------
    paths : ndarray of shape (n_samples,), dtype str
        Path of each image, ``os.path.join(root, class_name, file_name)``,
        sorted by class name and then by file name (code-point order, the
        same on every platform and run).
    labels : ndarray of shape (n_samples,), dtype str
        Class name of each image: the name of its subfolder.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist.
    NotADirectoryError
        If ``root`` is a file.
    ValueError
        If ``root`` has no class subfolder, or a class subfolder holds no
        image file (the message names it).

    See Also
    --------
    list_images : The image files of a folder of unlabelled photos.
    torchvision.datasets.ImageFolder : The same layout as a torch Dataset.
    sklearn.datasets.load_files : The same layout for text files.

    Notes
    -----
    Image files are those whose extension, in any case, is one of
    ``.bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff, .webp``. Hidden entries
    (a name starting with ".", such as ``.DS_Store`` or
    ``.ipynb_checkpoints``), other files and nested folders are ignored, as
    are files directly in ``root``. Symbolic links are followed.

    Unlike ``torchvision.datasets.ImageFolder``, class folders are not
    searched recursively: pointing ``root`` one level too high (at a folder
    holding ``train/`` and ``val/``) is an error naming the empty "class"
    instead of a silent two-class problem. Labels are the folder names
    rather than integer indices: scikit-learn classifiers accept string
    labels and predict them back.

    Examples
    --------
    >>> import os, tempfile
    >>> from PIL import Image
    >>> from sk_imgcls.datasets import load_image_folder
    >>> with tempfile.TemporaryDirectory() as root:
    ...     for name in ["cat/b.png", "cat/a.png", "dog/c.jpg", "dog/notes.txt"]:
    ...         os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
    ...         Image.new("RGB", (8, 8)).save(os.path.join(root, name), format="PNG")
    ...     paths, labels = load_image_folder(root)
    ...     files = [os.path.relpath(path, root) for path in paths]
    >>> files
    ['cat/a.png', 'cat/b.png', 'dog/c.jpg']
    >>> labels
    array(['cat', 'cat', 'dog'], dtype='<U3')
    """
    root = _check_folder(root, "load_image_folder", "holding one subfolder of images per class")
    paths, labels = [], []
    class_folders = [entry for entry in _visible_entries(root) if entry.is_dir()]
    if not class_folders:
        raise ValueError(
            f"The image folder {root!r} has no class subfolder; expected "
            "root/<class_name>/<image file>."
        )
    for folder in class_folders:
        entries = _visible_entries(folder.path)
        images = [entry.path for entry in entries if _is_image_file(entry)]
        if not images:
            nested = [entry.name for entry in entries if entry.is_dir()]
            hint = (
                f" It holds the folders {nested[:5]}: is root one level too high?"
                if nested
                else ""
            )
            raise ValueError(
                f"The class folder {folder.path!r} holds no image file (extensions "
                f"{', '.join(IMAGE_EXTENSIONS)}).{hint}"
            )
        paths.extend(images)
        labels.extend([folder.name] * len(images))
    return np.asarray(paths, dtype=str), np.asarray(labels, dtype=str)


def _image_files(folder, ancestors):
    """Yield the image paths under ``folder``, depth first, entries sorted by name."""
    for entry in _visible_entries(folder):
        if entry.is_dir():
            real = os.path.realpath(entry.path)
            # A symbolic link back to an enclosing folder would recurse forever.
            if real not in ancestors:
                yield from _image_files(entry.path, ancestors | {real})
        elif _is_image_file(entry):
            yield entry.path


def list_images(folder):
    """List the image files of a folder of unlabelled photos, recursively.

    For photos to predict on, or to cluster, that are not sorted by class::

        folder/IMG_0001.jpg
        folder/2023/holidays/IMG_0420.JPG
        folder/scans/page1.png

    Files are listed, not opened: decode them with
    :class:`~sk_imgcls.preprocessing.ImageLoader` or pass the paths to a
    classifier that accepts them.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder holding the image files, at any depth.

    Returns
    -------
    paths : ndarray of shape (n_images,), dtype object
        Path of each image file (str), ``os.path.join(folder, ...)``, sorted
        by folder names and then file name (code-point order, the same on
        every platform and run): the order of :func:`load_image_folder`.

    Raises
    ------
    FileNotFoundError
        If ``folder`` does not exist.
    NotADirectoryError
        If ``folder`` is a file.
    ValueError
        If no image file is found under ``folder`` (the message names it).

    See Also
    --------
    load_image_folder : Paths and labels of a folder with one subfolder per class.

    Notes
    -----
    The rules of :func:`load_image_folder`: image files are those whose
    extension, in any case, is one of ``.bmp, .gif, .jpeg, .jpg, .png, .tif,
    .tiff, .webp``; hidden entries (a name starting with ".", such as
    ``.DS_Store`` or ``.ipynb_checkpoints``) are ignored, and hidden folders
    are not searched. Symbolic links are followed, except a link to a folder
    that encloses it.

    Examples
    --------
    >>> import os, tempfile
    >>> from PIL import Image
    >>> from sk_imgcls.datasets import list_images
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for name in ["b.png", "a/c.jpg", "a/notes.txt", ".cache/d.png"]:
    ...         os.makedirs(os.path.join(folder, os.path.dirname(name)), exist_ok=True)
    ...         Image.new("RGB", (8, 8)).save(os.path.join(folder, name), format="PNG")
    ...     paths = list_images(folder)
    ...     files = [os.path.relpath(path, folder) for path in paths]
    >>> files
    ['a/c.jpg', 'b.png']
    >>> paths.dtype, paths.shape
    (dtype('O'), (2,))
    """
    folder = _check_folder(folder, "list_images", "of image files")
    paths = list(_image_files(folder, frozenset({os.path.realpath(folder)})))
    if not paths:
        raise ValueError(
            f"The folder {folder!r} holds no image file (extensions "
            f"{', '.join(IMAGE_EXTENSIONS)}), at any depth."
        )
    return np.asarray(paths, dtype=object)
