"""Decoding of image files into an array of images, as a scikit-learn transformer."""

import os
import warnings
from collections import Counter
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.parallel import Parallel, delayed

from .._doc_link import DocLinkMixin
from .._image_io import (
    INTERPOLATIONS,
    MODES,
    ImageReadError,
    check_decode_params,
    decode_image,
    read_image_size,
)

# Files named in the one warning of on_error="skip" and in error messages;
# the rest are counted.
_MAX_LISTED = 10
_MAX_LISTED_SIZES = 5


def _check_paths(X):
    """Return X as a 1-D object array of paths, or raise ValueError."""
    if isinstance(X, (str, bytes, os.PathLike)):
        raise ValueError(
            f"X must be a 1-D array-like of file paths, not a single path {X!r}; "
            "wrap it in a list."
        )
    paths = X if hasattr(X, "ndim") and not hasattr(X, "iloc") else np.asarray(X, dtype=object)
    if paths.ndim == 2 and paths.shape[1] == 1:
        paths = paths[:, 0]
    if paths.ndim != 1:
        raise ValueError(
            "X must be a 1-D array-like of file paths (or a single column of "
            f"them); got an array of shape {paths.shape}."
        )
    if len(paths) == 0:
        raise ValueError("X holds no file path: found an array with 0 sample(s).")
    paths = np.asarray(paths, dtype=object)
    for i, path in enumerate(paths):
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(
                "X must hold file paths (str or os.PathLike); X[{}] is {!r} of type "
                "{}.".format(i, path, type(path).__name__)
            )
    return paths


def _decode_or_error(path, mode, size, interpolation, skip):
    """Decode one file; with ``skip``, return its error instead of raising it."""
    try:
        return decode_image(path, mode=mode, size=size, interpolation=interpolation), None
    except ImageReadError as exc:
        if not skip:
            raise
        return None, exc


def _listing(items, total):
    lines = [f"  {item}" for item in items[:_MAX_LISTED]]
    if total > _MAX_LISTED:
        lines.append(f"  ... and {total - _MAX_LISTED} more.")
    return "\n".join(lines)


def _mixed_sizes_error(paths):
    """Describe the sizes of ``paths`` from their headers, for the error of size=None."""
    counts, first = Counter(), {}
    for path in paths:
        try:
            size = read_image_size(path)
        except ImageReadError:
            continue
        counts[size] += 1
        first.setdefault(size, path)
    found = [
        f"{h}x{w} ({n} file{'s' if n > 1 else ''}, e.g. {os.fspath(first[h, w])!r})"
        for (h, w), n in counts.most_common(_MAX_LISTED_SIZES)
    ]
    more = len(counts) - len(found)
    return ValueError(
        f"The images have {len(counts)} different sizes (height x width): "
        f"{', '.join(found)}{f' and {more} more' if more > 0 else ''}. Set "
        "size=(height, width) to resize them all to one size."
    )


class ImageLoader(DocLinkMixin, TransformerMixin, BaseEstimator):
    """Decode image files into an array of images, channels last.

    A stateless transformer: ``transform`` maps a 1-D array of file paths to
    a uint8 array of shape (n_samples, height, width, n_channels), decoding
    each file with Pillow. Put it first in a Pipeline whose X is file paths,
    for example those of :func:`~sk_imgcls.datasets.load_image_folder`.

    Parameters
    ----------
    size : int, tuple of (int, int) or None, default=None
        ``(height, width)`` in pixels every image is resized to, ignoring the
        aspect ratio; an int gives a square. None keeps the files' own size,
        which must then be the same for all of them.
    mode : {"RGB", "L"}, default="RGB"
        Color mode of the output: "RGB" gives 3 channels, "L" 1 channel of
        luma.
    interpolation : {"bilinear", "bicubic", "lanczos", "nearest"}, \
            default="bilinear"
        Resampling filter of the resize; all but "nearest" are antialiased.
    on_error : {"raise", "skip"}, default="raise"
        What a file that cannot be read does. "raise": ``transform`` raises
        :class:`~sk_imgcls._image_io.ImageReadError` naming it. "skip": the
        file is left out of the output, which then has fewer rows than X;
        one warning lists every skipped file and ``support_`` tells which
        rows were kept.
    n_jobs : int or None, default=None
        Number of threads decoding files in parallel; None means 1 unless in
        a :func:`joblib.parallel_config` context, -1 means all processors.

    Attributes
    ----------
    support_ : ndarray of shape (n_samples,), dtype bool
        Set by the last call to ``transform``: True for the paths whose image
        is in the output, in the same order. All True unless
        ``on_error="skip"`` skipped files.
    skipped_paths_ : ndarray of shape (n_skipped,), dtype object
        Set by the last call to ``transform``: the paths that were skipped,
        ``X[~support_]``.

    See Also
    --------
    sk_imgcls.datasets.load_image_folder : Paths and labels of a class-per-folder tree.
    torchvision.datasets.ImageFolder : Decoding on the fly, for a torch DataLoader.

    Notes
    -----
    Each file is decoded as by ``sk_imgcls._image_io.open_image``: fully (a
    truncated file is an error), turned upright by its EXIF orientation tag,
    converted to ``mode`` (transparency composited over white, 16-bit
    grayscale scaled to 8 bits) and resized with Pillow's antialiased
    filters. Decoding and resizing are Pillow's, which releases the GIL, so
    ``n_jobs`` threads decode in parallel without copying anything between
    processes.

    ``fit`` only validates the parameters and X; ``transform`` needs no
    ``fit``. Nothing is kept between calls but ``support_`` and
    ``skipped_paths_``, which describe the last one.

    With ``on_error="skip"`` the output has fewer rows than X, so it no
    longer lines up with y: in a Pipeline, the next step's ``fit`` then fails
    with inconsistent numbers of samples. Skip files before the Pipeline
    instead, ``images = loader.fit_transform(paths)`` with
    ``y = y[loader.support_]``, or use ``support_`` to match predictions to
    paths.

    Examples
    --------
    >>> import os, tempfile, warnings
    >>> from PIL import Image
    >>> from sk_imgcls.preprocessing._loader import ImageLoader
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = [os.path.join(tmp, f"{i}.png") for i in range(3)]
    ...     for i, path in enumerate(paths):
    ...         Image.new("RGB", (40 + i, 30), (80 * i, 0, 0)).save(path)
    ...     open(os.path.join(tmp, "2.png"), "w").close()
    ...     loader = ImageLoader(size=(16, 16), on_error="skip")
    ...     with warnings.catch_warnings(record=True) as caught:
    ...         warnings.simplefilter("always")
    ...         images = loader.fit_transform(paths)
    >>> images.shape, images.dtype
    ((2, 16, 16, 3), dtype('uint8'))
    >>> loader.support_
    array([ True,  True, False])
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    ImageLoader skipped 1 of 3 files that could not be read; ...
    ...2.png': the file is empty (0 bytes).
    """

    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "mode": [StrOptions(set(MODES))],
        "interpolation": [StrOptions(set(INTERPOLATIONS))],
        "on_error": [StrOptions({"raise", "skip"})],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self, size=None, *, mode="RGB", interpolation="bilinear", on_error="raise", n_jobs=None
    ):
        self.size = size
        self.mode = mode
        self.interpolation = interpolation
        self.on_error = on_error
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and that X is a 1-D array of paths; read no file.

        Parameters
        ----------
        X : array-like of shape (n_samples,)
            Image file paths, str or os.PathLike.
        y : None
            Ignored.

        Returns
        -------
        self : ImageLoader
            The transformer, unchanged.

        Raises
        ------
        ValueError
            If a parameter is invalid, or X is not a non-empty 1-D array of
            paths.
        """
        check_decode_params(self.mode, self.size, self.interpolation)
        _check_paths(X)
        return self

    def transform(self, X):
        """Decode the image files of X.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, 1)
            Image file paths, str or os.PathLike: a list, a 1-D array, a
            pandas Series or a single-column DataFrame.

        Returns
        -------
        images : ndarray of shape (n_kept, height, width, n_channels), dtype uint8
            The images in the order of X, values in [0, 255]; ``n_channels``
            is 3 for mode "RGB" and 1 for "L". ``n_kept`` is ``n_samples``
            unless ``on_error="skip"`` skipped files.

        Raises
        ------
        ImageReadError
            If a file cannot be read and ``on_error="raise"`` (the message
            names it), or if no file at all can be read.
        ValueError
            If a parameter is invalid; if X is not a non-empty 1-D array of
            paths; if ``size`` is None and the images differ in size (the
            message lists the sizes found, each with a file).
        """
        self._validate_params()
        size = check_decode_params(self.mode, self.size, self.interpolation)
        paths = _check_paths(X)
        n_channels = len(self.mode)
        results = Parallel(n_jobs=self.n_jobs, prefer="threads", return_as="generator")(
            delayed(_decode_or_error)(
                path, self.mode, size, self.interpolation, self.on_error == "skip"
            )
            for path in paths
        )
        images = None
        if size is not None:
            images = np.empty((len(paths), *size, n_channels), dtype=np.uint8)
        support = np.zeros(len(paths), dtype=bool)
        errors = []
        n_kept = 0
        for i, (image, error) in enumerate(results):
            if error is not None:
                errors.append(error)
                continue
            if images is None:
                images = np.empty((len(paths), *image.shape[:2], n_channels), dtype=np.uint8)
            elif image.shape[:2] != images.shape[1:3]:
                results.close()
                raise _mixed_sizes_error(paths)
            images[n_kept] = image.reshape(images.shape[1:])
            support[i] = True
            n_kept += 1
        if errors:
            if len(errors) == len(paths):
                raise ImageReadError(
                    f"None of the {len(paths)} files could be read:\n"
                    + _listing(errors, len(errors))
                )
            warnings.warn(
                f"ImageLoader skipped {len(errors)} of {len(paths)} files that could "
                f"not be read; the output has {n_kept} rows and "
                "support_ marks the paths they come from:\n"
                + _listing(errors, len(errors)),
                UserWarning,
            )
            images = images[:n_kept].copy()
        self.support_ = support
        self.skipped_paths_ = paths[~support]
        return images

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags
