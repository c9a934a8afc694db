"""Tests of the ONNX export (sk_imgcls._onnx): parity with predict_proba under onnxruntime."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from sk_imgcls import CNNClassifier, PretrainedFeatures, TransferClassifier
from sk_imgcls._onnx_steps import resize
from sk_imgcls.preprocessing import ImageReshaper

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
from sk_imgcls._onnx import register_converters, to_onnx  # noqa: E402


def _run(model, X):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": X})


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize(
    "shape, size", [((375, 500), (329, 438)), ((500, 375), (100, 75)), ((8, 8), (16, 16)), ((31, 17), (31, 40))]
)
def test_graph_resize_matches_torchvision(interpolation, shape, size):
    """Check that the exportable resize gives torchvision's pixels: uint8 exactly, float to rounding."""
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (2, 3, *shape), dtype=np.uint8))
    mode = InterpolationMode(interpolation)
    expected = F.resize(images, list(size), interpolation=mode, antialias=True)
    assert torch.equal(resize(images, size, interpolation), expected)
    floats = images.float() / 255
    expected = F.resize(floats, list(size), interpolation=mode, antialias=True)
    torch.testing.assert_close(resize(floats, size, interpolation), expected, atol=2e-6, rtol=0)


def test_digits_pipeline_parity(digits_images):
    """Check that ImageReshaper + CNNClassifier gives predict's labels and probabilities in onnxruntime."""
    X, y = digits_images
    X = X.reshape(len(X), -1)
    pipe = make_pipeline(ImageReshaper((8, 8)), CNNClassifier(max_epochs=3, random_state=0))
    pipe.fit(X[:1000], y[:1000])
    label, proba = _run(to_onnx(pipe, X[:1]), X[1000:])
    assert np.array_equal(label, pipe.predict(X[1000:]))
    diff = np.abs(proba - pipe.predict_proba(X[1000:])).max()
    print(f"digits: max |proba difference| = {diff:.3g}")
    assert diff <= 1e-4


def test_dynamic_size_string_labels_and_tta():
    """Check that a resizing CNN takes images of any size and returns its string labels, with tta."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (16, 30, 40, 3), dtype=np.uint8)
    y = np.array(["cat", "dog"] * 8)
    clf = CNNClassifier(image_size=12, width=8, max_epochs=1, tta="flip_crop", random_state=0)
    clf.fit(X, y)
    model = to_onnx(clf, X[:1])
    for shape in [(3, 30, 40, 3), (2, 57, 21, 3)]:
        images = rng.integers(0, 256, shape, dtype=np.uint8)
        label, proba = _run(model, images)
        assert label.dtype.kind in "OU" and label.tolist() == clf.predict(images).tolist()
        assert np.abs(proba - clf.predict_proba(images)).max() <= 1e-4


@pytest.mark.filterwarnings("ignore:.*as an image 1 pixel high:UserWarning")
@pytest.mark.parametrize("name", ["CNNClassifier", "TransferClassifier"])
def test_rows_of_features_get_no_tta_in_the_graph(name):
    """Check that a model fitted on 2-D rows exports predict_proba's no-TTA rule for rows."""
    rng = np.random.default_rng(0)
    y = np.arange(24) % 2
    X = (rng.normal(size=(24, 6)) + 2.0 * y[:, None]).astype(np.float32)
    if name == "CNNClassifier":
        clf = CNNClassifier(width=4, max_epochs=1, tta="flip_crop", random_state=0)
    else:
        clf = TransferClassifier(
            "timm/test_efficientnet", weights=None, image_size=16, max_epochs=1, random_state=0
        )
        assert clf.tta == "flip"
    clf.fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(proba, clone_fitted_without_tta(clf).predict_proba(X))
    _, exported = _run(to_onnx(clf, X[:1]), X)
    assert np.abs(exported - proba).max() <= 1e-4


def clone_fitted_without_tta(clf):
    import copy

    return copy.deepcopy(clf).set_params(tta=None)


def test_transfer_photo_parity(hymenoptera, photo_paths):
    """Check TransferClassifier's default backbone on ants/bees photos: onnxruntime matches predict_proba."""
    from sk_imgcls._image_io import open_image
    from sk_imgcls.datasets import load_image_folder

    paths, labels = photo_paths
    clf = TransferClassifier(max_epochs=1, random_state=0).fit(paths, labels)
    val_paths, _ = load_image_folder(hymenoptera / "val")
    keep = np.r_[0:5, len(val_paths) - 5 : len(val_paths)]
    photos = [open_image(path)[None] for path in val_paths[keep]]
    session = ort.InferenceSession(to_onnx(clf, photos[0]).SerializeToString())
    diffs = []
    for photo in photos:
        label, proba = session.run(None, {"X": photo})
        assert label.tolist() == clf.predict(photo).tolist()
        diffs.append(np.abs(proba - clf.predict_proba(photo)).max())
    print(f"ants/bees: max |proba difference| = {max(diffs):.3g} over {len(photos)} photos")
    assert max(diffs) <= 1e-4


def test_skl2onnx_pretrained_features_then_logistic_regression():
    """Check that skl2onnx.to_onnx converts PretrainedFeatures followed by LogisticRegression."""
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (10, 40, 40, 3), dtype=np.uint8)
    y = np.array([3, 7] * 5)
    features = PretrainedFeatures("resnet18", weights=None, image_size=32, random_state=0)
    pipe = make_pipeline(features, LogisticRegression()).fit(X, y)
    register_converters()
    model = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    label, proba = _run(model, X)
    assert np.array_equal(label, pipe.predict(X))
    assert np.abs(proba - pipe.predict_proba(X)).max() <= 1e-4


def test_unfitted_estimator_is_refused():
    """Check that exporting an unfitted estimator raises NotFittedError."""
    with pytest.raises(NotFittedError):
        to_onnx(CNNClassifier(), np.zeros((1, 8, 8)))


def test_pipeline_step_without_converter_is_named(digits_images):
    """Check that a Pipeline step with no converter is named in the error."""
    X, y = digits_images
    pipe = Pipeline([("scale", FunctionTransformer()), ("cnn", CNNClassifier(max_epochs=1))])
    pipe.fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="step 'scale' \\(FunctionTransformer\\)"):
        to_onnx(pipe, X[:1])


class _EighNet(torch.nn.Module):
    """A network with an operator ONNX has no function for (an eigendecomposition)."""

    def forward(self, x):
        v = x.float().flatten(1)[:, :2]
        return torch.linalg.eigh(v[:, :, None] * v[:, None, :])[0]


def test_operator_onnx_cannot_express_is_named(digits_images):
    """Check that a network using an operator without ONNX translation fails naming the operator."""
    X, y = digits_images
    clf = CNNClassifier(max_epochs=1, width=4).fit(X[:100], y[:100] % 2)
    clf.module_ = _EighNet()  # a user's network with an unexportable operator
    with pytest.raises(ValueError, match="ONNX cannot express.*linalg_eigh"):
        to_onnx(clf, X[:1])
