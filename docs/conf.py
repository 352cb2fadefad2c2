"""Sphinx configuration of the sklearn-supreme documentation.

Build (from the repository root; warnings are errors, every example runs)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build needs no network: no intersphinx, no CDN, no theme asset downloads,
and MathJax is served from inside the built site (see ``mathjax_path`` below).
"""

import os
import sys
from pathlib import Path

import sklearn_supreme
import torch

# Local helpers (docs/_ext) importable by name from the configuration.
sys.path.insert(0, str(Path(__file__).parent / "_ext"))
from gallery_order import EXAMPLE_ORDER  # noqa: E402

# -- Project -----------------------------------------------------------------------
project = "sklearn-supreme"
author = "sklearn-supreme developers"
copyright = "sklearn-supreme developers, BSD-3-Clause"
release = sklearn_supreme.__version__
version = release

# -- General -----------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # Ships MathJax 3.2.2 and copies it into _static/mathjax: equations render offline
    # (readers and CI have no internet, so the default CDN MathJax would leave raw TeX).
    # imgmath would need LaTeX and dvipng; MathJax stays the familiar, selectable text.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
root_doc = "index"
default_role = "literal"
# Facts the prose states, read from the code so that they cannot go stale.
_balance = sklearn_supreme.SupremeClusterer().balance_weight
_balance_sentence = (
    f"For the same reason the default was raised to ``balance_weight={_balance}``."
    if _balance > 1
    else f"The default is still the paper's unweighted ``balance_weight={_balance}``."
)
rst_epilog = f"""
.. |balance_default_sentence| replace:: {_balance_sentence}
"""
# No intersphinx: it would fetch inventories from the web at every build.
# So references to other projects cannot resolve (they render as plain code), but
# every reference to this package's own objects must: nitpicky mode turns a dead one
# into a warning, and the -W build into a failure.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(sklearn|torch|joblib|skorch|numpy|scipy|fnmatch|tarfile)(\..*)?"),
]

# -- Math --------------------------------------------------------------------------
# Relative to _static/, where sphinx-mathjax-offline copies the MathJax files.
mathjax_path = "mathjax/tex-chtml.js"

# -- autodoc / autosummary / numpydoc ---------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"
# numpydoc lists class members itself only when asked; autosummary's class template
# (docs/_templates/autosummary/class.rst) documents the methods instead, which avoids
# "stub file not found" warnings for inherited scikit-learn methods.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True


def _skip_member(app, what, name, obj, skip, options):
    """Hide scikit-learn's generated ``set_*_request`` methods (metadata routing).

    Their docstrings are written for scikit-learn's own site and refer to labels that
    only exist there; users find them in scikit-learn's documentation.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


# -- sphinx-gallery ----------------------------------------------------------------
# The examples run inside this process with one torch thread: their networks are too
# small to gain from intra-op threads, more threads than free cores slow them down
# several fold (the gallery took 10 min instead of 2 on two busy cores), and the
# printed scores then do not depend on the build machine's number of cores.
torch.set_num_threads(1)
# The examples draw with the non-interactive backend, whatever the caller's default.
os.environ.setdefault("MPLBACKEND", "Agg")

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # A broken example fails the build instead of rendering a traceback.
    "abort_on_example_error": True,
    # Per-example run times go to the build log and the footer of each example page.
    # No sg_execution_times page: sphinx-gallery builds it with scripts from a CDN.
    "write_computation_times": False,
    "min_reported_time": 0,
    "within_subsection_order": "gallery_order.example_order",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    # "Examples using X" on each API page.
    "doc_module": ("sklearn_supreme",),
    "backreferences_dir": "api/generated/backreferences",
    "show_memory": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "log_level": {"backreference_missing": "debug"},
}

# -- HTML --------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-supreme {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_theme_options = {
    "logo": {"text": "sklearn-supreme"},
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    # Example pages give the width to the code (79-character lines fit at 1280 px);
    # exact names, as a second wildcard pattern would match pages twice.
    "secondary_sidebar_items": {
        "**": ["page-toc"],
        **{f"auto_examples/{Path(name).stem}": [] for name in EXAMPLE_ORDER},
    },
    # Nothing here that loads from the web: no version switcher JSON, no analytics,
    # no icon links to hosts that a reader offline could not reach.
    "icon_links": [],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "benchmarks": [], "user_guide": []}
html_context = {"default_mode": "light"}


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)

