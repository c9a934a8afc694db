"""Decoding of image files: the one place where sk_imgcls opens a file with Pillow."""

import os
from numbers import Integral

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

MODES = ("RGB", "L")

INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}

# Modes with an alpha channel, and modes whose transparency is a palette index
# or a single color in ``info["transparency"]`` (GIF, PNG tRNS chunk).
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA"})
_KEYED_TRANSPARENCY_MODES = frozenset({"P", "L", "RGB"})

# Integer modes read as 16-bit values (0..65535). Pillow opens 16-bit PNG and
# TIFF grayscale as "I;16*", older releases and some TIFFs as "I".
_WIDE_INTEGER_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})

_BACKGROUND = 255

class ImageReadError(OSError, ValueError):
    """Raised when an image file cannot be read or decoded.

    The message names the file and the problem: a path that does not exist, a
    directory, an empty file, a file that is not an image Pillow can decode
    (for example a text file named ``.jpg``), a truncated file, or an image
    larger than Pillow's decompression-bomb limit.

    It derives from both :class:`OSError`, as Pillow's own
    :class:`PIL.UnidentifiedImageError` and Python's file errors do, and
    :class:`ValueError`, as scikit-learn's errors about invalid input data do:
    ``except OSError`` and ``except ValueError`` both catch it.

    See Also
    --------
    sk_imgcls.preprocessing.ImageLoader : Decodes image files in a Pipeline.

    Examples
    --------
    >>> from sk_imgcls import ImageReadError
    >>> from sk_imgcls.preprocessing import ImageLoader
    >>> try:
    ...     ImageLoader().fit_transform(["no/such/file.jpg"])
    ... except ImageReadError as exc:
    ...     print(exc)
    Cannot read image 'no/such/file.jpg': the file does not exist.
    """


def check_size(size, name="size"):
    """Return ``size`` as a (height, width) tuple of ints, or None.

    Raises
    ------
    ValueError
        Naming the parameter ``name``, if ``size`` is neither None, a
        positive int nor a pair of positive ints (bools and floats refused).
    """
    if size is None:
        return None
    if isinstance(size, Integral) and not isinstance(size, bool):
        size = (size, size)
    try:
        height, width = size
    except (TypeError, ValueError):
        height = width = None
    if not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s > 0
        for s in (height, width)
    ):
        raise ValueError(
            f"{name} must be None, a positive int or a (height, width) pair of "
            f"positive ints; got {name}={size!r}."
        )
    return int(height), int(width)


def check_decode_params(mode, size, interpolation):
    """Validate the decoding parameters shared by :func:`open_image` and its callers.

    Parameters
    ----------
    mode : str
        Requested color mode, one of ``MODES``.
    size : int, tuple of (int, int) or None
        Requested (height, width) in pixels; an int gives a square.
    interpolation : str
        Resampling filter name, a key of ``INTERPOLATIONS``.

    Returns
    -------
    size : tuple of (int, int) or None
        ``(height, width)``.

    Raises
    ------
    ValueError
        If a parameter has an unknown or invalid value.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got mode={mode!r}.")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"interpolation must be one of {tuple(INTERPOLATIONS)}; got "
            f"interpolation={interpolation!r}."
        )
    return check_size(size)


def _bomb_problem(detail):
    return (
        f"{detail} Pillow refuses images of more than PIL.Image.MAX_IMAGE_PIXELS="
        f"{Image.MAX_IMAGE_PIXELS} pixels; raise that limit if the file is trusted"
    )


def _open(path, name):
    """Open ``path`` lazily (header only), with every failure as ImageReadError.

    Images over Pillow's decompression-bomb limit are refused by an explicit
    pixel count, not by turning Pillow's warning into an error: a warnings
    filter is process-wide state that threads (joblib's workers reset
    theirs) would race on.
    """
    try:
        image = Image.open(path)
    except FileNotFoundError:
        problem = "the file does not exist"
    except IsADirectoryError:
        problem = "it is a directory, not a file"
    except PermissionError:
        problem = "permission denied"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        problem = _bomb_problem(str(exc))
    except UnidentifiedImageError:
        problem = (
            "the file is empty (0 bytes)"
            if _is_empty(path)
            else "the file is not an image format Pillow can decode"
        )
    except OSError as exc:
        problem = f"{type(exc).__name__}: {exc}"
    else:
        limit = Image.MAX_IMAGE_PIXELS
        if limit is None or image.width * image.height <= limit:
            return image
        image.close()
        problem = _bomb_problem(
            f"Image size ({image.width * image.height} pixels) exceeds limit of {limit} pixels."
        )
    raise ImageReadError(f"Cannot read image {name}: {problem}.")


def _is_empty(path):
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return False


def _to_mode(image, mode):
    """Convert a decoded image of any Pillow mode to ``mode`` ("RGB" or "L")."""
    if image.mode in _WIDE_INTEGER_MODES:
        # Pillow's own conversion clips 16-bit values at 255; scale instead,
        # rounding to the nearest 8-bit level (65535 -> 255, 257 -> 1).
        values = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        image = Image.fromarray(((values + 128) // 257).astype(np.uint8), mode="L")
    has_alpha = image.mode in _ALPHA_MODES or (
        image.mode in _KEYED_TRANSPARENCY_MODES and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (_BACKGROUND,) * 3)
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    if image.mode == mode:
        return image
    if image.mode == "LAB":
        # Pillow converts CIELab (TIFF) to RGB but not to L.
        image = image.convert("RGB")
    return image.convert(mode)


def decode_image(path, *, mode="RGB", size=None, interpolation="bilinear"):
    """Decode ``path`` as :func:`open_image` does, with validated parameters.

    ``size`` is a (height, width) tuple or None. Returns a read-only uint8
    array of shape (height, width, 3) for "RGB" and (height, width) for "L":
    callers that keep it copy it anyway.
    """
    name = repr(str(os.fspath(path)))
    image = _open(path, name)
    # Leaving the block closes the file, which Pillow keeps open for
    # multi-frame formats; closing also discards the pixels of that Image
    # object, so they leave it as an array inside the block.
    with image:
        try:
            # load() decodes every byte: with ImageFile.LOAD_TRUNCATED_IMAGES
            # left at its default (False) a truncated file raises here instead
            # of coming back with gray pixels.
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            converted = _to_mode(image, mode)
        except (OSError, SyntaxError, EOFError, ValueError) as exc:
            raise ImageReadError(
                f"Cannot read image {name}: the file is damaged or truncated "
                f"({type(exc).__name__}: {exc})."
            ) from exc
        if size is not None and (converted.height, converted.width) != size:
            converted = converted.resize(
                size[::-1], resample=INTERPOLATIONS[interpolation]
            )
        return np.asarray(converted)


def image_to_array(image, *, mode="RGB"):
    """A PIL image as :func:`open_image` returns a file of it: upright, in ``mode``, uint8.

    The same EXIF rotation and mode conversion as files get, so a photo passed
    as a PIL image and by its path gives the same pixels.

    Parameters
    ----------
    image : PIL.Image.Image
        Any Pillow mode that :func:`open_image` converts; left unchanged.
    mode : {"RGB", "L"}, default="RGB"
        Color mode of the result.

    Returns
    -------
    array : ndarray of shape (height, width, n_channels), dtype uint8
        A new array; ``n_channels`` is 3 for "RGB" and 1 for "L".

    Raises
    ------
    ValueError
        If Pillow cannot convert the image's mode to ``mode``.
    """
    # exif_transpose returns a new image (a copy when already upright).
    upright = ImageOps.exif_transpose(image)
    try:
        converted = _to_mode(upright, mode)
    except ValueError as exc:
        raise ValueError(
            f"Cannot convert a PIL image of mode {image.mode!r} to {mode!r}: {exc}"
        ) from exc
    array = np.array(converted)
    return array if array.ndim == 3 else array[:, :, np.newaxis]


def read_image_size(path):
    """Return the (height, width) that ``path`` decodes to, reading only its header.

    Heights and widths are swapped for the EXIF orientations that turn the
    image by 90 degrees, as :func:`open_image` applies them.

    Parameters
    ----------
    path : str or os.PathLike
        Image file.

    Returns
    -------
    size : tuple of (int, int)
        ``(height, width)`` in pixels.

    Raises
    ------
    ImageReadError
        If the file does not exist, is a directory, is empty, is not an image
        or is larger than Pillow's decompression-bomb limit. A truncated file
        is only detected by decoding it.
    """
    name = repr(str(os.fspath(path)))
    with _open(path, name) as image:
        width, height = image.size
        try:
            orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        except (OSError, SyntaxError, ValueError):
            orientation = 1
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def open_image(path, *, mode="RGB", size=None, interpolation="bilinear"):
    """Decode an image file to a uint8 array, channels last.

    The file is fully decoded (a truncated file is an error), turned upright
    by its EXIF orientation tag, converted to ``mode`` and, when ``size`` is
    given, resized.

    Parameters
    ----------
    path : str or os.PathLike
        Image file in any format Pillow reads: JPEG, PNG, BMP, GIF, WebP,
        TIFF, ... Of an animated or multi-page file, the first frame is read.
    mode : {"RGB", "L"}, default="RGB"
        Color mode of the result: "RGB" for 3 channels, "L" for 1 channel of
        luma (ITU-R 601-2: ``L = 0.299 R + 0.587 G + 0.114 B``).
    size : int, tuple of (int, int) or None, default=None
        ``(height, width)`` in pixels to resize to, ignoring the aspect ratio;
        an int gives a square. None keeps the file's size (after EXIF
        rotation, which swaps height and width for 90-degree turns).
    interpolation : {"bilinear", "bicubic", "lanczos", "nearest"}, \
            default="bilinear"
        Resampling filter of ``PIL.Image.Image.resize``. All but "nearest"
        are antialiased: when shrinking, the filter support widens with the
        scale factor, so every source pixel contributes.

    Returns
    -------
    image : ndarray of shape (height, width, n_channels), dtype uint8
        Values in [0, 255]; ``n_channels`` is 3 for "RGB" and 1 for "L". A
        new, writable array.

    Raises
    ------
    ImageReadError
        If the file cannot be read: it does not exist, is a directory, is
        empty, is not an image Pillow can decode, is truncated or damaged, or
        has more pixels than ``PIL.Image.MAX_IMAGE_PIXELS`` (Pillow's
        decompression-bomb limit; Pillow's warning between one and two times
        the limit is an error here too). The message names the file.
    ValueError
        If ``mode``, ``size`` or ``interpolation`` is invalid.
    TypeError
        If ``path`` is not a str or os.PathLike.

    See Also
    --------
    sk_imgcls.preprocessing.ImageLoader : Decode many files in a Pipeline.
    sk_imgcls.datasets.load_image_folder : List the images of a class-per-folder tree.

    Notes
    -----
    Conversions from the file's Pillow mode:

    - "1", "L", "P", "RGB", "CMYK", "YCbCr", "LAB", "F": Pillow's
      ``convert`` ("F" is clipped to [0, 255]). CMYK is converted with
      Pillow's formula, without color management (an embedded ICC profile
      is ignored).
    - 16-bit grayscale ("I;16", "I;16B", ...) and "I": scaled to 8 bits as
      ``round(v / 257)``, so 0..65535 maps onto 0..255 (Pillow's own
      conversion would clip every value above 255); "I" values outside
      0..65535 are clipped first.
    - Transparency ("RGBA", "LA", "PA", or "P", "L", "RGB" with a
      transparent palette index or color): composited over a white
      background, as a web page shows the image. Opaque pixels keep their
      color; fully transparent ones become white, whatever color the file
      stores under them.

    Decoding and resizing are Pillow's (https://python-pillow.github.io),
    which releases the GIL while it works: threads decode in parallel. The
    function is a plain module-level function, so it pickles for
    ``torch.utils.data.DataLoader`` worker processes.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sk_imgcls._image_io import open_image
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "red.png")
    ...     Image.new("RGB", (40, 30), (255, 0, 0)).save(path)
    ...     image = open_image(path)
    ...     small = open_image(path, mode="L", size=(8, 16))
    >>> image.shape, image.dtype
    ((30, 40, 3), dtype('uint8'))
    >>> image[0, 0]
    array([255,   0,   0], dtype=uint8)
    >>> small.shape, int(small[0, 0, 0])
    ((8, 16, 1), 76)
    """
    size = check_decode_params(mode, size, interpolation)
    image = decode_image(path, mode=mode, size=size, interpolation=interpolation)
    return np.array(image if image.ndim == 3 else image[:, :, np.newaxis])
