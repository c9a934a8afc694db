"""Backbone names: which library builds a model, and close matches for a misspelled one."""

import difflib
import functools

DEFAULT_BACKBONE = "tf_efficientnet_lite0"

_PREFIXES = ("torchvision", "timm")


# Read once and kept as sets: every resolution tests membership several times.
@functools.cache
def _torchvision_names():
    from torchvision import models

    # module= keeps the classification models; detection, segmentation,
    # video and quantized models live in submodules.
    return frozenset(models.list_models(module=models))


@functools.cache
def _timm_names():
    import timm

    return frozenset(timm.list_models())


@functools.cache
def _timm_pretrained_names():
    import timm

    return frozenset(timm.list_pretrained())


def _unknown_name(name, library=None):
    """ValueError for an unknown backbone, with the close matches of the libraries asked."""
    model = name.partition("/")[2] if library else name
    known = set()
    if library in (None, "torchvision"):
        known |= _torchvision_names()
    if library in (None, "timm"):
        known |= _timm_names()
    close = difflib.get_close_matches(model.lower(), sorted(known), n=5, cutoff=0.6)
    # Spelled as they resolve: with the prefix the user gave, else plain.
    close = [f"{library}/{n}" if library else n for n in close]
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    where = {
        None: "torchvision.models.list_models() and timm.list_models()",
        "torchvision": "torchvision.models.list_models()",
        "timm": "timm.list_models()",
    }[library]
    return ValueError(f"Unknown backbone {name!r}.{hint} Known names: {where}.")


def resolve_backbone_name(name):
    """Split a backbone name into the library that builds it and its model name.

    Parameters
    ----------
    name : str
        One of:

        - "torchvision/<model>": a torchvision classification model, any name
          of ``torchvision.models.list_models(module=torchvision.models)``
          ("torchvision/resnet18", "torchvision/convnext_tiny");
        - "timm/<model>" or "timm/<model>.<tag>": a timm model, any name of
          ``timm.list_models()``, optionally with a pretrained tag of
          ``timm.list_pretrained()`` ("timm/resnet18.a1_in1k");
        - a plain "<model>": torchvision if it has the model, else timm. So
          "resnet18" is torchvision's, "timm/resnet18" timm's, and
          "tf_efficientnet_lite0", which only timm has, is timm's.

    Returns
    -------
    library : {"torchvision", "timm"}
        The library that builds the model.
    model_name : str
        The name that library knows it by, with the timm tag if any.

    Raises
    ------
    ValueError
        If the library prefix is neither "torchvision/" nor "timm/"; if
        neither library knows the name (the message lists the closest known
        names, found with ``difflib``); if a timm tag is unknown (the message
        lists the model's tags).
    TypeError
        If ``name`` is not a str.

    See Also
    --------
    load_backbone : Build the backbone; its ``name`` is resolved here.

    Notes
    -----
    The names are those of ``torchvision.models.list_models`` and
    ``timm.list_models`` / ``timm.list_pretrained``, read once per process.

    Examples
    --------
    The resolved name is the ``name`` of the backbone:

    >>> from sk_imgcls import load_backbone
    >>> load_backbone("resnet18", weights=None).name
    'torchvision/resnet18'
    >>> load_backbone("timm/resnet18", weights=None).name
    'timm/resnet18'
    >>> load_backbone("tf_efficientnet_lite0", weights=None).name
    'timm/tf_efficientnet_lite0'
    >>> load_backbone("resnet81", weights=None)
    Traceback (most recent call last):
    ...
    ValueError: Unknown backbone 'resnet81'. Did you mean 'resnet18', ...
    """
    if not isinstance(name, str):
        raise TypeError(f"Backbone name must be a str, got {type(name).__name__}.")
    library, sep, model = name.partition("/")
    if not sep:
        library, model = None, name
    elif library not in _PREFIXES:
        raise ValueError(
            f"Unknown backbone {name!r}: the library prefix must be 'torchvision/' or "
            "'timm/', or none."
        )
    if library in (None, "torchvision") and model in _torchvision_names():
        return "torchvision", model
    if library in (None, "timm"):
        if model in _timm_names():
            return "timm", model
        arch, dot, _ = model.partition(".")
        if dot and arch in _timm_names():
            if model in _timm_pretrained_names():
                return "timm", model
            import timm

            tags = ", ".join(timm.list_pretrained(f"{arch}.*")) or "none"
            raise ValueError(
                f"Unknown pretrained tag in backbone {name!r}; timm has these for "
                f"{arch!r}: {tags}."
            )
    raise _unknown_name(name, library)
