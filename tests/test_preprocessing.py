"""Tests for the image transformers of sk_imgcls.preprocessing."""

import re

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from numpydoc.docscrape import ClassDoc
from sklearn.base import clone
from sklearn.datasets import load_digits, load_sample_images
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC
from sklearn.utils._param_validation import InvalidParameterError
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from sk_imgcls import preprocessing
from sk_imgcls.preprocessing import (
    CenterCrop,
    Flatten,
    Grayscale,
    ImageReshaper,
    Rescale,
    Resize,
)

# The transformers of image arrays; ImageLoader takes file paths and has its
# own tests in test_image_loader.py.
TRANSFORMERS = [
    getattr(preprocessing, name) for name in preprocessing.__all__ if name != "ImageLoader"
]


@pytest.fixture(scope="module")
def photos():
    """The two RGB photos of scikit-learn, uint8, shape (2, 427, 640, 3)."""
    return np.stack(load_sample_images().images)


def _chw(image):
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)


def _hwc(tensor):
    return tensor.permute(1, 2, 0).numpy()


@pytest.mark.parametrize("interpolation", ["nearest", "nearest-exact", "bilinear", "bicubic"])
@pytest.mark.parametrize("size", [(64, 96), (500, 700), 50])
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_matches_torchvision_on_photos(photos, interpolation, size, antialias):
    """Check that Resize gives torchvision's resize of each photo, pixel for pixel."""
    resized = Resize(size, interpolation=interpolation, antialias=antialias).fit_transform(photos)
    assert resized.dtype == np.uint8
    for photo, out in zip(photos, resized):
        expected = F.resize(
            _chw(photo),
            size,
            interpolation=InterpolationMode(interpolation),
            antialias=antialias,
        )
        np.testing.assert_array_equal(out, _hwc(expected))


def test_resize_int_size_sets_the_shorter_side(photos):
    """Check that an int size resizes the shorter side and keeps the aspect ratio."""
    assert Resize(100).fit_transform(photos).shape == (2, 100, int(100 * 640 / 427), 3)
    assert Resize(100).fit_transform(photos.transpose(0, 2, 1, 3)).shape == (2, 149, 100, 3)


def test_resize_float_images_matches_torchvision_in_their_precision(photos):
    """Check that float64 photos are resized in float64, as torchvision does."""
    X = photos[:1] / 255.0
    out = Resize((50, 60), interpolation="bicubic").fit_transform(X)
    assert out.dtype == np.float64
    expected = F.resize(_chw(X[0]), [50, 60], interpolation=InterpolationMode.BICUBIC)
    np.testing.assert_array_equal(out[0], _hwc(expected))


@pytest.mark.parametrize("size", [(300, 500), (427, 640), 101, (600, 700), (10, 700)])
def test_center_crop_matches_torchvision_on_photos(photos, size):
    """Check that CenterCrop gives torchvision's center_crop, padding included."""
    cropped = CenterCrop(size).fit_transform(photos)
    for photo, out in zip(photos, cropped):
        np.testing.assert_array_equal(out, _hwc(F.center_crop(_chw(photo), size)))


def test_center_crop_pads_smaller_images_with_zeros():
    """Check that an image smaller than the crop sits in the center of a zero border."""
    X = np.arange(1, 7, dtype=np.uint8).reshape(1, 2, 3)
    out = CenterCrop((4, 5)).fit_transform(X)
    expected = np.zeros((1, 4, 5), dtype=np.uint8)
    expected[0, 1:3, 1:4] = X[0]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("num_output_channels", [1, 3])
def test_grayscale_matches_torchvision_on_photos(photos, num_output_channels):
    """Check that Grayscale gives torchvision's rgb_to_grayscale of each photo."""
    gray = Grayscale(num_output_channels=num_output_channels).fit_transform(photos)
    assert gray.shape == (2, 427, 640, num_output_channels)
    assert gray.dtype == np.uint8
    for photo, out in zip(photos, gray):
        expected = F.rgb_to_grayscale(_chw(photo), num_output_channels=num_output_channels)
        np.testing.assert_array_equal(out, _hwc(expected))
    assert np.ptp(gray[0].astype(int), axis=-1).max() == 0


def test_grayscale_passes_single_channel_images_through():
    """Check that gray images come back unchanged, or repeated on 3 channels."""
    X = load_digits().images[:5]
    np.testing.assert_array_equal(Grayscale().fit_transform(X), X)
    np.testing.assert_array_equal(
        Grayscale(num_output_channels=3).fit_transform(X), np.repeat(X[..., None], 3, axis=-1)
    )


@pytest.mark.parametrize("n_channels", [2, 4])
def test_grayscale_rejects_images_without_1_or_3_channels(n_channels):
    """Check that RGBA or 2-channel images raise a ValueError naming the channels."""
    X = np.zeros((2, 5, 5, n_channels), dtype=np.uint8)
    with pytest.raises(ValueError, match=rf"1 channel or 3 \(RGB\).*\(5, 5, {n_channels}\)"):
        Grayscale().fit(X)
    with pytest.raises(ValueError, match="1 channel or 3"):
        Grayscale().transform(X)


def test_rescale_maps_uint8_to_float32_in_unit_range(photos):
    """Check that uint8 values become float32 values / 255, as torchvision's to_dtype."""
    out = Rescale().fit_transform(photos)
    assert out.dtype == np.float32 and out.shape == photos.shape
    assert out.min() == 0.0 and out.max() == 1.0
    np.testing.assert_allclose(out, photos / 255.0, rtol=1e-6)
    expected = F.to_dtype(torch.from_numpy(photos), torch.float32, scale=True).numpy()
    np.testing.assert_array_equal(out, expected)


def test_rescale_casts_floats_to_float32_without_scaling():
    """Check that float input is cast to float32 and keeps its values."""
    X = load_digits().images[:10]
    out = Rescale().fit_transform(X)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, X.astype(np.float32))


def test_rescale_keeps_the_shape_of_flat_rows():
    """Check that Rescale returns 2-D X as 2-D: it changes values, not layout."""
    X = np.array([[0, 255, 51]], dtype=np.uint8)
    np.testing.assert_allclose(Rescale().fit_transform(X), [[0.0, 1.0, 0.2]], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
def test_rescale_rejects_integer_dtypes_without_a_known_maximum(dtype):
    """Check that uint32 and uint64, which torchvision would not scale, raise."""
    X = np.ones((2, 3, 3), dtype=dtype)
    with pytest.raises(ValueError, match=f"cannot scale {np.dtype(dtype).name} values"):
        Rescale().fit(X)
    with pytest.raises(ValueError, match="cannot scale"):
        Rescale().transform(X)


@pytest.mark.parametrize(
    "image_shape, shape",
    [((8, 8), (8, 8)), ([8, 8], (8, 8)), ((8, 8, 1), (8, 8, 1)), ((4, 8, 2), (4, 8, 2))],
)
def test_image_reshaper_reads_rows_through_image_shape(image_shape, shape):
    """Check that each row becomes X.reshape(n_samples, *image_shape)."""
    X = load_digits().data[:20]
    reshaper = ImageReshaper(image_shape).fit(X)
    out = reshaper.transform(X)
    np.testing.assert_array_equal(out, X.reshape(20, *shape))
    assert reshaper.image_shape_ == (shape + (1,))[:3] and reshaper.n_features_in_ == 64


def test_image_reshaper_without_image_shape_reads_rows_as_1_by_n_images():
    """Check that image_shape=None gives images of height 1 and width n_features."""
    X = load_digits().data[:20]
    out = ImageReshaper().fit_transform(X)
    assert out.shape == (20, 1, 64)
    np.testing.assert_array_equal(out[:, 0], X)


@pytest.mark.parametrize("image_shape", [(8, 7), (8, 8, 3), (4, 4, 2)])
def test_image_reshaper_rejects_image_shape_not_matching_n_features(image_shape):
    """Check that the error names both image_shape and the number of features."""
    X = load_digits().data[:5]
    n_values = int(np.prod(image_shape))
    with pytest.raises(ValueError, match=rf"{n_values} values .* 64 features"):
        ImageReshaper(image_shape).fit(X)
    with pytest.raises(ValueError, match=re.escape(f"image_shape={image_shape!r}")):
        ImageReshaper(image_shape).transform(X)


@pytest.mark.parametrize("image_shape", [(8,), (8, 8, 1, 1), (0, 64), (8.0, 8)])
def test_image_reshaper_rejects_malformed_image_shape(image_shape):
    """Check that image_shape must be 2 or 3 positive ints."""
    with pytest.raises(ValueError, match="image_shape must be"):
        ImageReshaper(image_shape).fit(load_digits().data[:5])


def test_image_reshaper_passes_images_of_image_shape_and_rejects_others():
    """Check that 3-D/4-D X is returned as is when it has the shape of image_shape."""
    images = load_digits().images[:5]
    np.testing.assert_array_equal(ImageReshaper((8, 8)).fit_transform(images), images)
    np.testing.assert_array_equal(ImageReshaper().fit_transform(images), images)
    with pytest.raises(ValueError, match=r"images of shape \(8, 8, 1\).*image_shape=\(4, 16\)"):
        ImageReshaper((4, 16)).fit(images)


def test_flatten_inverts_image_reshaper():
    """Check that Flatten gives back the rows ImageReshaper read, channels last."""
    X = np.random.RandomState(0).randint(0, 256, size=(6, 48)).astype(np.uint8)
    images = ImageReshaper((4, 4, 3)).fit_transform(X)
    np.testing.assert_array_equal(images[:, 1, 2], X[:, 18:21])
    flat = Flatten().fit_transform(images)
    assert flat.dtype == np.uint8
    np.testing.assert_array_equal(flat, X)


def test_flatten_feature_names_follow_dataframe_columns():
    """Check that Flatten names its columns after a DataFrame's, else x0, x1, ..."""
    frame = load_digits(as_frame=True).data.iloc[:10]
    flatten = Flatten().fit(frame)
    np.testing.assert_array_equal(flatten.get_feature_names_out(), frame.columns)
    out = Flatten().set_output(transform="pandas").fit_transform(frame)
    assert list(out.columns) == list(frame.columns)
    names = Flatten().fit(load_digits().images[:3]).get_feature_names_out()
    assert list(names[:2]) == ["x0", "x1"] and len(names) == 64


def test_pipeline_of_reshaper_flatten_and_svc_learns_digits():
    """Check that ImageReshaper -> Flatten -> SVC classifies digits like SVC on the rows."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    pipe = make_pipeline(ImageReshaper((8, 8)), Flatten(), SVC()).fit(X_train, y_train)
    assert pipe.score(X_test, y_test) > 0.97
    svc = SVC().fit(X_train, y_train)
    np.testing.assert_array_equal(pipe.predict(X_test), svc.predict(X_test))
    pipe = make_pipeline(ImageReshaper((8, 8)), Resize((16, 16)), Flatten(), SVC())
    assert pipe.fit(X_train, y_train).score(X_test, y_test) > 0.95


@pytest.mark.parametrize("transformer", [Resize((5, 6)), CenterCrop((5, 6)), Grayscale()])
def test_single_channel_output_is_3d_unless_x_was_4d(transformer):
    """Check that one output channel gives (n, h, w) for 2-D/3-D X and (n, h, w, 1) for 4-D X."""
    images = load_digits().images[:4]
    flat_rows = clone(transformer).fit_transform(images.reshape(4, -1))
    assert flat_rows.ndim == 3 and flat_rows.shape[1] in (1, 5)
    assert clone(transformer).fit_transform(images).ndim == 3
    out = clone(transformer).fit_transform(images[..., None])
    assert out.ndim == 4 and out.shape[3] == 1
    np.testing.assert_array_equal(out[..., 0], clone(transformer).fit_transform(images))


@pytest.mark.parametrize("Transformer", [ImageReshaper, Resize, CenterCrop, Grayscale, Flatten])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_transformers_preserve_the_dtype(Transformer, dtype):
    """Check that uint8 stays uint8 and float32/float64 keep their precision."""
    X = np.random.RandomState(0).randint(0, 256, size=(3, 9, 7, 3)).astype(dtype)
    assert Transformer().fit_transform(X).dtype == dtype
    assert dtype.__name__ in Transformer().__sklearn_tags__().transformer_tags.preserves_dtype


@pytest.mark.parametrize("Transformer", TRANSFORMERS)
def test_transform_works_without_fit(Transformer):
    """Check that every transformer is stateless: transform needs no fit."""
    X = load_digits().images[:3]
    transformer = Transformer()
    assert not transformer.__sklearn_tags__().requires_fit
    np.testing.assert_array_equal(transformer.transform(X), Transformer().fit_transform(X))


@pytest.mark.parametrize("Transformer", TRANSFORMERS)
def test_transform_rejects_images_of_another_shape_than_fit(Transformer):
    """Check that images of another height or width than in fit raise."""
    transformer = Transformer().fit(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match=r"images of shape \(4, 16, 1\).*\(8, 8, 1\)"):
        transformer.transform(np.zeros((2, 4, 16)))


_BAD_INPUTS = {
    "nan": (np.full((2, 4, 4), np.nan), ValueError, "NaN"),
    "inf": (np.full((2, 4, 4, 3), np.inf), ValueError, "infinity"),
    "1-D": (np.zeros(16), ValueError, "Expected 2D array"),
    "5-D": (np.zeros((2, 4, 4, 3, 1)), ValueError, "2, 3 or 4 dimensions"),
    "channels-first": (np.zeros((2, 3, 8, 8)), ValueError, "channels-first"),
    "sparse": (sp.csr_matrix(np.ones((2, 16))), TypeError, "sparse"),
    "complex": (np.ones((2, 4, 4), dtype=complex), ValueError, "Complex data not supported"),
    "no samples": (np.zeros((0, 4, 4)), ValueError, "0 sample"),
    "no pixels": (np.zeros((2, 0, 4)), ValueError, "0 feature"),
    "strings": (np.full((2, 4, 4), "a"), ValueError, "dtype='numeric' is not compatible"),
}


@pytest.mark.parametrize("case", list(_BAD_INPUTS))
@pytest.mark.parametrize("Transformer", TRANSFORMERS)
def test_bad_input_raises_in_fit_and_transform(Transformer, case):
    """Check that invalid images raise the documented error in fit and in transform."""
    X, error, message = _BAD_INPUTS[case]
    with pytest.raises(error, match=message):
        Transformer().fit(X)
    with pytest.raises(error, match=message):
        Transformer().transform(X)


@pytest.mark.parametrize(
    "transformer, message",
    [
        (Resize(interpolation="lanczos"), "interpolation"),
        (Resize(size=0), "size"),
        (Resize(antialias="yes"), "antialias"),
        (CenterCrop(size=-2), "size"),
        (CenterCrop(size="big"), "size"),
        (Grayscale(num_output_channels=2), "num_output_channels"),
        (ImageReshaper(image_shape="8x8"), "image_shape"),
    ],
)
def test_invalid_parameters_raise_in_fit(transformer, message):
    """Check that parameter constraints are enforced by fit."""
    with pytest.raises(InvalidParameterError, match=message):
        transformer.fit(load_digits().images[:2])


@pytest.mark.parametrize("Transformer", [Resize, CenterCrop])
@pytest.mark.parametrize("size", [(8,), (8, 8, 3), (8, 0), (8, 2.5), (True, 4)])
def test_size_must_be_an_int_or_a_pair_of_ints(Transformer, size):
    """Check that a malformed size raises in fit and in transform."""
    X = load_digits().images[:2]
    with pytest.raises(ValueError, match=r"size must be a positive int or a \(height, width\)"):
        Transformer(size).fit(X)
    with pytest.raises(ValueError, match="size must be"):
        Transformer(size).transform(X)


@pytest.mark.parametrize(
    "transformer",
    # Defaults, and the settings where torchvision returns its input as is.
    [Transformer() for Transformer in TRANSFORMERS] + [Resize((40, 50)), CenterCrop((40, 50))],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_inputs_are_never_modified_nor_shared_with_outputs(transformer, dtype, photos):
    """Check that X is left as it was, even after the output is overwritten."""
    X = photos[:, :40, :50].astype(dtype)
    X_before = X.copy()
    out = clone(transformer).fit_transform(X)
    np.testing.assert_array_equal(X, X_before)
    assert not np.shares_memory(out, X)
    out[...] = 0
    np.testing.assert_array_equal(X, X_before)


@pytest.mark.parametrize("Transformer", TRANSFORMERS)
def test_read_only_big_endian_and_list_inputs_give_the_same_output(Transformer):
    """Check that read-only, big-endian, Fortran-ordered and list inputs are all accepted."""
    X = np.random.RandomState(0).randint(0, 256, size=(3, 6, 5, 3)).astype(np.float64)
    expected = Transformer().fit_transform(X)
    read_only = X.copy()
    read_only.flags.writeable = False
    for variant in [read_only, X.astype(">f8"), np.asfortranarray(X), X.tolist()]:
        np.testing.assert_array_equal(Transformer().fit_transform(variant), expected)


def test_every_fitted_attribute_is_documented():
    """Check that each attribute set by fit appears under Attributes in the docstring."""
    frame = load_digits(as_frame=True).data.iloc[:5]
    for Transformer in TRANSFORMERS:
        transformer = Transformer().fit(frame)
        fitted = {a for a in vars(transformer) if a.endswith("_") and not a.startswith("_")}
        documented = {attr.name for attr in ClassDoc(Transformer)["Attributes"]}
        assert fitted == {"n_features_in_", "feature_names_in_", "image_shape_"}
        assert fitted <= documented, Transformer.__name__
