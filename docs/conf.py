"""Sphinx configuration for sk_imgcls.

The gallery runs every script in ``examples/`` during the build (sphinx-gallery);
``-D plot_gallery=0`` skips running them while editing the text.
"""

import shutil
from pathlib import Path

import sk_imgcls

DOCS = Path(__file__).resolve().parent

project = "sk_imgcls"
author = "sk_imgcls developers"
copyright = "sk_imgcls developers"
release = sk_imgcls.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinx_design",
]

# -- API reference --------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/*.examples", "auto_examples/*.ipynb"]

# -- Cross-references ---------------------------------------------------------
# Every reference into sk_imgcls must resolve (sphinx -W fails otherwise).
# Other projects' inventories would be downloaded by intersphinx, which the
# offline build machines cannot do, so references to them stay plain text
# instead of failing the build.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(sklearn|numpy|np|torch|torchvision|timm|skorch|PIL|joblib|pandas|imblearn"
               r"|matplotlib|safetensors|onnx|onnxruntime|skl2onnx|os|pathlib|collections|typing)(\..*)?"),
    (r"py:.*", r"(str|int|float|bool|tuple|list|dict|callable|None|ndarray|array-like|path-like"
               r"|object|Exception|ValueError|OSError|TypeError)"),
]

# -- Gallery ------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Every script in examples/ is run; test_docs.py checks none is left out.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "reference_url": {"sk_imgcls": None},
    "doc_module": ("sk_imgcls",),
    "backreferences_dir": "generated/backreferences",
    "inspect_global_variables": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
}

# -- HTML -----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sk_imgcls {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 7,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
    "navigation_with_keys": False,
}
html_sidebars = {"index": [], "install": [], "getting_started": [], "changes": []}
html_show_sourcelink = False

# The landing page shows the photo grid of the transfer-learning example.
# When the gallery is not run (plot_gallery=0) or the photos are absent, that
# figure is not made; a placeholder keeps the page (and -W) building.
LANDING_FIGURE = DOCS / "auto_examples" / "images" / "sphx_glr_plot_transfer_ants_bees_001.png"


def _ensure_landing_figure(app):
    if not LANDING_FIGURE.exists():
        import sphinx_gallery

        LANDING_FIGURE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(sphinx_gallery.__file__).parent / "_static" / "no_image.png", LANDING_FIGURE)


def setup(app):
    # After sphinx-gallery has run the examples (its handler has priority 500).
    app.connect("builder-inited", _ensure_landing_figure, priority=900)
