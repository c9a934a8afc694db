"""Tests for augmentation, class imbalance, schedules, TTA and continued training."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.model_selection import GridSearchCV, train_test_split
from skorch.callbacks import Callback
from torchvision.transforms import v2

from sk_imgcls import CNNClassifier
from sk_imgcls._augment import BatchAugmentation, make_augmentation, tta_views


def _small(**params):
    return CNNClassifier(**{"max_epochs": 3, "width": 8, "random_state": 0, **params})


def _blobs(n=60, shape=(8, 8), n_classes=2, seed=0):
    rng = np.random.RandomState(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, *shape)) + y.reshape(-1, *([1] * len(shape))) * 2.0
    return X.astype(np.float32), y


class _RecordBatches(Callback):
    """Keep the images of every training and validation batch."""

    def initialize(self):
        self.train, self.valid = [], []
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        X = batch[0]["X"] if isinstance(batch[0], dict) else batch[0]
        (self.train if training else self.valid).append(X.clone())


def test_augment_touches_training_batches_only():
    """Check that augmentation changes training batches but never validation or predict."""
    X, y = _blobs(n=40)
    record = _RecordBatches()
    flip_all = v2.RandomHorizontalFlip(p=1.0)
    clf = _small(
        augment=flip_all,
        early_stopping=True,
        validation_fraction=0.25,
        max_epochs=1,
        batch_size=40,
        callbacks=[("record", record)],
    ).fit(X, y)
    recorded = dict(clf.net_.callbacks_)["record"]
    # The recorded training batch is the input before augmentation; the
    # network must have seen it flipped: compare against the net's own step.
    assert len(recorded.valid) == 1 and len(recorded.train) == 1
    valid = recorded.valid[0].numpy()
    assert all(any(np.array_equal(v, x[..., None]) for x in X) for v in valid)
    images, _ = clf.net_.augmentation(recorded.train[0], torch.zeros(30))
    np.testing.assert_array_equal(images.numpy(), recorded.train[0].flip(2).numpy())
    # predict is deterministic and unaffected by the flip transform.
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))


def test_presets_do_what_they_document():
    """Check each preset's steps, and that horizontal_flip=False removes the flip."""
    names = lambda t: [type(s).__name__ for s in t.transforms]  # noqa: E731
    assert names(make_augmentation("light", (28, 28, 1), horizontal_flip=False)) == ["RandomCrop"]
    assert names(make_augmentation("standard", (28, 28, 1), horizontal_flip=True)) == [
        "RandomCrop",
        "RandomHorizontalFlip",
        "RandomErasing",
    ]
    assert names(make_augmentation("strong", (28, 28, 1), horizontal_flip=False)) == [
        "RandomResizedCrop",
        "RandomRotation",
        "RandomErasing",
    ]
    torch.manual_seed(0)
    images = torch.arange(2 * 8 * 8 * 1, dtype=torch.uint8).reshape(2, 8, 8, 1)
    light = BatchAugmentation(make_augmentation("light", (8, 8, 1), horizontal_flip=True), None)
    out, _ = light(images, torch.zeros(2))
    assert out.shape == images.shape and out.dtype == torch.uint8


def test_augment_per_image_not_per_batch():
    """Check that a random flip is drawn for each image, not once for the whole batch."""
    torch.manual_seed(0)
    images = torch.arange(64 * 4 * 4, dtype=torch.float32).reshape(64, 4, 4, 1)
    out, _ = BatchAugmentation(v2.RandomHorizontalFlip(), None)(images, torch.zeros(64))
    flipped = [torch.equal(o, i.flip(1)) for o, i in zip(out, images)]
    assert 10 < sum(flipped) < 54


def test_mixup_and_cutmix_give_soft_labels():
    """Check that MixUp/CutMix mix training batches and train with soft labels."""
    X, y = _blobs()
    for params in ({"mixup": 0.4}, {"cutmix": 1.0}, {"mixup": 0.2, "cutmix": 1.0}):
        clf = _small(**params).fit(X, y)
        assert np.all(np.isfinite(clf.history_[:, "train_loss"]))
        images = torch.as_tensor(X[:8])[..., None]
        mixed, labels = clf.net_.augmentation(images, torch.as_tensor(y[:8]))
        assert labels.shape == (8, 2) and mixed.shape == images.shape
        np.testing.assert_allclose(labels.sum(1).numpy(), 1.0, rtol=1e-6)


def test_unknown_preset_lists_the_valid_ones():
    """Check that an unknown preset name raises and names the valid presets."""
    X, y = _blobs()
    with pytest.raises(ValueError, match="'augment' parameter.*'heavy'") as excinfo:
        _small(augment="heavy").fit(X, y)
    # The presets are listed in no fixed order (a set).
    assert all(f"'{name}'" in str(excinfo.value) for name in ("light", "standard", "strong"))


def test_augment_that_is_not_a_transform_raises():
    """Check that augment=<not a transform> raises a TypeError."""
    X, y = _blobs()
    with pytest.raises(TypeError, match="'augment' parameter.*callable.*Got 42"):
        _small(augment=42).fit(X, y)


def test_class_weight_balanced_raises_minority_recall_on_digits():
    """Check that class_weight='balanced' helps a class cut to 5% of its size."""
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8)
    X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
    rng = np.random.RandomState(0)
    minority = np.flatnonzero(y_train == 3)
    drop = rng.choice(minority, size=len(minority) - len(minority) // 20, replace=False)
    keep = np.setdiff1d(np.arange(len(y_train)), drop)
    X_train, y_train = X_train[keep], y_train[keep]
    params = dict(max_epochs=15, random_state=0)
    plain = CNNClassifier(**params).fit(X_train, y_train).predict(X_test)
    balanced = CNNClassifier(class_weight="balanced", **params).fit(X_train, y_train).predict(X_test)
    recall = lambda pred: recall_score(y_test, pred, labels=[3], average=None)[0]  # noqa: E731
    assert recall(balanced) > recall(plain)
    assert balanced_accuracy_score(y_test, balanced) > balanced_accuracy_score(y_test, plain)


def test_class_weight_dict_with_absent_label_raises():
    """Check that a class_weight dict naming a label absent from y raises."""
    X, y = _blobs()
    with pytest.raises(ValueError, match=r"class_weight names labels absent from y: \[7\]"):
        _small(class_weight={0: 1.0, 7: 2.0}).fit(X, y)


def test_sample_weight_is_used_in_the_loss():
    """Check that sample weights change the model, and ones equal no weights."""
    X, y = _blobs()
    base = _small().fit(X, y).predict_proba(X)
    ones = _small().fit(X, y, sample_weight=np.ones(len(y))).predict_proba(X)
    np.testing.assert_array_equal(base, ones)
    weights = np.where(y == 0, 10.0, 0.1)
    weighted = _small().fit(X, y, sample_weight=weights).predict_proba(X)
    assert weighted[:, 0].mean() > base[:, 0].mean()


@pytest.mark.parametrize(
    "sample_weight, match",
    [
        (-np.ones(60), "Negative values"),
        (np.r_[np.nan, np.ones(59)], "NaN"),
        (np.ones(59), r"sample_weight.shape == \(59,\), expected \(60,\)"),
        (np.zeros(60), "at least one non-zero"),
    ],
)
def test_bad_sample_weight_raises(sample_weight, match):
    """Check that negative, NaN, wrong-length or all-zero sample weights raise."""
    X, y = _blobs()
    with pytest.raises(ValueError, match=match):
        _small().fit(X, y, sample_weight=sample_weight)


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "plateau", None])
def test_lr_schedules_change_the_learning_rate(schedule):
    """Check that each schedule drives torch's optimizer through skorch's LRScheduler."""
    X, y = _blobs()
    warmup = 0 if schedule == "plateau" else 2
    clf = _small(lr_schedule=schedule, warmup_epochs=warmup, max_epochs=6, lr=0.01).fit(X, y)
    final_lr = clf.net_.optimizer_.param_groups[0]["lr"]
    if schedule in ("cosine", "onecycle"):
        assert final_lr < 0.01 * 0.5
    else:
        assert final_lr <= 0.01
    assert "lr_schedule" in dict(clf.net_.callbacks_)


def test_cnn_default_cosine_schedule_decays_per_epoch_and_restarts_in_partial_fit():
    """Check CNNClassifier's default cosine epoch rates, and that partial_fit trains at lr."""
    from skorch.callbacks import Callback

    class RecordLR(Callback):
        def on_epoch_begin(self, net, **kwargs):
            net.history.record("lr", net.optimizer_.param_groups[0]["lr"])

    X, y = _blobs()
    clf = CNNClassifier(depth=1, width=4, max_epochs=4, lr=0.01, callbacks=[RecordLR()])
    assert clf.lr_schedule == "cosine"
    clf.fit(X, y)
    expected = [0.01 * (1 + np.cos(np.pi * epoch / 4)) / 2 for epoch in range(4)]
    np.testing.assert_allclose(clf.history_[:, "lr"], expected, rtol=1e-6)
    clf.partial_fit(X, y)
    assert clf.history_[-1, "lr"] == pytest.approx(0.01)


class _RecordLR(Callback):
    """Record each epoch's starting learning rate in the history."""

    def on_epoch_begin(self, net, **kwargs):
        net.history.record("lr", net.optimizer_.param_groups[0]["lr"])


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_warm_start_fits_run_a_schedule_sized_for_themselves(schedule):
    """Check that each warm-start fit runs the whole schedule over its own epochs and images.

    skorch passes a continued fit's epoch count to the scheduler as steps
    already taken: one-cycle raised "Tried to step 13 times. The specified
    number of total steps is 12" on the second fit, even with the same data;
    and a cosine sized by the first fit ended early in a longer second one.
    """
    X, y = _blobs(n=64)
    clf = _small(
        lr_schedule=schedule, max_epochs=3, batch_size=16, lr=0.01, warm_start=True,
        callbacks=[_RecordLR()],
    )
    clf.fit(X[:32], y[:32])
    first = clf.history_[:, "lr"]
    clf.fit(X[:32], y[:32])
    np.testing.assert_allclose(clf.history_[3:, "lr"], first, rtol=1e-6)
    clf.set_params(max_epochs=5)
    clf.fit(X, y)
    rates = clf.history_[6:, "lr"]
    assert len(rates) == 5
    if schedule == "cosine":
        expected = [0.01 * (1 + np.cos(np.pi * epoch / 5)) / 2 for epoch in range(5)]
        np.testing.assert_allclose(rates, expected, rtol=1e-6)
    else:
        # The rate peaks at lr 30% into the cycle (between two epoch starts),
        # then anneals: above 1% of lr at the start of the last of five
        # epochs, not past the cycle's end.
        assert 0.008 < max(rates) <= 0.01
        assert 1e-4 < rates[-1] < rates[-2] < max(rates)


def test_plateau_with_warmup_raises():
    """Check that warmup_epochs with the plateau schedule is refused."""
    X, y = _blobs()
    with pytest.raises(ValueError, match="warmup_epochs is not supported"):
        _small(lr_schedule="plateau", warmup_epochs=1).fit(X, y)


def test_label_smoothing_reaches_the_criterion():
    """Check that label_smoothing configures the cross-entropy."""
    X, y = _blobs()
    clf = _small(label_smoothing=0.1).fit(X, y)
    assert clf.net_.criterion_.label_smoothing == 0.1


@pytest.mark.parametrize("tta, n_views", [("flip", 2), ("crop", 5), ("flip_crop", 10)])
def test_tta_averages_over_views(tta, n_views):
    """Check that predict_proba with tta averages the softmax over the documented views."""
    X, y = _blobs()
    images = torch.as_tensor(X[:4])[..., None]
    views = tta_views(images, tta)
    assert len(views) == n_views and all(v.shape == images.shape for v in views)
    clf = _small().fit(X, y)
    plain = clf.predict_proba(X)
    clf.set_params(tta=tta)
    averaged = clf.predict_proba(X)
    np.testing.assert_allclose(averaged.sum(1), 1.0)
    expected = np.mean(
        [torch.softmax(clf.module_(v), 1).detach().numpy() for v in tta_views(torch.as_tensor(X)[..., None], tta)],
        axis=0,
    )
    np.testing.assert_allclose(averaged, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(plain, averaged)


@pytest.mark.parametrize("tta", ["flip", "crop", "flip_crop"])
def test_tta_skips_rows_of_features(tta):
    """Check that rows of a 2-D X (read as 1 x n_features images) get no test-time views.

    Reversing or shifting a row of features mirrors no picture: on
    scikit-learn's blobs, flip TTA swaps the two features.
    """
    X, y = _blobs(shape=(6,))
    clf = _small().fit(X, y)
    plain = clf.predict_proba(X)
    clf.set_params(tta=tta)
    np.testing.assert_array_equal(clf.predict_proba(X), plain)
    # The same values as 2 x 3 images are pictures: TTA applies.
    images = _small(image_shape=(2, 3)).fit(X, y)
    plain = images.predict_proba(X)
    images.set_params(tta=tta)
    assert not np.allclose(images.predict_proba(X), plain)


def test_rows_of_features_are_not_flipped_in_training():
    """Check that horizontal_flip leaves rows of features alone in the augmentation."""
    X, y = _blobs(shape=(6,))

    def steps(**params):
        clf = _small(augment="light", max_epochs=1, **params).fit(X, y)
        return [type(step) for step in clf.net_.augmentation.transform.transforms]

    assert v2.RandomHorizontalFlip not in steps()
    assert v2.RandomHorizontalFlip in steps(image_shape=(2, 3))


@pytest.mark.parametrize("augment", ["light", "standard", "strong"])
@pytest.mark.parametrize("shape", [(1, 6, 3), (6, 1, 3)])
def test_presets_and_crop_tta_take_one_pixel_sides(augment, shape):
    """Check that the shifts of presets and crop TTA leave a side of 1 pixel alone.

    Reflection padding cannot extend a 1-pixel side (torch raised "Padding
    size should be less than the corresponding input dimension").
    """
    X, y = _blobs(shape=shape)
    clf = _small(augment=augment, tta="flip_crop", max_epochs=1).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.isfinite(proba).all()


def test_warm_start_continues_from_current_weights():
    """Check that warm_start=True refits from the trained weights, adding epochs."""
    X, y = _blobs()
    clf = _small(warm_start=True).fit(X, y)
    first_loss = clf.history_[-1, "train_loss"]
    weights = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    clf.fit(X, y)
    assert clf.n_iter_ == 6
    assert clf.history_[3, "train_loss"] < clf.history_[0, "train_loss"]
    assert not torch.equal(weights["head.3.weight"], clf.module_.state_dict()["head.3.weight"])
    assert clf.history_[-1, "train_loss"] < first_loss * 1.5
    cold = _small(warm_start=False).fit(X, y)
    cold.fit(X, y)
    assert cold.n_iter_ == 3


def test_partial_fit_trains_one_more_epoch():
    """Check that partial_fit initializes on the first call and then adds one epoch per call."""
    X, y = _blobs(n_classes=3)
    clf = _small()
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and list(clf.classes_) == [0, 1, 2]
    clf.partial_fit(X, y)
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 3
    with pytest.raises(ValueError, match="not seen in the first fit"):
        clf.partial_fit(X, y + 5)


class _InterruptAt(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


def test_keyboard_interrupt_leaves_a_fitted_estimator_with_the_best_weights():
    """Check that Ctrl-C during fit keeps a usable model, its history and the best weights, then re-raises."""
    X, y = _blobs(n=80)
    clf = _small(
        max_epochs=50,
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=50,
        callbacks=[("interrupt", _InterruptAt(4))],
    )
    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning, match="interrupted"):
        clf.fit(X, y)
    assert clf.n_iter_ == 4
    assert clf.interrupted_epoch_ is not None
    assert clf.predict(X).shape == (80,)
    best = int(np.argmin(clf.history_[:, "valid_loss"]))
    assert clf.history_[best, "valid_loss_best"]


def test_new_parameters_work_in_grid_search():
    """Check that augmentation, class_weight and schedule parameters can be grid-searched."""
    X, y = _blobs(n=60)
    search = GridSearchCV(
        _small(max_epochs=2),
        {
            "augment": [None, "light"],
            "class_weight": [None, "balanced"],
            "lr_schedule": [None, "cosine"],
            "label_smoothing": [0.0, 0.1],
        },
        cv=2,
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 16


def test_imbalanced_learn_resampler_in_front_of_the_classifier():
    """Check the documented recipe: imbalanced-learn's RandomOverSampler before a CNN."""
    imblearn = pytest.importorskip("imblearn")
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.pipeline import make_pipeline

    from sk_imgcls.preprocessing import Flatten, ImageReshaper

    X, y = _blobs(n=60)
    keep = np.r_[np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:5]]
    X, y = X[keep], y[keep]
    pipe = make_pipeline(
        Flatten(), RandomOverSampler(random_state=0), ImageReshaper((8, 8)), _small()
    ).fit(X, y)
    assert pipe.predict(X).shape == y.shape
    assert imblearn is not None


def test_batched_presets_draw_per_image_and_match_torchvision_crops():
    """Check that the batched crop, flip and erase give per-image torchvision results."""
    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 12, 12, 1), dtype=torch.uint8)
    transform = make_augmentation("light", (12, 12, 1), horizontal_flip=True)
    out, _ = BatchAugmentation(transform, None)(images, torch.zeros(64))
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = v2.functional.pad(images.permute(0, 3, 1, 2), [1, 1], padding_mode="reflect")
    positions = set()
    for image, result in zip(padded, out.permute(0, 3, 1, 2)):
        # Every output is one of the 9 crops of its padded image, maybe mirrored.
        matches = [
            (top, left, flip)
            for top in range(3)
            for left in range(3)
            for flip in (False, True)
            if torch.equal(
                (image[:, top : top + 12, left : left + 12].flip(-1) if flip
                 else image[:, top : top + 12, left : left + 12]),
                result,
            )
        ]
        assert matches
        positions.add(matches[0])
    assert len(positions) > 6

    erase = v2.RandomErasing(p=0.5, scale=(0.02, 0.12))
    ones = torch.full((400, 20, 20, 1), 7, dtype=torch.uint8)
    erased, _ = BatchAugmentation(erase, None)(ones, torch.zeros(400))
    fraction = (erased == 0).float().mean(dim=(1, 2, 3))
    hit = fraction > 0
    assert 150 < hit.sum() < 250
    assert fraction[hit].min() >= 0.01 and fraction[hit].max() <= 0.15
    for image in erased[hit][:20, ..., 0]:
        rows, cols = torch.nonzero(image == 0, as_tuple=True)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert box == len(rows)  # one filled rectangle


def test_unknown_transforms_still_run_image_by_image():
    """Check that a transform without a batch version is applied per image."""
    torch.manual_seed(0)
    images = torch.rand(32, 10, 10, 3)
    out, _ = BatchAugmentation(v2.RandomVerticalFlip(), None)(images, torch.zeros(32))
    flipped = [torch.equal(o, i.flip(0)) for o, i in zip(out, images)]
    assert 4 < sum(flipped) < 28


def test_fp16_training_scales_the_loss_and_learns(digits_images):
    """Check that mixed_precision="fp16" trains with torch's GradScaler and still learns digits."""
    X, y = digits_images
    clf = CNNClassifier(mixed_precision="fp16", max_epochs=3, random_state=0)
    clf.fit(X[:1200], y[:1200])
    scaler = clf.net_.grad_scaler_
    assert scaler.is_enabled()
    # Unscaled float32 training keeps the scale at 1; fp16 starts at 2**16.
    assert scaler.get_scale() > 1.0
    assert np.isfinite(clf.history_[:, "train_loss"]).all()
    assert clf.score(X[1200:], y[1200:]) > 0.8
    assert clf.predict_proba(X[1200:1210]).dtype == np.float64


def test_float32_training_leaves_the_grad_scaler_off(digits_images):
    """Check that the default precision does not scale the loss."""
    X, y = digits_images
    clf = CNNClassifier(max_epochs=1, random_state=0).fit(X[:200], y[:200])
    assert not clf.net_.grad_scaler_.is_enabled()
