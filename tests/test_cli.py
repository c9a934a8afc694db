"""Tests of the sk-imgcls command line, run as ``python -m sk_imgcls`` in a subprocess."""

import csv
import io
import shutil
import subprocess
import sys

import pytest

from sk_imgcls._cli import main


@pytest.fixture(scope="module")
def photo_tree(hymenoptera, tmp_path_factory):
    """A small class-folder tree: 8 training and 4 validation photos per class."""
    root = tmp_path_factory.mktemp("photos")
    for split, n in (("train", 8), ("val", 4)):
        for label in ("ants", "bees"):
            (root / split / label).mkdir(parents=True)
            for photo in sorted((hymenoptera / split / label).iterdir())[:n]:
                shutil.copy(photo, root / split / label / photo.name)
    return root


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "sk_imgcls", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=600,
    )


def test_train_predict_evaluate_export_end_to_end(photo_tree, tmp_path, capsys):
    """Check that train, predict, evaluate and export run on the ants/bees photos."""
    model = tmp_path / "model.skimgcls"
    run = _cli(
        "train", photo_tree / "train", "--model", "cnn", "--set", "image_size=32",
        "--set", "max_epochs=1", "--set", "width=8", "--output", model, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "epoch 1/1" in run.stderr and run.stdout == ""

    (photo_tree / "val" / "broken.jpg").write_text("not an image")
    try:
        # The failing call in-process (same code path, no second interpreter start-up).
        assert main(["predict", str(model), str(photo_tree / "val")]) == 1
        err = capsys.readouterr().err
        assert "broken.jpg" in err and len(err.strip().splitlines()) == 1
        run = _cli("predict", model, photo_tree / "val", "--skip-bad", cwd=tmp_path)
    finally:
        (photo_tree / "val" / "broken.jpg").unlink()
    assert run.returncode == 0, run.stderr
    assert "skipped" in run.stderr and "broken.jpg" in run.stderr
    rows = list(csv.reader(io.StringIO(run.stdout)))
    assert rows[0] == ["path", "label", "proba_ants", "proba_bees"]
    assert len(rows) == 9 and {row[1] for row in rows[1:]} <= {"ants", "bees"}

    figure = tmp_path / "cm.png"
    run = _cli("evaluate", model, photo_tree / "val", "--figure", figure, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "precision" in run.stdout and figure.read_bytes()[:4] == b"\x89PNG"

    pytest.importorskip("onnxscript")
    onnx_file = tmp_path / "model.onnx"
    run = _cli("export", model, "--onnx", onnx_file, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert onnx_file.stat().st_size > 0


@pytest.mark.parametrize(
    "setting, message",
    [("foo=1", "Invalid parameter 'foo'"), ("lr=fast", "'lr' parameter"), ("max_epochs", "name=value")],
)
def test_bad_set_exits_1_with_one_line(photo_tree, tmp_path, capsys, setting, message):
    """Check that an unknown parameter or a value of the wrong type exits with 1 and names it."""
    status = main(["train", str(photo_tree / "train"), "--set", setting, "--output", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert status == 1 and message in err and len(err.strip().splitlines()) == 1


def test_root_without_class_folders_and_missing_model(photo_tree, tmp_path, capsys):
    """Check that a train root without class folders and a missing model file exit with 1."""
    assert main(["train", str(photo_tree), "--set", "max_epochs=1", "--output", str(tmp_path / "m")]) == 1
    assert "class folder" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "missing.skimgcls"), str(photo_tree)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_usage_error_exits_2(capsys):
    """Check that a usage error exits with status 2 (argparse)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", "svm"])
    assert exit_info.value.code == 2 and "usage" in capsys.readouterr().err
