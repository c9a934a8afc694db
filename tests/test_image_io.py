"""Tests of sk_imgcls._image_io: decoding one image file."""

import os
import pickle
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from sk_imgcls._image_io import ImageReadError, open_image, read_image_size


def _save(path, image, **kwargs):
    image.save(path, **kwargs)
    return str(path)


def _rgb(height=6, width=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _truncated(tmp_path, name, fmt):
    full = tmp_path / f"full_{name}"
    Image.fromarray(_rgb(64, 80)).save(full, format=fmt)
    data = full.read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    return str(path)


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
    path = tmp_path / f"{kind}.jpg"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.touch()
    elif kind == "text":
        path.write_text("not an image\n")
    elif kind == "truncated_jpeg":
        return _truncated(tmp_path, "cut.jpg", "JPEG")
    elif kind == "truncated_png":
        return _truncated(tmp_path, "cut.png", "PNG")
    return str(path)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP"])
def test_lossless_formats_decode_exactly(tmp_path, fmt):
    """Check that lossless files decode to their exact pixels, channels last, as uint8."""
    pixels = _rgb()
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    path = _save(tmp_path / f"image.{fmt.lower()}", Image.fromarray(pixels), format=fmt, **kwargs)
    image = open_image(path)
    assert image.dtype == np.uint8
    assert image.flags.writeable
    np.testing.assert_array_equal(image, pixels)


def test_jpeg_and_gif_decode_with_their_size(tmp_path):
    """Check that JPEG and GIF files decode to (height, width, 3) close to their pixels."""
    pixels = np.full((12, 20, 3), (200, 40, 90), dtype=np.uint8)
    jpeg = _save(tmp_path / "a.jpg", Image.fromarray(pixels), quality=95)
    gif = _save(tmp_path / "a.gif", Image.fromarray(pixels))
    for path in (jpeg, gif):
        image = open_image(path)
        assert image.shape == (12, 20, 3)
        assert np.abs(image.astype(int) - pixels).max() <= 6


def test_path_like_is_accepted(tmp_path):
    """Check that a pathlib.Path decodes like its str."""
    path = tmp_path / "a.png"
    Image.fromarray(_rgb()).save(path)
    np.testing.assert_array_equal(open_image(path), open_image(str(path)))


def test_mode_l_gives_one_channel_of_luma(tmp_path):
    """Check that mode "L" gives (height, width, 1) with Pillow's ITU-R 601-2 luma."""
    path = _save(tmp_path / "a.png", Image.new("RGB", (5, 4), (255, 0, 0)))
    image = open_image(path, mode="L")
    assert image.shape == (4, 5, 1)
    assert (image == 76).all()


def test_grayscale_file_gives_three_equal_channels_in_rgb(tmp_path):
    """Check that an "L" file read as RGB repeats its gray level in each channel."""
    path = _save(tmp_path / "gray.png", Image.new("L", (3, 2), 123))
    assert (open_image(path) == 123).all()
    assert open_image(path, mode="L").shape == (2, 3, 1)


@pytest.mark.parametrize("size, expected", [((10, 30), (10, 30)), (16, (16, 16))])
def test_size_resizes_to_height_width(tmp_path, size, expected):
    """Check that size is (height, width) and an int gives a square."""
    path = _save(tmp_path / "a.png", Image.fromarray(_rgb(40, 50)))
    assert open_image(path, size=size).shape == (*expected, 3)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "lanczos", "nearest"])
def test_resize_is_pillows(tmp_path, interpolation):
    """Check that the resize gives the pixels of Pillow's resize with that filter."""
    pixels = _rgb(50, 70)
    path = _save(tmp_path / "a.png", Image.fromarray(pixels))
    resample = getattr(Image.Resampling, interpolation.upper())
    expected = np.asarray(Image.fromarray(pixels).resize((20, 10), resample=resample))
    np.testing.assert_array_equal(
        open_image(path, size=(10, 20), interpolation=interpolation), expected
    )


def test_downscaling_is_antialiased(tmp_path):
    """Check that shrinking a one-pixel checkerboard gives mid-gray, not aliasing."""
    board = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    path = _save(tmp_path / "board.png", Image.fromarray(board))
    small = open_image(path, mode="L", size=(8, 8))
    assert np.abs(small.astype(int) - 128).max() <= 2
    aliased = open_image(path, mode="L", size=(8, 8), interpolation="nearest")
    assert set(np.unique(aliased)) <= {0, 255}


@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_exif_orientation_is_applied(tmp_path, orientation):
    """Check that a JPEG with an EXIF orientation tag decodes upright."""
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _save(tmp_path / "rotated.jpg", Image.fromarray(pixels), exif=exif, quality=95)
    image = open_image(path)
    red, blue = image[..., 0] > 128, image[..., 2] > 128
    if orientation == 6:
        # Stored 90 degrees counter-clockwise: the left (red) half is the top.
        assert image.shape == (40, 20, 3)
        assert red[:18].all() and blue[22:].all()
    elif orientation == 8:
        assert image.shape == (40, 20, 3)
        assert blue[:18].all() and red[22:].all()
    else:
        assert image.shape == (20, 40, 3)
        assert blue[:, :18].all() and red[:, 22:].all()
    assert read_image_size(path) == image.shape[:2]


def test_exif_orientation_applies_before_resize(tmp_path):
    """Check that size is the (height, width) of the upright image."""
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(tmp_path / "r.jpg", Image.fromarray(pixels), exif=exif, quality=95)
    image = open_image(path, size=(8, 4))
    assert image.shape == (8, 4, 3)
    assert (image[:3, :, 0] > 200).all() and (image[5:, :, 2] > 200).all()


def test_alpha_is_composited_over_white(tmp_path):
    """Check that RGBA and LA keep opaque pixels and turn transparent ones white."""
    rgba = Image.new("RGBA", (3, 1))
    rgba.putdata([(10, 20, 30, 255), (10, 20, 30, 0), (0, 0, 0, 128)])
    image = open_image(_save(tmp_path / "rgba.png", rgba))
    np.testing.assert_array_equal(image[0, :2], [[10, 20, 30], [255, 255, 255]])
    np.testing.assert_allclose(image[0, 2], [127, 127, 127], atol=1)
    la = Image.new("LA", (3, 1))
    la.putdata([(100, 255), (100, 0), (100, 128)])
    gray = open_image(_save(tmp_path / "la.png", la), mode="L")
    np.testing.assert_allclose(gray[0, :, 0], [100, 255, 177], atol=1)


@pytest.mark.parametrize("fmt", ["png", "gif"])
def test_palette_transparency_is_composited_over_white(tmp_path, fmt):
    """Check that a palette image's transparent index becomes white, the others their color."""
    palette = Image.new("P", (2, 1))
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette.putdata([0, 1])
    path = _save(tmp_path / f"p.{fmt}", palette, transparency=1)
    np.testing.assert_array_equal(open_image(path)[0], [[10, 20, 30], [255, 255, 255]])


def test_palette_without_transparency_uses_its_colors(tmp_path):
    """Check that a palette image without transparency decodes to its palette colors."""
    palette = Image.new("P", (2, 1))
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette.putdata([0, 1])
    path = _save(tmp_path / "p.png", palette)
    np.testing.assert_array_equal(open_image(path)[0], [[10, 20, 30], [200, 100, 50]])


def test_rgb_transparent_color_is_composited_over_white(tmp_path):
    """Check that a PNG's single transparent RGB color (tRNS) becomes white."""
    rgb = Image.new("RGB", (2, 1))
    rgb.putdata([(1, 2, 3), (9, 9, 9)])
    path = _save(tmp_path / "t.png", rgb, transparency=(9, 9, 9))
    np.testing.assert_array_equal(open_image(path)[0], [[1, 2, 3], [255, 255, 255]])


def test_cmyk_jpeg_is_converted(tmp_path):
    """Check that a CMYK JPEG decodes to the RGB of its inks."""
    path = _save(tmp_path / "c.jpg", Image.new("CMYK", (16, 16), (0, 255, 0, 0)), quality=95)
    np.testing.assert_allclose(open_image(path)[8, 8], [255, 0, 255], atol=3)
    np.testing.assert_allclose(open_image(path, mode="L")[8, 8], [105], atol=3)


@pytest.mark.parametrize(
    "dtype, fmt", [("<u2", "PNG"), ("<u2", "TIFF"), (">u2", "TIFF")]
)
def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path, dtype, fmt):
    """Check that 16-bit values map onto 0..255 as round(v / 257)."""
    values = np.array([[0, 257, 1000, 32896, 65535]], dtype=dtype)
    path = _save(tmp_path / f"deep.{fmt.lower()}", Image.fromarray(values), format=fmt)
    assert Image.open(path).mode.startswith("I;16")
    np.testing.assert_array_equal(open_image(path, mode="L")[0, :, 0], [0, 1, 4, 128, 255])
    np.testing.assert_array_equal(open_image(path)[0, :, 1], [0, 1, 4, 128, 255])


def test_32_bit_integer_mode_is_read_as_16_bit(tmp_path):
    """Check that mode "I" is scaled from 0..65535 and clipped outside it."""
    values = np.array([[-5, 0, 65535, 70000]], dtype=np.int32)
    path = _save(tmp_path / "i.tiff", Image.fromarray(values, mode="I"))
    np.testing.assert_array_equal(open_image(path, mode="L")[0, :, 0], [0, 0, 255, 255])


@pytest.mark.parametrize("source", ["1", "LAB", "F"])
def test_other_modes_convert_to_rgb_and_l(tmp_path, source):
    """Check that bilevel, CIELab and float TIFF files decode in both modes."""
    path = _save(tmp_path / "x.tiff", Image.new(source, (4, 3)))
    assert Image.open(path).mode == source
    assert open_image(path).shape == (3, 4, 3)
    assert open_image(path, mode="L").shape == (3, 4, 1)


def test_first_frame_of_animation_is_read_and_file_closed(tmp_path):
    """Check that an animated GIF gives its first frame and leaves no file open."""
    frames = [Image.new("RGB", (4, 4), color) for color in ("red", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    fds_before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    image = open_image(path)
    assert image[0, 0, 0] > 200 and image[0, 0, 2] < 50
    if fds_before is not None:
        assert len(os.listdir("/proc/self/fd")) == fds_before


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_raises_image_read_error_naming_it(tmp_path, kind):
    """Check that each kind of bad file raises ImageReadError naming the file and problem."""
    path = _make_bad_file(tmp_path, kind)
    with pytest.raises(ImageReadError, match=BAD_FILES[kind]) as info:
        open_image(path)
    assert repr(path) in str(info.value)
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)


def test_package_leaves_truncated_images_an_error():
    """Check that importing the package leaves Pillow's LOAD_TRUNCATED_IMAGES at False."""
    import sk_imgcls.datasets  # noqa: F401
    import sk_imgcls.preprocessing._loader  # noqa: F401

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("pixels", [20 * 20, 12 * 12])
def test_decompression_bomb_is_an_error(tmp_path, monkeypatch, pixels):
    """Check that images past Pillow's limit, or past twice it, raise ImageReadError."""
    side = int(pixels**0.5)
    path = _save(tmp_path / "bomb.png", Image.new("RGB", (side, side)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    filters = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageReadError, match="bomb.png.*MAX_IMAGE_PIXELS=100"):
            open_image(path)
        with pytest.raises(ImageReadError, match="MAX_IMAGE_PIXELS"):
            read_image_size(path)
    # Pillow's own DecompressionBombWarning may be shown; the refusal does not
    # depend on it (a filter turning it into an error would be global state).
    assert all(issubclass(w.category, Image.DecompressionBombWarning) for w in caught)
    assert warnings.filters == filters


def test_bomb_check_is_thread_safe(tmp_path, monkeypatch):
    """Check that threads decoding bombs and normal files leave the warning filters as they were."""
    big = _save(tmp_path / "big.png", Image.new("RGB", (12, 12)))
    small = _save(tmp_path / "small.png", Image.new("RGB", (5, 5)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    filters = list(warnings.filters)

    def decode(path):
        try:
            return open_image(path).shape
        except ImageReadError:
            return None

    with ThreadPoolExecutor(4) as pool:
        shapes = list(pool.map(decode, [big, small] * 50))
    assert shapes == [None, (5, 5, 3)] * 50
    assert warnings.filters == filters


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(mode="CMYK"), "mode must be one of"),
        (dict(interpolation="area"), "interpolation must be one of"),
        (dict(size=0), "size must be"),
        (dict(size=(4, 0)), "size must be"),
        (dict(size=(4, 4, 3)), "size must be"),
        (dict(size="big"), "size must be"),
        (dict(size=True), "size must be"),
    ],
)
def test_invalid_parameters_raise(tmp_path, params, match):
    """Check that invalid mode, interpolation or size raise ValueError before reading."""
    with pytest.raises(ValueError, match=match):
        open_image(tmp_path / "absent.png", **params)


def test_path_of_wrong_type_raises_type_error():
    """Check that a path that is neither str nor os.PathLike raises TypeError."""
    with pytest.raises(TypeError):
        open_image(3)


def test_function_and_error_pickle():
    """Check that open_image and ImageReadError survive pickling, for DataLoader workers."""
    assert pickle.loads(pickle.dumps(open_image)) is open_image
    error = pickle.loads(pickle.dumps(ImageReadError("Cannot read image 'a.jpg': x.")))
    assert isinstance(error, ImageReadError) and str(error) == "Cannot read image 'a.jpg': x."


class _Files(torch.utils.data.Dataset):
    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return torch.from_numpy(open_image(self.paths[i], size=(4, 4)))


def test_decodes_in_dataloader_worker_processes(tmp_path):
    """Check that open_image decodes in DataLoader workers, even forked while a thread decodes."""
    paths = [_save(tmp_path / f"{i}.png", Image.fromarray(_rgb(seed=i))) for i in range(8)]
    expected = torch.stack([torch.from_numpy(open_image(p, size=(4, 4))) for p in paths])
    stop = threading.Event()

    def decode_until_stopped():
        while not stop.is_set():
            open_image(paths[0])

    thread = threading.Thread(target=decode_until_stopped)
    thread.start()
    try:
        loader = torch.utils.data.DataLoader(
            _Files(paths), batch_size=4, num_workers=2, timeout=60
        )
        batches = list(loader)
    finally:
        stop.set()
        thread.join()
    torch.testing.assert_close(torch.cat(batches), expected)


def test_read_image_size_reads_header_only(tmp_path):
    """Check that read_image_size gives (height, width) even of a truncated file."""
    path = _truncated(tmp_path, "cut.jpg", "JPEG")
    assert read_image_size(path) == (64, 80)
    with pytest.raises(ImageReadError, match="does not exist"):
        read_image_size(tmp_path / "absent.jpg")
