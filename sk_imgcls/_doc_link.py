"""Links from an estimator's notebook diagram to its page in the API reference."""

# The API reference (docs/api.rst) generates one page per public name,
# generated/<public module>.<name>.html, e.g.
# generated/sk_imgcls.preprocessing.Resize.html.
_DOCS_URL = "https://sk-imgcls.readthedocs.io/en/{version_url}/generated/"


def _version_url():
    """Docs version matching the installed package: "latest" for development builds."""
    from . import __version__

    return "latest" if ".dev" in __version__ else __version__


def _url_params(estimator):
    """Fill ``_doc_link_template`` for ``estimator``, as scikit-learn does for its own.

    The module is the public one the class is imported from: the dotted path
    of its defining module up to the first private part, so
    ``sk_imgcls._cnn.CNNClassifier`` links to ``sk_imgcls.CNNClassifier`` and
    ``sk_imgcls.preprocessing._resize.Resize`` to
    ``sk_imgcls.preprocessing.Resize``.
    """
    parts = type(estimator).__module__.split(".")
    public = []
    for part in parts:
        if part.startswith("_"):
            break
        public.append(part)
    return {
        "version_url": _version_url(),
        "estimator_module": ".".join(public),
        "estimator_name": type(estimator).__name__,
    }


class DocLinkMixin:
    """Point the HTML representation of an estimator to the sk_imgcls docs.

    scikit-learn's HTML diagram (``estimator._repr_html_()``, shown by Jupyter)
    links each estimator's name to ``_get_doc_link()`` and, when that link
    exists, shows each parameter's numpydoc description as a tooltip. By
    default the link is built for estimators of the ``sklearn`` package only;
    these class attributes build it for sk_imgcls. Put this mixin first in the
    bases, before ``BaseEstimator``, so that its attributes take precedence.

    Examples
    --------
    >>> from sk_imgcls.preprocessing import Resize
    >>> Resize(size=32)._get_doc_link()  # doctest: +ELLIPSIS
    'https://sk-imgcls.readthedocs.io/en/.../generated/sk_imgcls.preprocessing.Resize.html'
    """

    _doc_link_module = "sk_imgcls"
    _doc_link_template = _DOCS_URL + "{estimator_module}.{estimator_name}.html"
    _doc_link_url_param_generator = _url_params
