"""ONNX export of fitted estimators and Pipelines, preprocessing included; skl2onnx converters."""

import copy
import re
import warnings

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._base import BaseImageClassifier
from ._features import PretrainedFeatures
from ._input import is_feature_rows
from ._onnx_steps import (
    ClassifierGraph,
    EstimatorPreprocessing,
    FeaturesGraph,
    TransformerStep,
)
from ._validation import resolve_image_shape
from .preprocessing import CenterCrop, Flatten, Grayscale, ImageReshaper, Rescale, Resize

_TRANSFORMERS = (ImageReshaper, Flatten, Resize, CenterCrop, Grayscale, Rescale)
_DTYPES = {"uint8": torch.uint8, "float32": torch.float32, "float64": torch.float64}
# ONNX Resize is not used (see _onnx_steps); 18 is the oldest opset the
# torch.export-based exporter writes.
_MIN_OPSET = 18


def _split(estimator):
    """(transformer steps as (name, step), final estimator) of a Pipeline or a single estimator."""
    if not isinstance(estimator, Pipeline):
        return [], estimator
    steps = [(name, step) for name, step in estimator.steps if step not in (None, "passthrough")]
    if not steps:
        raise ValueError("The Pipeline has no step to export.")
    return steps[:-1], steps[-1][1]


def _check_supported(transformers, final):
    supported = ", ".join(cls.__name__ for cls in _TRANSFORMERS)
    for name, step in transformers:
        if type(step) not in _TRANSFORMERS:
            raise ValueError(
                f"Pipeline step {name!r} ({type(step).__name__}) has no ONNX converter in "
                f"sk_imgcls.to_onnx, which exports the transformers {supported} followed by "
                "CNNClassifier, TransferClassifier or PretrainedFeatures. For scikit-learn "
                "steps, call sk_imgcls.register_converters() and then skl2onnx.to_onnx."
            )
        if isinstance(step, Resize) and (
            step.interpolation not in ("bilinear", "bicubic") or not step.antialias
        ):
            raise ValueError(
                f"Pipeline step {name!r}: only Resize(interpolation='bilinear' or 'bicubic', "
                f"antialias=True) is exported; got interpolation={step.interpolation!r}, "
                f"antialias={step.antialias!r}."
            )
    if not isinstance(final, (BaseImageClassifier, PretrainedFeatures)):
        raise ValueError(
            f"{type(final).__name__} has no ONNX converter in sk_imgcls.to_onnx: it exports "
            "CNNClassifier, TransferClassifier and PretrainedFeatures (alone or after the "
            f"transformers {supported}). For scikit-learn estimators, call "
            "sk_imgcls.register_converters() and then skl2onnx.to_onnx."
        )
    check_is_fitted(final)


def _graph(transformers, final):
    """The torch module computing ``predict_proba`` (or ``transform``) from the raw input."""
    steps = [TransformerStep(step) for _, step in transformers]
    module = copy.deepcopy(final.module_).cpu().eval()
    preprocess = None if final.preprocess_ is None else EstimatorPreprocessing(final.preprocess_)
    if isinstance(final, PretrainedFeatures):
        return FeaturesGraph(steps, preprocess, module)
    flat = final._flat_image_shape()
    flat_shape = None
    if flat is not None and hasattr(final, "n_features_in_"):
        flat_shape = resolve_image_shape(final.n_features_in_, flat)
    tta = final.tta
    if final.preprocess_ is None and is_feature_rows(final.image_shape_):
        tta = None  # as predict_proba: no test-time views of rows of features
    return ClassifierGraph(steps, flat_shape, preprocess, module, tta)


def _unsupported_operators(exc):
    """Names of the torch operators an exporter error reports as having no ONNX translation."""
    names = []
    while exc is not None:
        for name in re.findall(r"No ONNX function found for <OpOverload\(op='([^']+)'", str(exc)):
            if name not in names:
                names.append(name)
        exc = exc.__cause__ or exc.__context__
    return names


def _torch_export(graph, sample, *, dynamic_size, output_names, opset):
    """``torch.onnx.export`` of ``graph`` on ``sample`` (dynamic batch), as an onnx.ModelProto."""
    import onnx.inliner

    x = torch.from_numpy(np.ascontiguousarray(sample))
    # torch.export specializes sizes 0 and 1: trace a batch of two.
    x = torch.cat([x[:1], x[:1]])
    dims = {0: torch.export.Dim("batch")}
    if dynamic_size:
        dims.update({1: torch.export.Dim("height", min=2), 2: torch.export.Dim("width", min=2)})
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                graph,
                (x,),
                dynamo=True,
                verbose=False,
                input_names=["X"],
                output_names=output_names,
                dynamic_shapes={"x": dims},
                opset_version=opset,
            )
        except torch.onnx.OnnxExporterError as exc:
            operators = _unsupported_operators(exc)
            if operators:
                raise ValueError(
                    "The network uses operators that ONNX cannot express (no ONNX function "
                    f"or decomposition in torch.onnx): {', '.join(operators)}."
                ) from exc
            raise
    return onnx.inliner.inline_local_functions(program.model_proto)


def _label_tensor(classes):
    """``classes_`` as an ONNX constant: int64 for integer labels, strings for str labels."""
    from onnx import TensorProto, helper, numpy_helper

    if classes.dtype.kind in "iub":
        return numpy_helper.from_array(classes.astype(np.int64), name="classes"), TensorProto.INT64
    if classes.dtype.kind in "UO" and all(isinstance(c, str) for c in classes):
        encoded = [c.encode("utf-8") for c in classes]
        return (
            helper.make_tensor("classes", TensorProto.STRING, [len(encoded)], encoded),
            TensorProto.STRING,
        )
    raise ValueError(
        "ONNX labels are int64 or strings; the classes of this estimator are "
        f"{classes.dtype} ({list(classes[:5])}). Fit it on integer or string labels."
    )


def _add_labels(model, classes):
    """Replace the graph output ``index`` by ``label``: Gather on the constant ``classes_``."""
    from onnx import helper

    tensor, elem_type = _label_tensor(classes)
    graph = model.graph
    index = next(o for o in graph.output if o.name == "index")
    batch = index.type.tensor_type.shape.dim[0]
    graph.initializer.append(tensor)
    graph.node.append(helper.make_node("Gather", ["classes", "index"], ["label"], axis=0))
    label = helper.make_tensor_value_info(
        "label", elem_type, [batch.dim_param or batch.dim_value or None]
    )
    outputs = [label if o.name == "index" else o for o in graph.output]
    del graph.output[:]
    graph.output.extend(outputs)
    return model


def to_onnx(estimator, X_sample, *, path=None, opset=None):
    """Export a fitted estimator or Pipeline, preprocessing included, as one ONNX graph.

    The graph takes what ``predict`` (or ``transform``) takes for arrays and
    computes what it computes: the Pipeline's transformers, the reshaping of
    flat rows, the estimator's resize and center crop, test-time views
    (``tta``), softmax and the mapping back to the original class labels.

    Parameters
    ----------
    estimator : CNNClassifier, TransferClassifier, PretrainedFeatures or Pipeline
        Fitted. A Pipeline holds any of the transformers ``ImageReshaper``,
        ``Flatten``, ``Resize`` (bilinear or bicubic, antialiased),
        ``CenterCrop``, ``Grayscale``, ``Rescale`` followed by one of the
        three estimators.
    X_sample : ndarray of shape (n_samples, n_features), (n_samples, height, width) \
or (n_samples, height, width, n_channels)
        An input as ``predict`` takes it (one sample is enough); its dtype
        (uint8, float32 or float64) and layout become the graph's input.
        The batch axis is dynamic; so are the height and width when the
        estimator resizes images itself (``preprocess_`` set) and no
        transformer precedes it; otherwise they are those of ``X_sample``.
    path : str or path-like, default=None
        Where to write the model (``.onnx``); None writes nothing.
    opset : int, default=None
        ONNX opset of the default domain, at least 18; None lets
        ``torch.onnx`` choose.

    Returns
    -------
    model : onnx.ModelProto
        Input ``X``. Classifiers: outputs ``label`` (n_samples,), int64 or
        string (``classes_``), and ``probabilities`` (n_samples, n_classes),
        float32, columns following ``classes_`` (skl2onnx's classifier
        outputs with ``zipmap=False``). ``PretrainedFeatures``: output
        ``features`` (n_samples, ``n_features_out_``), float32.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.
    ValueError
        If a Pipeline step has no converter (the message names it); if
        ``X_sample`` is not uint8, float32 or float64 or has another layout
        than ``predict`` accepts; if the labels are neither integers nor
        strings; if the network uses operators ONNX cannot express (the
        message names them); if ``opset`` is below 18.
    ImportError
        If ``onnx`` (and ``onnxscript``, which ``torch.onnx`` needs) is
        missing.

    See Also
    --------
    register_converters : The same export inside ``skl2onnx.to_onnx``.

    Notes
    -----
    Exported through ``torch.onnx.export(dynamo=True)``. torchvision's
    antialiased resize is computed in the graph as ATen computes it (see
    ``sk_imgcls._onnx_steps``): uint8 images are resized to the same pixels,
    float images to within float32 rounding, so onnxruntime's probabilities
    match ``predict_proba`` to about 1e-6. Run it with
    ``onnxruntime.InferenceSession(model.SerializeToString())``.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.pipeline import make_pipeline
    >>> from sk_imgcls import CNNClassifier
    >>> from sk_imgcls import to_onnx
    >>> from sk_imgcls.preprocessing import ImageReshaper
    >>> X, y = load_digits(return_X_y=True)
    >>> pipe = make_pipeline(ImageReshaper((8, 8)), CNNClassifier(max_epochs=2, random_state=0))
    >>> pipe = pipe.fit(X[:500], y[:500])
    >>> session = ort.InferenceSession(to_onnx(pipe, X[:1]).SerializeToString())
    >>> label, proba = session.run(None, {"X": X[500:510]})
    >>> bool((label == pipe.predict(X[500:510])).all())
    True
    >>> bool(np.abs(proba - pipe.predict_proba(X[500:510])).max() < 1e-4)
    True
    """
    import onnx

    if opset is not None and opset < _MIN_OPSET:
        raise ValueError(f"opset must be at least {_MIN_OPSET}; got opset={opset}.")
    transformers, final = _split(estimator)
    _check_supported(transformers, final)
    sample = np.asarray(X_sample)
    if sample.dtype.name not in _DTYPES or sample.ndim not in (2, 3, 4) or len(sample) == 0:
        raise ValueError(
            "X_sample must be a non-empty uint8, float32 or float64 array of shape "
            "(n_samples, n_features), (n_samples, height, width) or (n_samples, height, "
            f"width, n_channels); got dtype {sample.dtype} and shape {sample.shape}."
        )
    # Check the sample as predict would (layout, channels, size).
    if isinstance(final, PretrainedFeatures):
        estimator.transform(sample[:1])
    else:
        estimator.predict(sample[:1])
    classifier = not isinstance(final, PretrainedFeatures)
    model = _torch_export(
        _graph(transformers, final),
        sample,
        dynamic_size=not transformers and sample.ndim > 2 and final.preprocess_ is not None,
        output_names=["index", "probabilities"] if classifier else ["features"],
        opset=opset,
    )
    if classifier:
        model = _add_labels(model, final.classes_)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, path)
    return model


# -- skl2onnx ---------------------------------------------------------------

def _numpy_dtype(variable_type):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, UInt8TensorType

    for onnx_type, dtype in (
        (UInt8TensorType, np.uint8),
        (FloatTensorType, np.float32),
        (DoubleTensorType, np.float64),
    ):
        if isinstance(variable_type, onnx_type):
            return dtype
    raise ValueError(
        f"sk_imgcls converters take uint8, float32 or float64 tensors; got {variable_type}."
    )


def _sample_for(operator):
    """A zero input of the operator's type, its unknown sizes taken from the fitted estimator."""
    estimator = operator.raw_operator
    shape = list(operator.inputs[0].type.shape)
    known = getattr(estimator, "image_shape_", None)
    for axis in range(1, len(shape)):
        if not isinstance(shape[axis], int) or shape[axis] <= 0:
            if len(shape) == 2:
                shape[axis] = estimator.n_features_in_
            else:
                shape[axis] = known[axis - 1]
    shape[0] = 1
    return np.zeros(shape, dtype=_numpy_dtype(operator.inputs[0].type))


def _transformer_shape(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, UInt8TensorType

    sample = _sample_for(operator)
    out = operator.raw_operator.transform(sample)
    types = {np.dtype(np.uint8): UInt8TensorType, np.dtype(np.float32): FloatTensorType}
    operator.outputs[0].type = types.get(out.dtype, DoubleTensorType)([None, *out.shape[1:]])


def _features_shape(operator):
    from skl2onnx.common.data_types import FloatTensorType

    operator.outputs[0].type = FloatTensorType([None, operator.raw_operator.n_features_out_])


def _classifier_shape(operator):
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    classes = operator.raw_operator.classes_
    label = StringTensorType if classes.dtype.kind in "UO" else Int64TensorType
    operator.outputs[0].type = label([None])
    operator.outputs[1].type = FloatTensorType([None, len(classes)])


def _embed(model, scope, container, inputs, outputs):
    """Add the graph of ``model`` to a skl2onnx container, its names made unique in ``scope``."""
    graph = model.graph
    names = {value.name: new for value, new in zip(graph.input, inputs)}
    names.update({value.name: new for value, new in zip(graph.output, outputs)})

    def rename(name):
        if name and name not in names:
            names[name] = scope.get_unique_variable_name(name)
        return names.get(name, name)

    for tensor in graph.initializer:
        tensor = copy.deepcopy(tensor)
        tensor.name = rename(tensor.name)
        container.initializers.append(tensor)
    for node in graph.node:
        node = copy.deepcopy(node)
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        node.name = scope.get_unique_operator_name(node.op_type)
        container.nodes.append(node)
    for opset in model.opset_import:
        container.node_domain_version_pair_sets.add((opset.domain, opset.version))


def _convert(scope, operator, container):
    estimator = operator.raw_operator
    opset = container.target_opset
    if opset is not None and opset < _MIN_OPSET:
        raise ValueError(
            f"sk_imgcls converters need target_opset >= {_MIN_OPSET}; got {opset}."
        )
    sample = _sample_for(operator)
    if isinstance(estimator, _TRANSFORMERS):
        graph, names = TransformerStep(estimator), ["Y"]
    else:
        check_is_fitted(estimator)
        graph = _graph([], estimator)
        names = ["features"] if isinstance(estimator, PretrainedFeatures) else ["index", "probabilities"]
    dims = operator.inputs[0].type.shape
    dynamic = (
        len(dims) > 2
        and not isinstance(estimator, _TRANSFORMERS)
        and estimator.preprocess_ is not None
        and not all(isinstance(d, int) and d > 0 for d in dims[1:3])
    )
    model = _torch_export(graph, sample, dynamic_size=dynamic, output_names=names, opset=opset)
    inputs = [operator.inputs[0].full_name]
    if len(names) == 1:
        _embed(model, scope, container, inputs, [operator.outputs[0].full_name])
        return
    index = scope.get_unique_variable_name("index")
    _embed(model, scope, container, inputs, [index, operator.outputs[1].full_name])
    tensor, _ = _label_tensor(estimator.classes_)
    tensor.name = scope.get_unique_variable_name("classes")
    container.initializers.append(tensor)
    container.add_node(
        "Gather",
        [tensor.name, index],
        [operator.outputs[0].full_name],
        axis=0,
        name=scope.get_unique_operator_name("Gather"),
    )


def register_converters():
    """Register skl2onnx converters for the package's estimators and image transformers.

    After this call, ``skl2onnx.to_onnx`` converts Pipelines holding
    ``CNNClassifier``, ``TransferClassifier``, ``PretrainedFeatures`` and the
    transformers ``ImageReshaper``, ``Flatten``, ``Resize``, ``CenterCrop``,
    ``Grayscale``, ``Rescale`` among scikit-learn steps, e.g.
    ``PretrainedFeatures`` followed by ``LogisticRegression``. Each step is
    exported by ``torch.onnx.export`` as in :func:`to_onnx` and embedded in
    skl2onnx's graph. Calling it again is harmless.

    Raises
    ------
    ImportError
        If skl2onnx is not installed.

    See Also
    --------
    to_onnx : Export without skl2onnx.
    skl2onnx.update_registered_converter : The registration used.

    Notes
    -----
    Classifiers get skl2onnx's classifier options: ``zipmap`` (True by
    default: probabilities as a list of dicts; pass
    ``options={"zipmap": False}`` for a tensor) and ``nocl``. The converters
    need ``target_opset`` of at least 18.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> import skl2onnx
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sk_imgcls import PretrainedFeatures
    >>> from sk_imgcls import register_converters
    >>> X = np.random.RandomState(0).randint(0, 256, size=(8, 40, 40, 3)).astype(np.uint8)
    >>> y = np.array([0, 1] * 4)
    >>> features = PretrainedFeatures("resnet18", weights=None, image_size=32, random_state=0)
    >>> pipe = make_pipeline(features, LogisticRegression()).fit(X, y)
    >>> register_converters()
    >>> model = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    >>> label, proba = ort.InferenceSession(model.SerializeToString()).run(None, {"X": X})
    >>> bool((label == pipe.predict(X)).all())
    True
    """
    from skl2onnx import update_registered_converter

    from ._cnn import CNNClassifier
    from ._transfer import TransferClassifier

    for cls in (CNNClassifier, TransferClassifier):
        update_registered_converter(
            cls,
            f"SkImgcls{cls.__name__}",
            _classifier_shape,
            _convert,
            options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
        )
    update_registered_converter(
        PretrainedFeatures, "SkImgclsPretrainedFeatures", _features_shape, _convert
    )
    for cls in _TRANSFORMERS:
        update_registered_converter(cls, f"SkImgcls{cls.__name__}", _transformer_shape, _convert)
