"""The ``sk-imgcls`` command line: train, predict, evaluate and export from folders of photos.

Exit status: 0 on success, 1 on bad input (one line on stderr naming the
problem), 2 on a usage error (argparse's).
"""

import argparse
import ast
import contextlib
import csv
import os
import sys

import numpy as np

_MODELS = {"cnn": "CNNClassifier", "transfer": "TransferClassifier"}
# A CNN trained from scratch needs one image size; photos come in many.
_CNN_DEFAULTS = {"image_size": 64}


class CommandError(Exception):
    """Bad input to a command: reported as one line, exit status 1."""


def _parse_value(text):
    """A ``--set`` value: a Python literal (3e-3, 10, None, (32, 32), True) or else a string."""
    lowered = {"none": None, "null": None, "true": True, "false": False}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _parse_settings(settings):
    params = {}
    for setting in settings:
        name, sep, value = setting.partition("=")
        if not sep or not name:
            raise CommandError(f"--set takes name=value; got {setting!r}.")
        params[name.strip()] = _parse_value(value.strip())
    return params


def _make_estimator(model, settings):
    import sk_imgcls

    estimator = getattr(sk_imgcls, _MODELS[model])()
    params = {**(_CNN_DEFAULTS if model == "cnn" else {}), "verbose": 2}
    params.update(_parse_settings(settings))
    try:
        estimator.set_params(**params)
        estimator._validate_params()
    except (ValueError, TypeError) as exc:
        raise CommandError(f"invalid --set for {_MODELS[model]}: {exc}") from exc
    return estimator


def _train(args):
    from ._persistence import save
    from .datasets import load_image_folder

    estimator = _make_estimator(args.model, args.set)
    paths, labels = load_image_folder(args.root)
    print(
        f"training {type(estimator).__name__} on {len(paths)} images of "
        f"{len(np.unique(labels))} classes",
        file=sys.stderr,
    )
    # Training progress (one line per epoch) goes to stderr with the rest.
    with contextlib.redirect_stdout(sys.stderr):
        estimator.fit(paths, labels)
    save(estimator, args.output)
    print(f"saved {args.output}", file=sys.stderr)


def _load_classifier(path):
    from ._persistence import load

    model = load(path)
    if not hasattr(model, "predict_proba"):
        raise CommandError(f"{path!r} holds a {type(model).__name__}, not a classifier.")
    return model


def _collect(paths):
    from .datasets import list_images

    files = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(list_images(path))
        elif os.path.exists(path):
            files.append(path)
        else:
            raise CommandError(f"{path!r} does not exist.")
    return files


def _predict_files(model, files, *, skip_bad):
    """Probabilities of the readable files; (kept files, proba)."""
    from ._image_io import ImageReadError, open_image

    try:
        return files, model.predict_proba(np.asarray(files, dtype=object))
    except ImageReadError as exc:
        if not skip_bad:
            raise CommandError(f"{exc} (pass --skip-bad to skip unreadable files)") from exc
    kept = []
    for path in files:
        try:
            open_image(path)
        except ImageReadError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
        else:
            kept.append(path)
    if not kept:
        raise CommandError("no readable image among the files given.")
    return kept, model.predict_proba(np.asarray(kept, dtype=object))


def _predict(args):
    model = _load_classifier(args.model)
    files, proba = _predict_files(model, _collect(args.paths), skip_bad=args.skip_bad)
    labels = model.classes_[proba.argmax(axis=1)]
    out = open(args.output, "w", newline="") if args.output else sys.stdout
    try:
        writer = csv.writer(out)
        writer.writerow(["path", "label", *[f"proba_{c}" for c in model.classes_]])
        for path, label, row in zip(files, labels, proba):
            writer.writerow([path, label, *[f"{p:.6g}" for p in row]])
    finally:
        if args.output:
            out.close()


def _evaluate(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, classification_report

    from .datasets import load_image_folder

    model = _load_classifier(args.model)
    paths, labels = load_image_folder(args.root)
    predicted = model.predict(paths)
    print(classification_report(labels, predicted, zero_division=0))
    display = ConfusionMatrixDisplay.from_predictions(labels, predicted)
    display.figure_.savefig(args.figure, bbox_inches="tight")
    plt.close(display.figure_)
    print(f"confusion matrix written to {args.figure}", file=sys.stderr)


def _export(args):
    from ._onnx import to_onnx
    from ._persistence import load

    model = load(args.model)
    if getattr(model, "n_features_in_", None) and args.flat:
        shape = (1, model.n_features_in_)
    else:
        shape = (1, *model.image_shape_)
    to_onnx(model, np.zeros(shape, dtype=args.dtype), path=args.onnx)
    print(f"wrote {args.onnx}", file=sys.stderr)


def _parser():
    parser = argparse.ArgumentParser(
        prog="sk-imgcls",
        description="Train, apply and export sk_imgcls image classifiers on folders of photos.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train on ROOT/<class>/<image> and save the model")
    train.add_argument("root", help="folder with one subfolder of images per class")
    train.add_argument("--model", choices=sorted(_MODELS), default="cnn")
    train.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="an estimator parameter, e.g. --set lr=3e-3 --set max_epochs=10 (repeatable)",
    )
    train.add_argument("--output", required=True, help="model file to write")
    train.set_defaults(run=_train)

    predict = commands.add_parser("predict", help="predict image files or folders (CSV)")
    predict.add_argument("model", help="model file written by train")
    predict.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    predict.add_argument("--output", help="CSV file to write (default: stdout)")
    predict.add_argument(
        "--skip-bad", action="store_true",
        help="report unreadable files on stderr and go on (default: fail)",
    )
    predict.set_defaults(run=_predict)

    evaluate = commands.add_parser("evaluate", help="classification report on a class-folder tree")
    evaluate.add_argument("model", help="model file written by train")
    evaluate.add_argument("root", help="folder with one subfolder of images per class")
    evaluate.add_argument("--figure", default="confusion_matrix.png", help="confusion-matrix PNG")
    evaluate.set_defaults(run=_evaluate)

    export = commands.add_parser("export", help="export a model file to ONNX")
    export.add_argument("model", help="model file written by train")
    export.add_argument("--onnx", required=True, help="ONNX file to write")
    export.add_argument(
        "--dtype", choices=["uint8", "float32", "float64"], default="uint8",
        help="input dtype of the graph (default: uint8 images)",
    )
    export.add_argument(
        "--flat", action="store_true", help="input flat rows (n, n_features) instead of images",
    )
    export.set_defaults(run=_export)
    return parser


def main(argv=None):
    """Run the ``sk-imgcls`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 1 on bad input (a line naming the problem is printed on
        stderr). Usage errors exit with status 2 (argparse).

    Examples
    --------
    >>> from sk_imgcls._cli import main
    >>> main(["predict", "no/such/model.skimgcls", "photo.jpg"])
    1
    """
    from sklearn.exceptions import NotFittedError

    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except (CommandError, ValueError, OSError, ImportError, NotFittedError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"sk-imgcls {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0
