"""Which device and arithmetic a fit runs with."""

import functools
import warnings

import torch

from ._warnings import caller_stacklevel

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

MIXED_PRECISION_OPTIONS = ("no", "bf16", "fp16")


_DEVICE_TYPES = ("cpu", "cuda", "mps")


def _mps_available():
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def resolve_device(device):
    """The torch device a ``device`` parameter names, checked to exist on this machine.

    Parameters
    ----------
    device : str
        "auto" (CUDA when available, then MPS, then the CPU), or a torch
        device string: "cpu", "cuda", "cuda:1", "mps".

    Returns
    -------
    device : str

    Raises
    ------
    ValueError
        If ``device`` is not a torch device string, names a type other than
        cpu, cuda or mps, or a device this machine does not have; the
        message says what to install or pass instead.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device ({exc}). Pass 'auto', 'cpu', 'cuda', "
            "'cuda:<index>' or 'mps'."
        ) from None
    if parsed.type not in _DEVICE_TYPES:
        raise ValueError(
            f"device={device!r} is a torch device of type {parsed.type!r}, on which "
            "sk_imgcls cannot train or predict; pass 'auto', 'cpu', 'cuda' or 'mps'."
        )
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but torch.cuda.is_available() is False: "
                "install a CUDA build of PyTorch (and a GPU driver), or pass device='cpu' "
                "or device='auto'."
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)."
            )
    if parsed.type == "mps" and not _mps_available():
        raise ValueError(
            f"device={device!r} was requested but torch.backends.mps.is_available() is "
            "False (MPS needs an Apple-silicon Mac); pass device='cpu' or device='auto'."
        )
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
    mixed_precision : {"no", "bf16", "fp16"}
        "bf16" and "fp16" compute convolutions and matrix products in
        bfloat16 or float16 (weights and the optimizer stay float32), as
        ``torch.autocast`` does; training scales float16 losses with
        ``torch.amp.GradScaler``.
    device : str
        Resolved torch device.

    Returns
    -------
    dtype : torch.dtype or None
        ``torch.bfloat16`` or ``torch.float16``; None when
        ``mixed_precision="no"``, or for "bf16" on a device without bfloat16
        support: then float32 is used, with one warning.
    """
    if mixed_precision == "no":
        return None
    if mixed_precision == "fp16":
        return torch.float16
    if not bf16_supported(device):
        warnings.warn(
            f"mixed_precision='bf16' needs bfloat16 support (a CPU with AVX-512 BF16 or "
            f"AMX, or a recent GPU); device {str(device)!r} has none, so float32 is used.",
            UserWarning,
            stacklevel=caller_stacklevel(),
        )
        return None
    return torch.bfloat16
