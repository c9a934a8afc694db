"""Local weight files: read with timm's loader, loaded into a backbone with every key checked."""

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

# Keys whose absence from a weight file changes no output: the counter is read
# only by batch norm with momentum=None, and checkpoints written before
# PyTorch 0.4.1 or converted from other frameworks leave it out.
_OPTIONAL_KEYS = ("num_batches_tracked",)
# Longest list of keys an error message spells out.
_MAX_KEYS_SHOWN = 10


def _refused_pickled_code(exc):
    """Whether ``exc`` is torch.load(weights_only=True) refusing a class or function."""
    # timm re-raises torch's UnpicklingError as a RuntimeError. torch's other
    # UnpicklingErrors ("Unsupported operand") come from bytes that are no
    # pickle at all, which is a damaged file, not code.
    cause = exc if isinstance(exc, pickle.UnpicklingError) else exc.__cause__
    return isinstance(cause, pickle.UnpicklingError) and "Unsupported global" in str(cause)


def _no_state_dict(path):
    return ValueError(
        f"{str(path)!r} holds no state_dict: expected a dict of tensors, or a "
        "checkpoint dict with one under 'state_dict' or 'model'."
    )


def _read_weight_file(path):
    """The state_dict of a local .pt, .pth, .bin or .safetensors file, as a dict of tensors.

    Read by ``timm.models.load_state_dict``: safetensors by suffix, anything
    else with ``torch.load(weights_only=True)``; the "state_dict" or "model"
    of a checkpoint dict; without the "module." prefix of ``nn.DataParallel``.
    Every error names ``path``: FileNotFoundError if it is no file,
    ValueError if it holds pickled code, cannot be parsed or holds no
    state_dict.
    """
    from timm.models import load_state_dict

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights={str(path)!r} is not a file. weights must be 'imagenet', None "
            "or the path of a local weight file (.pt, .pth, .bin or .safetensors)."
        )
    try:
        # use_ema=False: a checkpoint's "state_dict" or "model", never its
        # "state_dict_ema", as load_backbone documents.
        state = load_state_dict(str(path), use_ema=False, device="cpu", weights_only=True)
    except (OSError, MemoryError):
        # Errors of the file system name the file already.
        raise
    except AttributeError as exc:
        # timm's clean_state_dict calls .items() on what the file holds and
        # .startswith() on its keys: the file was read but is no state_dict.
        raise _no_state_dict(path) from exc
    except Exception as exc:
        if _refused_pickled_code(exc):
            raise ValueError(
                f"{str(path)!r} holds pickled Python objects (such as a whole nn.Module), "
                "which torch.load(weights_only=True) refuses because loading them can run "
                "arbitrary code. Save the model's state_dict instead "
                "(torch.save(model.state_dict(), path)) or use safetensors."
            ) from exc
        # A damaged file fails deep inside torch's unpickler, its zip reader or
        # safetensors' header parser, as EOFError, KeyError, IndexError,
        # RuntimeError or SafetensorError, none of which names the file.
        reader = "safetensors" if path.suffix == ".safetensors" else "torch.load"
        raise ValueError(
            f"{str(path)!r} is not a readable weight file: {reader} cannot parse it "
            f"({type(exc).__name__}). It may be empty, truncated or of another format; "
            "expected a state_dict saved by torch.save (.pt, .pth, .bin) or by "
            "safetensors (.safetensors)."
        ) from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise _no_state_dict(path)
    return dict(state)


def _format_keys(keys):
    shown = ", ".join(keys[:_MAX_KEYS_SHOWN])
    more = len(keys) - _MAX_KEYS_SHOWN
    return f"{shown}, ... ({more} more)" if more > 0 else shown


def _load_checked(module, state, *, ignore_prefixes, source, name):
    """Load ``state`` into ``module``; every key and shape must match, except the old head's.

    Unlike ``torch.nn.Module.load_state_dict(strict=True)``, keys under
    ``ignore_prefixes`` and missing ``num_batches_tracked`` buffers are
    allowed, and the ValueError names ``source`` and lists at most ten
    missing, unexpected and mis-shaped keys of each kind, with their counts.
    """
    expected = module.state_dict()
    missing = [
        k for k in expected if k not in state and k.rpartition(".")[2] not in _OPTIONAL_KEYS
    ]
    unexpected = [k for k in state if k not in expected and not k.startswith(ignore_prefixes)]
    misshaped = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or misshaped:
        problems = [
            f"{label} ({len(keys)}): {_format_keys(keys)}"
            for label, keys in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("mis-shaped keys", misshaped),
            )
            if keys
        ]
        raise ValueError(
            f"The weights in {source} do not fit backbone {name!r}: " + "; ".join(problems) + "."
        )
    module.load_state_dict({k: state[k] for k in expected if k in state}, strict=False)
