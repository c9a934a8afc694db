"""Checks of the documentation sources that need no docs build.

The build itself (``make docs``: ``sphinx -W`` with ``nitpicky``, the gallery
running every example) is the final check; these tests catch the commonest
breakages in seconds: an example left out of the gallery, a public name left
out of the API reference, a reference to a name that is not documented, an
estimator whose notebook diagram does not link to its page.
"""

import builtins
import importlib
import inspect
import pkgutil
import re
import runpy
from pathlib import Path

import pytest
from numpydoc.docscrape import NumpyDocString
from sklearn.base import BaseEstimator

import sk_imgcls

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"

# References to other projects stay plain text in the offline build
# (conf.py's nitpick_ignore_regex); these tests check references into sk_imgcls.
EXTERNAL = re.compile(
    r"(sklearn|numpy|np|torch|torchvision|timm|skorch|PIL|joblib|pandas|imblearn|matplotlib"
    r"|safetensors|onnx|onnxruntime|skl2onnx|os|pathlib|collections|typing)(\.|$)"
)
ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|attr|obj|exc|data|ref|doc):`([^`]+)`")


def _public_modules():
    """sk_imgcls and every subpackage or module of it without a private part."""
    names = ["sk_imgcls"]
    for info in pkgutil.walk_packages(sk_imgcls.__path__, "sk_imgcls."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return [importlib.import_module(name) for name in names]


def _public_names():
    """Fully qualified public names: ``<public module>.<name in its __all__>``."""
    return {
        f"{module.__name__}.{name}"
        for module in _public_modules()
        for name in getattr(module, "__all__", [])
        # __version__ is a string, shown in the page title, not an API page.
        if not (name.startswith("__") and name.endswith("__"))
    }


def _api_page_names():
    """Names listed in the autosummary tables of docs/api.rst, fully qualified."""
    names, module, in_autosummary = set(), None, False
    for line in (DOCS / "api.rst").read_text().splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = match.group(1)
        elif line.startswith(".. autosummary::"):
            in_autosummary = True
        elif in_autosummary and line and not line.startswith(" "):
            in_autosummary = False
        elif in_autosummary and (entry := line.strip()) and not entry.startswith(":"):
            names.add(f"{module}.{entry}")
    return names


def _object(qualified):
    module, name = qualified.rsplit(".", 1)
    return importlib.import_module(module).__dict__[name]


PUBLIC = _public_names()
PUBLIC_MODULES = {module.__name__ for module in _public_modules()}
PUBLIC_OBJECTS = [_object(name) for name in PUBLIC]


def _resolves(target, module=None, cls=None):
    """Whether a Python reference resolves to a documented name (or one of its members).

    Candidates are tried as Sphinx's Python domain does: the name as written,
    then inside the current module, then inside the current class.
    """
    target = target.lstrip("~.")
    candidates = [target]
    if module:
        candidates.append(f"{module}.{target}")
        if cls:
            candidates.append(f"{module}.{cls}.{target}")
    for candidate in candidates:
        if candidate in PUBLIC_MODULES:
            return True
        parts = candidate.split(".")
        for i in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:i + 1])
            if head in PUBLIC:
                obj = _object(head)
                rest = parts[i + 1:]
                if all(not attr.startswith("_") for attr in rest) and _has_path(obj, rest):
                    return True
                break
        # autodoc also registers each class under its canonical (defining)
        # path, e.g. sk_imgcls._image_io.ImageReadError.
        if _import(candidate) in PUBLIC_OBJECTS:
            return True
    return False


def _import(dotted):
    """The object at a dotted path, or None."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr, None)
        return obj
    return None


def _has_path(obj, attrs):
    for attr in attrs:
        if not hasattr(obj, attr):
            return False
        obj = getattr(obj, attr)
    return True


def _labels():
    """Labels a ``:ref:`` can reach: explicit targets in docs/ and the gallery's."""
    labels = {"genindex", "modindex", "search"}
    for path in DOCS.glob("*.rst"):
        labels.update(re.findall(r"^\.\. _([^:]+):\s*$", path.read_text(), flags=re.M))
    for path in EXAMPLES.glob("*.py"):
        labels.add(f"sphx_glr_auto_examples_{path.name}")
    return labels


def _doc_exists(target, source_dir):
    target = target.strip()
    path = (DOCS / target.lstrip("/")) if target.startswith("/") else (source_dir / target)
    relative = path.resolve().relative_to(DOCS.resolve())
    if relative.parts[:1] == ("auto_examples",):
        name = relative.parts[-1]
        return name == "index" or (EXAMPLES / f"{name}.py").exists()
    return path.with_suffix(".rst").exists()


def _broken_roles(text, *, module=None, cls=None, source_dir=DOCS):
    broken = []
    labels = _labels()
    for kind, body in ROLE.findall(text):
        target = re.search(r"<([^>]+)>$", body).group(1) if body.endswith(">") else body
        if kind == "ref":
            ok = target in labels
        elif kind == "doc":
            ok = _doc_exists(target, source_dir)
        elif EXTERNAL.match(target.lstrip("~.")) or hasattr(builtins, target.lstrip("~.")):
            continue
        else:
            ok = _resolves(target, module, cls)
        if not ok:
            broken.append(f":{kind}:`{body}`")
    return broken


def _documented_objects():
    """(public module, class name or None, object) for every public name and method."""
    for qualified in sorted(PUBLIC):
        module, name = qualified.rsplit(".", 1)
        obj = _object(qualified)
        yield module, None, obj
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and callable(member) and member.__doc__:
                    yield module, name, member


def test_every_example_is_in_the_gallery():
    """Check that sphinx-gallery picks up every script in examples/, each with a title and a figure."""
    conf = runpy.run_path(str(DOCS / "conf.py"))
    gallery = conf["sphinx_gallery_conf"]
    assert (DOCS / gallery["examples_dirs"]).resolve() == EXAMPLES
    assert (EXAMPLES / "GALLERY_HEADER.rst").exists()
    scripts = sorted(EXAMPLES.glob("*.py"))
    assert scripts
    for script in scripts:
        # sphinx-gallery matches both patterns against the full path.
        assert re.search(gallery["filename_pattern"], str(script)), f"{script.name} is not run"
        assert not re.search(gallery["ignore_pattern"], str(script)), f"{script.name} is ignored"
        source = script.read_text()
        docstring = re.match(r'\s*"""(.*?)"""', source, flags=re.S)
        assert docstring and re.search(r"^(=+)\n.+\n\1$", docstring.group(1).strip(), flags=re.M), (
            f"{script.name} needs a docstring that opens with a title between = lines"
        )
        assert "matplotlib" in source and re.search(r"\bsubplots?\(|Display\.", source), (
            f"{script.name} draws no figure"
        )
    toctree = (DOCS / "index.rst").read_text()
    assert "auto_examples/index" in toctree


def test_every_public_name_is_in_the_api_reference():
    """Check that the API page lists every name of every public ``__all__``, and nothing else."""
    listed = _api_page_names()
    assert not PUBLIC - listed, f"missing from docs/api.rst: {sorted(PUBLIC - listed)}"
    assert not listed - PUBLIC, f"not public, yet in docs/api.rst: {sorted(listed - PUBLIC)}"


def test_references_in_the_docs_pages_resolve():
    """Check that every role in docs/*.rst and the examples points to something documented."""
    broken = {}
    for path in sorted(DOCS.glob("*.rst")):
        module = None
        for line in path.read_text().splitlines():
            if match := re.match(r"\.\. currentmodule:: (\S+)", line):
                module = match.group(1)
            if found := _broken_roles(line, module=module):
                broken.setdefault(path.name, []).extend(found)
    for path in sorted(EXAMPLES.glob("*.py")):
        if found := _broken_roles(path.read_text(), source_dir=DOCS / "auto_examples"):
            broken[path.name] = found
    assert not broken, broken


def test_references_in_docstrings_resolve():
    """Check that roles and See Also entries of public docstrings name documented objects."""
    broken = {}
    for module, cls, obj in _documented_objects():
        doc = inspect.getdoc(obj) or ""
        where = f"{module}.{cls + '.' if cls else ''}{obj.__name__}"
        scope = cls or (obj.__name__ if inspect.isclass(obj) else None)
        found = _broken_roles(doc, module=module, cls=scope, source_dir=DOCS / "generated")
        for names, _ in NumpyDocString(doc)["See Also"]:
            for name, _role in names:
                if not EXTERNAL.match(name) and not _resolves(name, module, scope):
                    found.append(f"See Also: {name}")
        if found:
            broken[where] = found
    for module in sorted(PUBLIC_MODULES):
        doc = importlib.import_module(module).__doc__ or ""
        if found := _broken_roles(doc, module=module):
            broken[module] = found
    assert not broken, broken


@pytest.mark.parametrize(
    "name",
    sorted(n for n in PUBLIC if inspect.isclass(_object(n)) and issubclass(_object(n), BaseEstimator)),
)
def test_estimator_html_repr_links_to_its_api_page(name):
    """Check that the notebook diagram links to the estimator's API page and shows parameter docs."""
    estimator = _object(name)()
    link = estimator._get_doc_link()
    assert link.endswith(f"/generated/{name}.html"), link
    assert link.startswith("https://sk-imgcls.readthedocs.io/en/")
    html = estimator._repr_html_()
    tooltips = re.findall(r'<span class="param-doc-description"[^>]*>\s*([^:<]+):', html)
    missing = set(estimator.get_params(deep=False)) - {t.strip() for t in tooltips}
    assert not missing, f"parameters without a documentation tooltip: {sorted(missing)}"
