"""Sphinx configuration of the miniquant site: MyST-NB tutorials, numpydoc API, offline MathJax.

Build (from the project root): ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
Nothing is fetched at build or view time: MathJax is copied from the ``sphinx-mathjax-offline``
package into ``_static/mathjax``, there is no intersphinx, and the theme's fonts and icons
are bundled with it. ``tests/docs/test_site.py`` builds the site and checks all of this.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

project = "miniquant"
author = "the miniquant developers"
copyright = "2026, the miniquant developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]

# -- the tutorials: rendered from ../tutorials, executed at build time -----------------------
# Sphinx reads sources only below docs/, so the notebooks are copied into docs/tutorials/
# (git-ignored) before the build; only changed files are rewritten, so rebuilds stay quick.
_TUTORIALS_OUT = DOCS / "tutorials"
_TUTORIALS_OUT.mkdir(exist_ok=True)
for _nb in sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.ipynb")):
    _dest = _TUTORIALS_OUT / _nb.name
    if not _dest.exists() or _dest.read_bytes() != _nb.read_bytes():
        shutil.copyfile(_nb, _dest)

nb_execution_mode = "force"            # the notebooks are committed without outputs
nb_execution_timeout = 300
nb_execution_raise_on_error = True     # a failing cell fails the build
nb_execution_in_temp = True            # files a tutorial writes do not land in docs/
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# -- the API reference ----------------------------------------------------------------------
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"             # numpydoc shows the types from the docstrings
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

# -- offline MathJax --------------------------------------------------------------------------
# sphinx-mathjax-offline ships MathJax 3 (importable only by its hyphenated folder name). Its
# files are served as static files rather than through its extension, which declares no
# parallel safety; MathJax finds its fonts relative to the script, inside _static/mathjax.
_mathjax_pkg = importlib.util.find_spec("sphinx-mathjax-offline")
if _mathjax_pkg is None or not _mathjax_pkg.submodule_search_locations:
    raise RuntimeError('the docs need MathJax from the "sphinx-mathjax-offline" package: pip install -e ".[docs]"')
_MATHJAX_STATIC = os.path.join(list(_mathjax_pkg.submodule_search_locations)[0], "static")
mathjax_path = "mathjax/tex-chtml.js"

# -- HTML -------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "miniquant"
html_static_path = ["_static", _MATHJAX_STATIC]
html_css_files = ["miniquant.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "header_links_before_dropdown": 7,
    # Tutorials print wide tables and draw wide figures: no on-page contents column beside them.
    "secondary_sidebar_items": {"index": ["page-toc"], "getting-started": ["page-toc"], "concepts": ["page-toc"],
                                "teaching": ["page-toc"], "model-card": ["page-toc"], "api/*": ["page-toc"],
                                "tutorials/*": []},
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"index": [], "getting-started": [], "concepts": [], "teaching": [], "model-card": []}
html_show_sourcelink = False
html_copy_source = False

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "browser_check.py"]
suppress_warnings = ["mystnb.unknown_mime_type"]
