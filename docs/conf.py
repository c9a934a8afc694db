"""Sphinx configuration for sk_imgcls."""

import sk_imgcls

project = "sk_imgcls"
author = "sk_imgcls developers"
release = sk_imgcls.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
]
autosummary_generate = True
autodoc_default_options = {"members": True}
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/*.examples"]
html_theme = "alabaster"
# Cross-references to other projects are not resolved offline; keep them plain.
intersphinx_mapping = {}
nitpicky = False
