"""Tests of fit's validation set (X_val, y_val) and of the verbose levels."""

import contextlib
import io

import numpy as np
import pytest
import sklearn
from PIL import Image
from skorch.callbacks import Checkpoint
from sklearn.pipeline import Pipeline

from sk_imgcls import CNNClassifier
from sk_imgcls.preprocessing import ImageLoader, ImageReshaper


def _small(**params):
    return CNNClassifier(max_epochs=2, width=4, random_state=0, **params)


def test_x_val_records_validation_scores_every_epoch(digits_images):
    """Check that X_val, y_val give valid_loss and valid_acc per epoch without early stopping."""
    X, y = digits_images
    clf = _small().fit(X[:300], y[:300], X_val=X[300:400], y_val=y[300:400])
    assert len(clf.history_[:, "valid_loss"]) == 2
    assert all(0 <= acc <= 1 for acc in clf.history_[:, "valid_acc"])
    assert "valid_loss" not in _small().fit(X[:300], y[:300]).history_[-1]


def test_early_stopping_watches_the_given_validation_set(digits_images):
    """Check that with X_val early stopping keeps all of X for training."""
    X, y = digits_images
    clf = _small(early_stopping=True, verbose=0)
    clf.fit(X[:300], y[:300], X_val=X[300:400], y_val=y[300:400])
    # ValidSplit would have held out 10% of X: 9 batches of 32 instead of 10.
    assert len(clf.history_[0, "batches"]) == 10 + 4


def test_sample_weight_val_weights_the_validation_loss(digits_images):
    """Check that sample_weight_val changes valid_loss and nothing of the training."""
    X, y = digits_images
    fit = dict(X_val=X[300:400], y_val=y[300:400])
    plain = _small().fit(X[:300], y[:300], **fit)
    weights = np.r_[np.ones(50), np.zeros(50)]
    weighted = _small().fit(X[:300], y[:300], sample_weight_val=weights, **fit)
    assert weighted.history_[:, "train_loss"] == plain.history_[:, "train_loss"]
    assert weighted.history_[-1, "valid_loss"] != plain.history_[-1, "valid_loss"]


def test_checkpoint_callback_works_with_x_val(digits_images, tmp_path):
    """Check that skorch's Checkpoint finds valid_loss_best when X_val is given."""
    X, y = digits_images
    clf = _small(callbacks=[Checkpoint(dirname=str(tmp_path))])
    clf.fit(X[:200], y[:200], X_val=X[200:260], y_val=y[200:260])
    assert (tmp_path / "params.pt").is_file()


def test_pipeline_routes_and_transforms_x_val(digits_images):
    """Check that Pipeline(transform_input=["X_val"]) reshapes X_val before routing it."""
    X, y = digits_images
    flat = X.reshape(len(X), -1)
    with sklearn.config_context(enable_metadata_routing=True):
        cnn = _small().set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline([("reshape", ImageReshaper((8, 8))), ("cnn", cnn)], transform_input=["X_val"])
        pipe.fit(flat[:300], y[:300], X_val=flat[300:400], y_val=y[300:400])
    assert len(pipe[-1].history_[:, "valid_acc"]) == 2


def test_pipeline_with_image_loader_routes_x_val_paths(tmp_path):
    """Check that an ImageLoader in front decodes the paths of X_val too."""
    rng = np.random.RandomState(0)
    paths = []
    for i in range(12):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.randint(0, 256, size=(10, 10, 3)).astype(np.uint8)).save(path)
        paths.append(str(path))
    y = np.arange(12) % 2
    with sklearn.config_context(enable_metadata_routing=True):
        cnn = _small().set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline([("load", ImageLoader()), ("cnn", cnn)], transform_input=["X_val"])
        pipe.fit(paths[:8], y[:8], X_val=paths[8:], y_val=y[8:])
    assert len(pipe[-1].history_[:, "valid_loss"]) == 2


@pytest.mark.parametrize(
    "fit_params, message",
    [
        (lambda X, y: dict(X_val=X[:10]), "X_val was given without y_val"),
        (lambda X, y: dict(y_val=y[:10]), "y_val was given without X_val"),
        (lambda X, y: dict(sample_weight_val=np.ones(10)), "sample_weight_val was given without"),
        (
            lambda X, y: dict(X_val=X[:10, :6, :6], y_val=y[:10]),
            r"Invalid X_val.*shape \(6, 6, 1\).*fitted on images of shape \(8, 8, 1\)",
        ),
        (
            lambda X, y: dict(X_val=np.stack([X[:10]] * 3, axis=-1), y_val=y[:10]),
            r"Invalid X_val.*\(8, 8, 3\)",
        ),
        (lambda X, y: dict(X_val=X[:10], y_val=np.full(10, 42)), r"y_val holds labels \[.*42\]"),
        (lambda X, y: dict(X_val=X[:10], y_val=y[:9]), "Invalid X_val or y_val.*inconsistent"),
    ],
)
def test_bad_validation_data_is_refused(digits_images, fit_params, message):
    """Check that each wrong validation set raises a ValueError naming it."""
    X, y = digits_images
    with pytest.raises(ValueError, match=message):
        _small().fit(X[:100], y[:100], **fit_params(X, y))


@pytest.mark.parametrize("verbose", [1, 2])
def test_logs_piped_to_a_file_are_plain_lines(digits_images, verbose):
    """Check that verbose output to a non-terminal has one line per epoch, no escape codes."""
    X, y = digits_images
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _small(verbose=verbose).fit(X[:200], y[:200], X_val=X[200:260], y_val=y[200:260])
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2  train_loss ")
    assert "valid_acc" in lines[0] and lines[0].endswith("s")
    assert "\x1b" not in out.getvalue() and "%|" not in out.getvalue()


def test_verbose_zero_is_silent(digits_images, capsys):
    """Check that verbose=0 prints nothing."""
    X, y = digits_images
    _small(early_stopping=True).fit(X[:200], y[:200])
    assert capsys.readouterr().out == ""
