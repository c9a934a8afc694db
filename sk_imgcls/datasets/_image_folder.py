"""Listing of a folder of images sorted into one subfolder per class."""

import os

import numpy as np

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")


def _visible_entries(folder):
    with os.scandir(folder) as entries:
        return sorted(
            (entry for entry in entries if not entry.name.startswith(".")),
            key=lambda entry: entry.name,
        )


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
    root = os.fspath(root)
    if not os.path.exists(root):
        raise FileNotFoundError(f"The image folder {root!r} does not exist.")
    if not os.path.isdir(root):
        raise NotADirectoryError(
            f"{root!r} is a file; load_image_folder needs a folder holding one "
            "subfolder of images per class."
        )
    paths, labels = [], []
    class_folders = [entry for entry in _visible_entries(root) if entry.is_dir()]
    if not class_folders:
        raise ValueError(
            f"The image folder {root!r} has no class subfolder; expected "
            "root/<class_name>/<image file>."
        )
    for folder in class_folders:
        entries = _visible_entries(folder.path)
        images = [
            entry.path
            for entry in entries
            if entry.name.lower().endswith(IMAGE_EXTENSIONS) and entry.is_file()
        ]
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
