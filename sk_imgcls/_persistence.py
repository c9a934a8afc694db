"""A model file that loads without running code: JSON for parameters and state, safetensors for weights."""

import hashlib
import json
import os
import warnings
import zipfile

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._training import make_net

FORMAT = "sk_imgcls-model"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_METADATA = "metadata.json"
_WEIGHTS = "weights.safetensors"


# Fitted ints (or None) stored as they are in the file's metadata.
_FITTED_SCALARS = (
    "n_features_in_", "n_features_out_", "n_iter_", "interrupted_epoch_", "depth_", "max_epochs_"
)


def _major(version):
    return version.split(".")[0]


def _classes():
    from ._cnn import CNNClassifier
    from ._features import PretrainedFeatures
    from ._transfer import TransferClassifier

    return {cls.__name__: cls for cls in (CNNClassifier, TransferClassifier, PretrainedFeatures)}


def _encode_value(name, value):
    """A parameter value as JSON, tuples and dicts tagged so they come back as they were."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, np.bool_):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (tuple, list)):
        items = [_encode_value(name, v) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {"__dict__": [[_encode_value(name, k), _encode_value(name, v)] for k, v in value.items()]}
    raise ValueError(
        f"Parameter {name!r} holds {type(value).__name__} {value!r}, which the model file "
        "cannot store without pickle: only None, bool, int, float, str, paths, and lists, "
        f"tuples and dicts of them are saved. Set {name} to such a value (or None) before "
        "saving, or use pickle for a file you will only load yourself."
    )


def _decode_value(value):
    if isinstance(value, list):
        return [_decode_value(v) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_decode_value(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {_decode_value(k): _decode_value(v) for k, v in value["__dict__"]}
    return value


def _encode_array(array):
    array = np.asarray(array)
    if array.dtype.kind not in "biufU":
        if array.dtype.kind == "O" and all(isinstance(v, str) for v in array.ravel()):
            return {"dtype": "object-str", "data": array.tolist()}
        raise ValueError(
            f"classes_ of dtype {array.dtype} cannot be saved; use int, float, bool or str labels."
        )
    return {"dtype": array.dtype.str, "data": array.tolist()}


def _decode_array(encoded):
    if encoded["dtype"] == "object-str":
        return np.asarray(encoded["data"], dtype=object)
    return np.asarray(encoded["data"], dtype=np.dtype(encoded["dtype"]))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _encode_preprocess(preprocess):
    if preprocess is None:
        return None
    if hasattr(preprocess, "crop"):
        return {
            "kind": "BackbonePreprocessing",
            "crop": preprocess.crop,
            "resize": preprocess.resize,
            "interpolation": preprocess.interpolation.value,
        }
    return {"kind": "Resize", "size": list(preprocess.size)}


def _decode_preprocess(encoded):
    from ._backbones._preprocess import BackbonePreprocessing
    from ._input import ResizeImages

    if encoded is None:
        return None
    if encoded["kind"] == "Resize":
        return ResizeImages(encoded["size"])
    preprocess = BackbonePreprocessing(
        encoded["crop"], encoded["crop"] / encoded["resize"], encoded["interpolation"]
    )
    preprocess.resize = int(encoded["resize"])
    return preprocess


def save(estimator, path):
    """Write a fitted estimator to one file that :func:`load` reads without unpickling.

    The file is a zip archive of three members: ``metadata.json`` (class,
    parameters, fitted attributes such as ``classes_``, ``image_shape_``,
    ``preprocess_`` and the skorch training history), ``weights.safetensors``
    (the state dict of ``module_``, copied to the CPU) and ``manifest.json``
    (format name and version, package version, SHA-256 of the two others).

    Parameters
    ----------
    estimator : CNNClassifier, TransferClassifier or PretrainedFeatures
        Fitted. Pipelines are not supported: save their estimator and
        rebuild the Pipeline around it.
    path : str or path-like
        File to write (conventionally ``.skimgcls``); overwritten if present.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    TypeError
        If the estimator is not one of the three classes above.
    ValueError
        If a parameter holds an object JSON cannot hold (a callable
        ``augment``, ``callbacks``, a RandomState): the message names it.

    See Also
    --------
    load : Read the file back.

    Notes
    -----
    Weights are written with safetensors (https://huggingface.co/docs/safetensors),
    whose loader only parses a JSON header and raw buffers. The optimizer's
    state is not saved: ``warm_start`` continues from the saved weights with a
    new optimizer. Weights are copied to the CPU first, so a model trained
    on a GPU loads on a machine without one.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sk_imgcls import CNNClassifier
    >>> from sk_imgcls import load, save
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier(image_shape=(8, 8), max_epochs=1, random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "digits.skimgcls")
    ...     save(clf, path)
    ...     loaded = load(path)
    >>> bool(np.array_equal(loaded.predict_proba(X[:20]), clf.predict_proba(X[:20])))
    True
    """
    from safetensors.torch import save as save_tensors

    from . import __version__

    classes = _classes()
    if type(estimator).__name__ not in classes or not isinstance(
        estimator, classes[type(estimator).__name__]
    ):
        raise TypeError(
            f"save stores {', '.join(classes)}; got {type(estimator).__name__}. For a "
            "Pipeline, save its estimator and rebuild the Pipeline around it."
        )
    check_is_fitted(estimator)
    params = {name: _encode_value(name, value) for name, value in estimator.get_params().items()}
    if params.get("callbacks"):
        raise ValueError(
            "Parameter 'callbacks' holds skorch callbacks, which the model file cannot store "
            "without pickle; set callbacks=None before saving."
        )
    fitted = {
        "image_shape_": list(estimator.image_shape_),
        "preprocess_": _encode_preprocess(estimator.preprocess_),
    }
    for name in _FITTED_SCALARS:
        value = getattr(estimator, name, "absent")
        if value is None or isinstance(value, (int, np.integer)):
            fitted[name] = None if value is None else int(value)
    if hasattr(estimator, "head_"):
        fitted["head_"] = str(estimator.head_)
    if hasattr(estimator, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(n) for n in estimator.feature_names_in_]
    if hasattr(estimator, "classes_"):
        fitted["classes_"] = _encode_array(estimator.classes_)
        fitted["history_"] = list(estimator.history_)
    metadata = json.dumps(
        {"class": type(estimator).__name__, "params": params, "fitted": fitted},
        default=_json_default,
    ).encode("utf-8")
    state = {
        name: tensor.detach().cpu().clone().contiguous()
        for name, tensor in estimator.module_.state_dict().items()
    }
    weights = save_tensors(state)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sk_imgcls_version": __version__,
        "sha256": {
            _METADATA: hashlib.sha256(metadata).hexdigest(),
            _WEIGHTS: hashlib.sha256(weights).hexdigest(),
        },
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_MANIFEST, json.dumps(manifest, indent=1))
        archive.writestr(_METADATA, metadata)
        archive.writestr(_WEIGHTS, weights)


def _read(path):
    """The manifest, metadata and weights bytes of a model file, checked; ValueError otherwise."""
    shown = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{shown!r} is a directory, not a sk_imgcls model file.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"The model file {shown!r} does not exist.")
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            if _MANIFEST not in members:
                raise ValueError(f"{shown!r} is a zip archive but not a sk_imgcls model file.")
            manifest = json.loads(archive.read(_MANIFEST))
            if manifest.get("format") != FORMAT:
                raise ValueError(f"{shown!r} is not a sk_imgcls model file.")
            if manifest.get("format_version") != FORMAT_VERSION:
                raise ValueError(
                    f"{shown!r} has model file format version {manifest.get('format_version')}; "
                    f"this sk_imgcls reads version {FORMAT_VERSION}."
                )
            contents = {name: archive.read(name) for name in (_METADATA, _WEIGHTS)}
    except zipfile.BadZipFile as exc:
        raise ValueError(
            f"{shown!r} is not a sk_imgcls model file, or it is truncated or corrupted ({exc})."
        ) from exc
    except (KeyError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{shown!r} is a damaged sk_imgcls model file ({exc}).") from exc
    for name, content in contents.items():
        if hashlib.sha256(content).hexdigest() != manifest["sha256"].get(name):
            raise ValueError(
                f"{shown!r}: the checksum of {name} does not match the manifest; the file was "
                "modified or damaged after it was saved."
            )
    return manifest, json.loads(contents[_METADATA]), contents[_WEIGHTS]


def _rebuild_module(estimator, fitted):
    from ._backbones import load_backbone, resolve_backbone_name
    from ._backbones._preprocess import BackboneFeatures
    from ._cnn import CNN
    from ._transfer import TransferNet

    name = type(estimator).__name__
    if name == "CNNClassifier":
        n_channels = fitted["image_shape_"][2]
        return CNN(
            tuple(fitted["image_shape_"]),
            len(estimator.classes_),
            depth=fitted["depth_"],
            head=fitted["head_"],
            width=estimator.width,
            residual=estimator.residual,
            dropout=estimator.dropout,
            mean=np.zeros(n_channels),
            std=np.ones(n_channels),
        )
    library, _ = resolve_backbone_name(estimator.backbone)
    try:
        backbone = load_backbone(estimator.backbone, weights=None)
    except ImportError as exc:
        raise ImportError(
            f"The model uses the {library} backbone {estimator.backbone!r}; install {library} "
            f"(pip install 'sk-imgcls[transfer]') to load it ({exc})."
        ) from exc
    features = BackboneFeatures(backbone.module, mean=(0.0,) * 3, std=(1.0,) * 3)
    if name == "PretrainedFeatures":
        return features
    return TransferNet(features, backbone.n_features, len(estimator.classes_), dropout=estimator.dropout)


def load(path):
    """Read a model file written by :func:`save`; nothing in it is unpickled or executed.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    estimator : CNNClassifier, TransferClassifier or PretrainedFeatures
        Fitted, with the saved parameters and fitted attributes; its
        ``predict_proba`` (or ``transform``) equals the saved estimator's,
        and ``warm_start=True`` continues training from the saved weights.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a directory.
    ValueError
        If the file is not a model file (e.g. a pickle), is truncated,
        fails its checksum (modified after saving), has another format
        version, or was written by another major version of sk_imgcls.
    ImportError
        If the backbone's library (timm) is not installed.

    See Also
    --------
    save : Write the file.

    Notes
    -----
    Only ``json.loads`` and ``safetensors.torch.load`` read the file. A
    model fitted with ``device="cuda"`` loads with ``device="cpu"`` (and a
    warning) where no GPU is available. The network is rebuilt from the
    parameters (for backbones, ``load_backbone(name, weights=None)``, which
    downloads nothing) and receives the saved weights strictly.

    Examples
    --------
    See :func:`save`.
    """
    from safetensors.torch import load as load_tensors
    from skorch.history import History

    from . import __version__
    from ._input import InMemoryImages

    manifest, metadata, weights = _read(path)
    saved = str(manifest.get("sk_imgcls_version", "?"))
    if _major(saved) != _major(__version__):
        raise ValueError(
            f"{os.fspath(path)!r} was saved by sk_imgcls {saved}, another major version than "
            f"this one ({__version__}); load it with sk_imgcls {_major(saved)}.x."
        )
    classes = _classes()
    if metadata.get("class") not in classes:
        raise ValueError(f"{os.fspath(path)!r} holds an unknown estimator {metadata.get('class')!r}.")
    try:
        state = load_tensors(weights)
    except Exception as exc:
        raise ValueError(f"{os.fspath(path)!r}: the weights cannot be read ({exc}).") from exc
    params = {name: _decode_value(value) for name, value in metadata["params"].items()}
    if "cuda" in str(params.get("device", "")) and not torch.cuda.is_available():
        warnings.warn(
            f"The model was fitted with device={params['device']!r}; no GPU is available, "
            "so it is loaded with device='cpu'.",
            stacklevel=2,
        )
        params["device"] = "cpu"
    fitted = metadata["fitted"]
    if metadata["class"] == "CNNClassifier":
        # Files written before the head parameter had global average pooling,
        # which the module, a clone and a new fit keep.
        params.setdefault("head", "avg")
        fitted.setdefault("head_", "avg")
    estimator = classes[metadata["class"]](**params)
    if "classes_" in fitted:
        estimator.classes_ = _decode_array(fitted["classes_"])
    module = _rebuild_module(estimator, fitted)
    module.load_state_dict(state, strict=True)
    module = module.to(memory_format=torch.channels_last).eval()
    estimator.image_shape_ = tuple(fitted["image_shape_"])
    estimator.preprocess_ = _decode_preprocess(fitted["preprocess_"])
    if "head_" in fitted:
        estimator.head_ = fitted["head_"]
    for name in _FITTED_SCALARS:
        if name in fitted:
            setattr(estimator, name, fitted[name])
    if "feature_names_in_" in fitted:
        estimator.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
    if metadata["class"] == "PretrainedFeatures":
        estimator.module_ = module
        return estimator
    if not hasattr(estimator, "max_epochs_"):
        # Files written before max_epochs_ existed: their max_epochs was an
        # int, or TransferClassifier's "auto", which does not depend on n_samples.
        estimator.max_epochs_ = estimator._n_epochs(n_samples=1)
    data = InMemoryImages(torch.zeros((1, *estimator.image_shape_), dtype=torch.uint8))
    estimator.net_ = make_net(estimator, module, data, seed=0).initialize()
    estimator.net_.history = History(fitted["history_"])
    estimator.module_ = estimator.net_.module_
    estimator.module_.eval()
    estimator.history_ = estimator.net_.history
    return estimator

