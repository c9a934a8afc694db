"""Which device and arithmetic a fit runs with."""

import functools
import warnings

import torch

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

MIXED_PRECISION_OPTIONS = ("no", "bf16")


def resolve_device(device):
    """Map "auto" to "cuda" when a GPU is present, else "cpu"; other names pass through."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@functools.cache
def supports_fused(optimizer, device):
    """Whether torch has a fused (single-kernel) ``optimizer`` step on ``device``.

    The fused Adam, AdamW and SGD steps update every parameter in one kernel
    instead of a chain of per-tensor operations, which is most of the
    optimizer's time for small networks on the CPU.
    """
    try:
        param = torch.nn.Parameter(torch.zeros(1, device=device))
        OPTIMIZERS[optimizer]([param], lr=0.1, fused=True)
    except (AssertionError, RuntimeError, TypeError, ValueError):
        return False
    return True


def bf16_supported(device):
    """Whether ``device`` computes bfloat16 natively (CPU: AVX-512 BF16 or AMX via oneDNN)."""
    if torch.device(device).type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def autocast_dtype(mixed_precision, device):
    """The ``torch.autocast`` dtype of a ``mixed_precision`` parameter, or None for float32.

    Parameters
    ----------
    mixed_precision : {"no", "bf16"}
        "bf16" computes convolutions and matrix products in bfloat16 (weights
        and the optimizer stay float32), as ``torch.autocast`` does.
    device : str
        Resolved torch device.

    Returns
    -------
    dtype : torch.dtype or None
        ``torch.bfloat16``, or None when ``mixed_precision="no"`` or the
        device lacks bfloat16 support: then float32 is used, with one warning.
    """
    if mixed_precision == "no":
        return None
    if not bf16_supported(device):
        warnings.warn(
            f"mixed_precision='bf16' needs bfloat16 support (a CPU with AVX-512 BF16 or "
            f"AMX, or a recent GPU); device {device!r} has none, so float32 is used.",
            UserWarning,
            stacklevel=3,
        )
        return None
    return torch.bfloat16
