"""Tests of sk_imgcls.inspection: training curves, top losses, Grad-CAM and the LR finder."""

import copy
import sys

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.exceptions import NotFittedError

from sk_imgcls import CNNClassifier, TransferClassifier
from sk_imgcls.inspection import (
    GradCAMDisplay,
    LRFinderDisplay,
    TopLossesDisplay,
    TrainingCurveDisplay,
    grad_cam,
    lr_find,
    top_losses,
)

pytest.importorskip("pytorch_grad_cam")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# -- synthetic images whose class only a small patch decides -----------------


def patch_images(n_samples, *, size, patch, n_channels, seed, margin=0):
    """Gray noise images; class 1 has a bright ``patch`` x ``patch`` square at a random place.

    Returns the images (n, size, size, n_channels) uint8, the labels and, per
    image, the box (top, left, bottom, right) where the patch is (or would be).
    """
    rng = np.random.RandomState(seed)
    X = rng.randint(64, 192, size=(n_samples, size, size, n_channels)).astype(np.uint8)
    y = rng.randint(0, 2, n_samples)
    boxes = np.zeros((n_samples, 4), dtype=int)
    for i in range(n_samples):
        top, left = rng.randint(margin, size - patch - margin + 1, size=2)
        boxes[i] = top, left, top + patch, left + patch
        if y[i] == 1:
            X[i, top : top + patch, left : left + patch] = 255
    return X, y, boxes


def mass_in_boxes(heatmaps, boxes):
    """Share of each heatmap's total in its box: ndarray (n_samples,)."""
    return np.array(
        [h[t:b, l:r].sum() / h.sum() for h, (t, l, b, r) in zip(heatmaps, boxes)]
    )


def reinitialized(estimator, seed=0):
    """A copy of a fitted estimator whose network weights are drawn afresh (Adebayo et al.)."""
    randomized = copy.deepcopy(estimator)
    torch.manual_seed(seed)
    for layer in randomized.module_.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
        if hasattr(layer, "reset_running_stats"):
            layer.reset_running_stats()
    return randomized


def mean_spearman(heatmaps, others):
    return float(np.mean([spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(heatmaps, others)]))


@pytest.fixture(scope="module")
def patch_cnn():
    """A CNNClassifier trained on 48x48 patch images resized to 64x64, and held-out patch images."""
    X, y, _ = patch_images(400, size=48, patch=12, n_channels=1, seed=0)
    X_test, y_test, boxes = patch_images(200, size=48, patch=12, n_channels=1, seed=1)
    clf = CNNClassifier(
        depth=2, width=16, image_size=64, lr=3e-3, max_epochs=6, horizontal_flip=False,
        random_state=0,
    ).fit(X, y)
    return clf, X_test, y_test, boxes


@pytest.fixture(scope="module")
def patch_transfer():
    """The default TransferClassifier (a linear probe on ImageNet-pretrained EfficientNet-Lite0)
    on 128x128 RGB patch images."""
    X, y, _ = patch_images(300, size=128, patch=32, n_channels=3, seed=0, margin=8)
    X_test, y_test, boxes = patch_images(60, size=128, patch=32, n_channels=3, seed=1, margin=8)
    clf = TransferClassifier(
        image_size=128, max_epochs=4, augment=None, tta=None, random_state=0
    ).fit(X, y)
    return clf, X_test, y_test, boxes


def test_grad_cam_of_cnn_falls_on_the_patch(patch_cnn):
    """Check that a CNNClassifier's heatmaps put most of their mass on the patch that decides."""
    clf, X, y, boxes = patch_cnn
    assert clf.score(X, y) >= 0.95
    has_patch = y == 1
    heatmaps = grad_cam(clf, X[has_patch], target=1)
    assert heatmaps.shape == (has_patch.sum(), 48, 48)
    mass = mass_in_boxes(heatmaps, boxes[has_patch])
    print(f"CNNClassifier: mean heatmap mass in the patch {mass.mean():.3f}")
    # The patch covers 1/16 of the image.
    assert mass.mean() >= 0.6


def test_grad_cam_of_cnn_changes_with_random_weights(patch_cnn):
    """Check Adebayo et al.'s sanity check: re-initialized weights give unrelated heatmaps."""
    clf, X, y, _ = patch_cnn
    trained = grad_cam(clf, X[y == 1], target=1)
    randomized = grad_cam(reinitialized(clf), X[y == 1], target=1)
    rho = mean_spearman(trained, randomized)
    print(f"CNNClassifier: Spearman rank correlation trained vs random weights {rho:.3f}")
    assert rho < 0.5


# The stage of stride 16 (8x8 at 128 pixels); the last one is 4x4, too coarse
# for a patch of a quarter of the side.
LAYER = "features.backbone.blocks.4"


@pytest.mark.slow
def test_grad_cam_of_transfer_falls_on_the_patch(patch_transfer):
    """Check that TransferClassifier heatmaps, mapped back through the crop, fall on the patch."""
    clf, X, y, boxes = patch_transfer
    assert clf.score(X, y) >= 0.95
    has_patch = y == 1
    heatmaps = grad_cam(clf, X[has_patch], target=1, layer=LAYER)
    assert heatmaps.shape == (has_patch.sum(), 128, 128)
    mass = mass_in_boxes(heatmaps, boxes[has_patch])
    print(f"TransferClassifier: mean heatmap mass in the patch {mass.mean():.3f}")
    assert mass.mean() >= 0.6


@pytest.mark.slow
def test_grad_cam_of_transfer_changes_with_random_weights(patch_transfer):
    """Check the model-randomization sanity check on a TransferClassifier."""
    clf, X, y, _ = patch_transfer
    trained = grad_cam(clf, X[y == 1], target=1, layer=LAYER)
    randomized = grad_cam(reinitialized(clf), X[y == 1], target=1, layer=LAYER)
    rho = mean_spearman(trained, randomized)
    print(f"TransferClassifier: Spearman rank correlation trained vs random weights {rho:.3f}")
    assert rho < 0.5


# -- Grad-CAM mechanics --------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_cnn():
    """A CNNClassifier fitted for one epoch on 24 random 20x20 images of labels "a", "b"."""
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(24, 20, 20)).astype(np.uint8)
    y = np.array(["a", "b"] * 12)
    return CNNClassifier(max_epochs=1, random_state=0).fit(X, y), X, y


def test_grad_cam_returns_unit_range_maps_of_the_input_size(tiny_cnn):
    """Check that heatmaps have the images' shape and values in [0, 1]."""
    clf, X, _ = tiny_cnn
    heatmaps = grad_cam(clf, X[:5], target="b", batch_size=2)
    assert heatmaps.shape == (5, 20, 20) and heatmaps.dtype == np.float32
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1


def test_grad_cam_leaves_the_fitted_network_unchanged(tiny_cnn):
    """Check that grad_cam neither trains nor hooks nor unfreezes ``module_``."""
    clf, X, _ = tiny_cnn
    before = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    proba = clf.predict_proba(X)
    grad_cam(clf, X[:4])
    after = clf.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(m._forward_hooks for m in clf.module_.modules())
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_grad_cam_maps_photos_back_to_their_own_size(photo_paths):
    """Check that heatmaps of photos of various sizes come back at each photo's size."""
    from PIL import Image

    paths, labels = photo_paths
    clf = TransferClassifier(
        "resnet18", weights=None, image_size=32, max_epochs=1, augment=None, tta=None,
        random_state=0,
    ).fit(paths, labels)
    heatmaps = grad_cam(clf, paths[:3], layer="features.backbone.layer3")
    sizes = [Image.open(p).size[::-1] for p in paths[:3]]
    assert [h.shape for h in heatmaps] == sizes
    from_pil = grad_cam(clf, [Image.open(p) for p in paths[:3]], layer="features.backbone.layer3")
    for a, b in zip(heatmaps, from_pil):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_grad_cam_on_unfitted_estimator_raises():
    """Check that grad_cam on an unfitted estimator raises NotFittedError."""
    with pytest.raises(NotFittedError):
        grad_cam(CNNClassifier(), np.zeros((2, 8, 8)))


def test_grad_cam_unknown_layer_lists_candidates(tiny_cnn):
    """Check that an unknown layer name raises a ValueError listing the candidate layers."""
    clf, X, _ = tiny_cnn
    expected = r"layer='layer4'.*Candidate layers.*'features.0', 'features.1'"
    with pytest.raises(ValueError, match=expected):
        grad_cam(clf, X[:2], layer="layer4")


def test_grad_cam_target_not_a_class_raises(tiny_cnn):
    """Check that a target label outside ``classes_`` raises a ValueError naming the classes."""
    clf, X, _ = tiny_cnn
    with pytest.raises(ValueError, match=r"target holds labels \['c'\].*\['a', 'b'\]"):
        grad_cam(clf, X[:2], target="c")
    with pytest.raises(ValueError, match="one label per sample"):
        grad_cam(clf, X[:2], target=["a", "b", "a"])


def test_grad_cam_needs_a_classifier_of_the_package(tiny_cnn):
    """Check that a fitted estimator without a network is rejected with a TypeError."""
    from sklearn.linear_model import LogisticRegression

    clf, X, y = tiny_cnn
    logistic = LogisticRegression().fit(X.reshape(len(X), -1), y)
    with pytest.raises(TypeError, match="CNNClassifier or TransferClassifier"):
        grad_cam(logistic, X.reshape(len(X), -1))


# -- top losses ----------------------------------------------------------------


def test_top_losses_are_the_largest_cross_entropies(tiny_cnn):
    """Check that top_losses returns the k highest -log p(true class), highest first."""
    clf, X, y = tiny_cnn
    result = top_losses(clf, X, y, k=5)
    proba = clf.predict_proba(X)
    losses = -np.log(proba[np.arange(len(y)), np.searchsorted(clf.classes_, y)])
    np.testing.assert_allclose(result.loss, np.sort(losses)[::-1][:5])
    np.testing.assert_allclose(result.loss, losses[result.index])
    np.testing.assert_array_equal(result.y_true, y[result.index])
    np.testing.assert_array_equal(result.y_pred, clf.predict(X)[result.index])
    np.testing.assert_allclose(result.proba_true, np.exp(-result.loss))
    assert result.path is None


def test_top_losses_keep_the_paths(photo_paths):
    """Check that top_losses on file paths returns the path of each sample."""
    paths, labels = photo_paths
    clf = CNNClassifier(image_size=16, max_epochs=1, random_state=0).fit(paths, labels)
    result = top_losses(clf, paths, labels, k=3)
    np.testing.assert_array_equal(result.path, paths[result.index])
    display = TopLossesDisplay.from_estimator(clf, paths, labels, k=3)
    name = paths[result.index[0]].rsplit("/", 1)[-1]
    assert name[:12] in display.ax_[0].get_title()


def test_top_losses_k_larger_than_n_samples_raises(tiny_cnn):
    """Check that k larger than n_samples raises a ValueError."""
    clf, X, y = tiny_cnn
    with pytest.raises(ValueError, match="k=25 is larger than the number of samples, 24"):
        top_losses(clf, X, y, k=25)


def test_top_losses_unknown_label_raises(tiny_cnn):
    """Check that labels outside ``classes_`` raise a ValueError."""
    clf, X, y = tiny_cnn
    with pytest.raises(ValueError, match=r"labels \['z'\]"):
        top_losses(clf, X[:2], ["a", "z"], k=1)


def test_top_losses_display_from_predictions_matches_from_estimator(tiny_cnn):
    """Check that from_predictions draws the same samples as from_estimator."""
    clf, X, y = tiny_cnn
    a = TopLossesDisplay.from_estimator(clf, X, y, k=4)
    b = TopLossesDisplay.from_predictions(X, y, clf.predict_proba(X), classes=clf.classes_, k=4)
    np.testing.assert_array_equal(a.result.index, b.result.index)
    assert len(b.ax_) == 4 and b.figure_ is b.ax_[0].figure


# -- training curves -------------------------------------------------------------


def test_training_curve_marks_the_epoch_of_lowest_validation_loss():
    """Check that the curves come from history_ and the best epoch has the lowest valid loss."""
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(40, 12, 12)).astype(np.uint8)
    clf = CNNClassifier(
        max_epochs=4, early_stopping=True, n_iter_no_change=10, validation_fraction=0.25,
        random_state=0,
    ).fit(X, [0, 1] * 20)
    display = TrainingCurveDisplay.from_estimator(clf)
    np.testing.assert_allclose(display.train_loss, clf.history_[:, "train_loss"])
    np.testing.assert_allclose(display.valid_acc, clf.history_[:, "valid_acc"])
    assert display.best_epoch_ == 1 + int(np.argmin(clf.history_[:, "valid_loss"]))
    assert display.ax_accuracy_ is not None and display.ax_ is not display.ax_accuracy_
    _, ax = plt.subplots()
    twin = TrainingCurveDisplay.from_estimator(clf, ax=ax)
    assert twin.ax_ is ax and twin.ax_accuracy_.get_shared_x_axes().joined(ax, twin.ax_accuracy_)


def test_training_curve_without_validation_has_train_loss_only(tiny_cnn):
    """Check that a history without validation draws the training loss alone."""
    clf, _, _ = tiny_cnn
    display = TrainingCurveDisplay.from_estimator(clf)
    assert display.valid_loss is None and display.ax_accuracy_ is None
    assert display.best_epoch_ == 1


def test_training_curve_of_unfitted_estimator_raises():
    """Check that an estimator without history_ raises a ValueError."""
    with pytest.raises(ValueError, match="no training history"):
        TrainingCurveDisplay.from_estimator(CNNClassifier())


# -- learning-rate finder ------------------------------------------------------


def test_lr_find_sweeps_exponentially_and_leaves_the_estimator_untouched(tiny_cnn):
    """Check that lr_find trains a clone on an exponential schedule and suggests a rate in range."""
    clf, X, y = tiny_cnn
    params = clf.get_params()
    state = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    history_length = len(clf.history_)
    result = lr_find(clf, X, y, start_lr=1e-5, end_lr=1e-1, n_steps=12)
    assert len(result.lr) == len(result.loss) == len(result.raw_loss) == 12
    np.testing.assert_allclose(result.lr, 1e-5 * 1e4 ** (np.arange(12) / 11), rtol=1e-6)
    assert 1e-5 <= result.suggested_lr <= 1e-1
    assert clf.get_params() == params and len(clf.history_) == history_length
    assert all(torch.equal(state[k], v) for k, v in clf.module_.state_dict().items())
    unfitted = CNNClassifier(batch_size=4, random_state=0)
    lr_find(unfitted, X, y, n_steps=4)
    assert not hasattr(unfitted, "module_")


def test_lr_find_stops_when_the_loss_diverges():
    """Check that the sweep ends early once the smoothed loss exceeds 4 times its minimum."""
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(64, 12, 12)).astype(np.uint8)
    y = np.array([0, 1] * 32)
    clf = CNNClassifier(batch_size=8, optimizer="sgd", random_state=0)
    result = lr_find(clf, X, y, start_lr=1e-3, end_lr=1e6, n_steps=60, beta=0.5)
    assert len(result.loss) < 60
    assert not result.loss[-1] <= 4 * result.loss.min()


def test_lr_finder_display_draws_the_sweep(tiny_cnn):
    """Check that LRFinderDisplay.from_estimator runs the sweep and draws it on a log axis."""
    clf, X, y = tiny_cnn
    display = LRFinderDisplay.from_estimator(clf, X, y, n_steps=8)
    assert display.ax_.get_xscale() == "log"
    np.testing.assert_array_equal(display.ax_.lines[0].get_xdata(), display.result_.lr)


# -- displays --------------------------------------------------------------------


def test_grad_cam_display_overlays_each_image(tiny_cnn):
    """Check that GradCAMDisplay draws one image and one heatmap per axes."""
    clf, X, _ = tiny_cnn
    display = GradCAMDisplay.from_estimator(clf, X[:3], target="a")
    assert display.ax_.shape == (3,)
    assert all(len(ax.images) == 2 for ax in display.ax_)
    assert display.figure_ is display.ax_[0].figure


@pytest.mark.parametrize(
    "draw",
    [
        lambda clf, X, y: TrainingCurveDisplay.from_estimator(clf),
        lambda clf, X, y: TopLossesDisplay.from_estimator(clf, X, y, k=2),
        lambda clf, X, y: GradCAMDisplay.from_estimator(clf, X[:2]),
        lambda clf, X, y: LRFinderDisplay(np.array([1e-3, 1e-2]), np.array([1.0, 0.5])).plot(),
    ],
    ids=["training_curve", "top_losses", "grad_cam", "lr_finder"],
)
def test_displays_without_matplotlib_name_the_extra(tiny_cnn, monkeypatch, draw):
    """Check that without matplotlib each display raises an ImportError naming the extra."""
    clf, X, y = tiny_cnn
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "sk-imgcls\[inspection\]"'):
        draw(clf, X, y)


def test_grad_cam_without_grad_cam_package_names_the_extra(tiny_cnn, monkeypatch):
    """Check that grad_cam without the grad-cam package raises an ImportError naming the extra."""
    clf, X, _ = tiny_cnn
    monkeypatch.setitem(sys.modules, "pytorch_grad_cam", None)
    with pytest.raises(ImportError, match=r"grad-cam.*sk-imgcls\[inspection\]"):
        grad_cam(clf, X[:2])
