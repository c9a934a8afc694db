"""Warnings that point at the user's code."""

import os
import sys


def caller_stacklevel():
    """The ``stacklevel`` of ``warnings.warn`` that points at the user's code.

    For a ``warnings.warn`` call in the function that calls this one: the
    first frame outside this package and the libraries it runs through
    (scikit-learn's ``_fit_context`` wrapper, a Pipeline and its joblib
    cache, skorch's training loop, torch modules), so a warning names the
    user's ``fit`` or ``pipe.fit`` line rather than ours.
    """
    import joblib
    import skorch
    import sklearn
    import torch

    packages = (sys.modules[__package__], sklearn, joblib, skorch, torch)
    skipped = tuple(os.path.dirname(os.path.abspath(p.__file__)) + os.sep for p in packages)
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_code.co_filename.startswith(skipped):
        frame, level = frame.f_back, level + 1
    return level
