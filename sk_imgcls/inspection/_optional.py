"""The optional dependencies of the inspection tools, imported when first needed."""

_EXTRA = 'pip install "sk-imgcls[inspection]"'


def import_pyplot(caller):
    """``matplotlib.pyplot``, or an ImportError naming the extra that installs it.

    Parameters
    ----------
    caller : str
        Name of the function or class that needs matplotlib, for the message.

    Returns
    -------
    pyplot : module
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib, which is not installed; install it with {_EXTRA}."
        ) from exc
    return plt


def import_grad_cam(caller):
    """``(GradCAM, ClassifierOutputTarget)`` of the ``grad-cam`` package, or an ImportError."""
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs the grad-cam package (import name pytorch_grad_cam), which is "
            f"not installed; install it with {_EXTRA}."
        ) from exc
    return GradCAM, ClassifierOutputTarget
