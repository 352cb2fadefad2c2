"""The documentation: gallery examples, API reference coverage, docstring examples.

The fast tests here run with every test run. The full build, which runs every example,
takes minutes and runs only with ``SKLEARN_SUPREME_BUILD_DOCS=1`` (CI builds the docs
with the same command as the one documented in docs/index.rst).
"""

import ast
import importlib
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("plot_*.py"))

# Modules whose __all__ is the public API documented in docs/api.rst.
PUBLIC_MODULES = [
    "sklearn_supreme",
    "sklearn_supreme.metrics",
    "sklearn_supreme.model_selection",
    "sklearn_supreme.datasets",
    "sklearn_supreme.demo",
    "sklearn_supreme.benchmark",
]

BUILD_COMMAND = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html"]


def _public_objects():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name.startswith("__"):
                continue
            yield module_name, name, getattr(module, name)


def _python_blocks(path):
    """The code of every Python block of a page: ``.. code-block:: python`` in
    reStructuredText, ```` ```python ```` in Markdown."""
    text = path.read_text()
    if path.suffix == ".md":
        return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)
    blocks = []
    for match in re.finditer(r"^\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", text, re.M):
        blocks.append(textwrap.dedent(match.group(1)))
    return blocks


def _digits_split():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[y < 5], y[y < 5], X[y >= 5], y[y >= 5]


@pytest.mark.slow
@pytest.mark.parametrize("page", ["README.md", "docs/index.rst", "docs/user_guide.rst"])
def test_python_code_of_the_pages_runs_as_written(page):
    # Unlike docstrings (doctests) and the gallery (run by the docs build), these
    # blocks are run by nothing else: a renamed parameter would leave them broken.
    blocks = _python_blocks(ROOT / page)
    assert blocks, f"no Python block found in {page}"
    X_source, y_source, X_target, y_target = _digits_split()
    for code in blocks:
        # The README's snippet names the user's arrays; the pages' make their own.
        namespace = {"X_source": X_source, "y_source": y_source, "X_target": X_target,
                     "X_new": X_target[:7]} if page == "README.md" else {}
        exec(compile(code, page, "exec"), namespace)
        model = namespace["model"]
        assert model.labels_.shape == (len(X_target),)
        assert model.predict_proba(X_target[:3]).shape == (3, 5)


def test_gallery_has_examples_and_an_index():
    assert (EXAMPLES / "README.rst").is_file() or (EXAMPLES / "README.txt").is_file()
    assert len(EXAMPLE_FILES) >= 7


def test_every_python_file_of_the_gallery_is_executed():
    # sphinx-gallery renders files that do not match filename_pattern without running
    # them, so a broken example named otherwise would land unnoticed.
    strays = [p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("plot_")]
    assert strays == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_has_a_title_and_cells_and_compiles(path):
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    docstring = ast.get_docstring(tree, clean=False)
    assert docstring, f"{path.name} must start with a docstring (the page title)"
    lines = [line for line in docstring.strip("\n").splitlines()]
    # An RST title: a line of "=", the title, the same line of "=", as sphinx-gallery reads.
    assert re.fullmatch(r"=+", lines[0]) and re.fullmatch(r"=+", lines[2]), path.name
    assert lines[1].strip() and len(lines[0]) >= len(lines[1].rstrip()), path.name
    assert source.count("\n# %%") >= 2, f"{path.name} should be split into # %% cells"
    compile(source, str(path), "exec")


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_is_linked_from_the_user_guide(path):
    guide = (DOCS / "user_guide.rst").read_text(encoding="utf-8")
    assert f"sphx_glr_auto_examples_{path.name}" in guide


def test_gallery_order_names_every_example():
    # The gallery lists examples in docs/_ext/gallery_order.py's order, others last.
    path = DOCS / "_ext" / "gallery_order.py"
    spec = importlib.util.spec_from_file_location("gallery_order", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert sorted(module.EXAMPLE_ORDER) == [path.name for path in EXAMPLE_FILES]


def test_api_reference_lists_every_public_name():
    api = (DOCS / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   ([\w.]+)$", api, flags=re.MULTILINE))
    # Entries are listed under their module's currentmodule, or as "module.name".
    missing = [
        f"{module}.{name}"
        for module, name, _ in _public_objects()
        if name not in listed and f"{module.rsplit('.', 1)[-1]}.{name}" not in listed
    ]
    assert missing == []


PUBLIC_CALLABLES = [
    item for item in _public_objects() if inspect.isclass(item[2]) or inspect.isfunction(item[2])
]


@pytest.mark.parametrize(
    "module, name, obj", PUBLIC_CALLABLES, ids=[f"{m}.{n}" for m, n, _ in PUBLIC_CALLABLES]
)
def test_public_docstring_has_a_doctest_example(module, name, obj):
    # pytest runs these sections as doctests (--doctest-modules in pyproject.toml).
    doc = inspect.getdoc(obj) or ""
    match = re.search(r"^Examples\n-{8,}\n(.*?)(?=^\w[\w ]*\n-{3,}\n|\Z)", doc,
                      flags=re.MULTILINE | re.DOTALL)
    assert match, f"{module}.{name} has no numpydoc Examples section"
    assert ">>> " in match.group(1), f"{module}.{name}: Examples has no doctest"


#: numpydoc's checks that the API's docstrings are not held to, and why.
NUMPYDOC_SKIPPED = {
    "ES01": "an extended summary: a short method needs none",
    "SA01": "a See Also section: classes and functions have one where it helps",
    # test_public_docstring_has_a_doctest_example asks one of every class and function.
    "EX01": "an Examples section of every method",
    "RT02": "a Returns line of the type alone: return values are named, as in scikit-learn",
}


def _own_docstrings():
    """The public classes and functions, and the public methods and properties that
    each class defines itself (inherited ones are scikit-learn's docstrings)."""
    for module, name, obj in PUBLIC_CALLABLES:
        qualname = f"{obj.__module__}.{obj.__qualname__}"
        yield qualname
        if inspect.isclass(obj):
            for member, value in vars(obj).items():
                if not member.startswith("_") and (
                    inspect.isfunction(value) or isinstance(value, property)
                ):
                    yield f"{qualname}.{member}"


OWN_DOCSTRINGS = sorted(set(_own_docstrings()))


@pytest.mark.parametrize("qualname", OWN_DOCSTRINGS)
def test_public_docstring_passes_numpydoc_validation(qualname):
    # numpydoc's own validator, as scikit-learn runs it on its API (an inline
    # "# numpydoc ignore=CODE" on a def line exempts one check, with a comment why).
    # numpydoc is in the test extra; an installed wheel's tests may lack it.
    validate = pytest.importorskip("numpydoc.validate").validate
    errors = [
        f"{code}: {message}"
        for code, message in validate(qualname)["errors"]
        if code not in NUMPYDOC_SKIPPED
    ]
    assert errors == [], qualname


BENCHMARK_JSON = DOCS / "benchmarks"

#: The row label of each profiled variant in the page's profile table.
PROFILE_LABELS = {
    "eager": "eager (the default)",
    "eager_freeze_early": "``freeze`` the stem and the first three stages",
    "eager_source_quarter": "``source_batch_size=128``",
}


def _scores(scores):
    return " / ".join(f"{scores[key]:.3f}" for key in ("acc", "nmi", "ari"))


def _mean_std(summary, spec):
    return f"{summary['mean']:{spec}} ± {summary['std']:{spec}}"


def _row(label, cells):
    """A row of an RST list-table as the page writes it: label first, then each cell."""
    return "\n     - ".join([f"   * - {label}", *cells])


def _run_cells(run):
    """The cells of a benchmark run's row: its scores, times and images/s."""
    return [
        _scores(run["kmeans_pretrained"]), _scores(run["supreme"]),
        *(f"{run[key]:.1f}" for key in ("pretrain_seconds", "clustering_seconds", "fit_seconds")),
        f"{run['target_images_per_second']:,.0f}",
    ]


def test_gpu_results_on_the_benchmarks_page_are_those_of_the_committed_json():
    # The page's GPU tables and the figures quoted from them are copied by hand from the
    # files a device session returned: a figure edited, mistyped, moved to another row
    # or left over from an older run fails here. Rows are matched whole, label first.
    page = (DOCS / "benchmarks.rst").read_text(encoding="utf-8")
    # Prose wraps anywhere: quoted figures are looked for in the text with its line
    # breaks and indentation collapsed.
    prose = " ".join(page.split())
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    table = json.loads((BENCHMARK_JSON / "cifar10_h200_eager_3seeds.json").read_text())
    env = table["environment"]
    assert table["complete"] and len(table["runs"]) >= 3
    assert f"``{env['git_commit']}``" in page and env["date"][:10] in page
    assert f"Measured on one {env['device']} (torch {env['torch']}" in prose
    assert env["command"].replace("/root/out", "$OUT") in page
    for run in table["runs"]:
        assert _row(run["seed"], _run_cells(run)) in page, run["seed"]

    results, timing = table["results"], table["timing"]
    scores = {
        method: " / ".join(_mean_std(results[method][key], ".3f") for key in ("acc", "nmi", "ari"))
        for method in ("kmeans_pretrained", "supreme")
    }
    times = [
        _mean_std(timing[key], ".1f")
        for key in ("pretrain_seconds", "clustering_seconds", "fit_seconds")
    ]
    rate = _mean_std(timing["target_images_per_second"], ",.0f")
    median_rate = _mean_std(timing["steady_target_images_per_second"], ",.0f")
    cells = [f"**{cell}**" for cell in [*scores.values(), *times, rate]]
    cells[-1] += f" ({median_rate} in the median epoch)"
    assert _row("**mean ± std**", cells) in page
    acc, nmi = (_mean_std(results["supreme"][key], ".3f") for key in ("acc", "nmi"))
    fit = times[-1]
    assert f"SUPREME ACC {acc} and NMI {nmi}" in prose  # the status box
    assert f"{fit} s per fit at {rate} target images/s" in prose
    assert f"ACC {acc} / NMI {nmi}" in readme
    assert f"{fit} s per fit" in readme and f"commit `{env['git_commit']}`" in readme

    (frozen,) = json.loads((BENCHMARK_JSON / "cifar10_h200_freeze.json").read_text())["runs"]
    assert _row("``freeze`` the stem and the first three stages", _run_cells(frozen)) in page
    (same_seed,) = [run for run in table["runs"] if run["seed"] == frozen["seed"]]
    assert _row("all trained (the table above)", _run_cells(same_seed)) in page
    cost = same_seed["supreme"]["acc"] - frozen["supreme"]["acc"]
    frozen_rate = f"{frozen['target_images_per_second']:,.0f}"
    unfrozen_rates = sorted(run["target_images_per_second"] for run in table["runs"])
    assert f"{cost:.3f} less ACC" in prose and f"{cost:.3f} less ACC" in readme
    assert (
        f"one seed clustered at {frozen_rate} target images/s (unfrozen seeds: "
        f"{unfrozen_rates[0]:,.0f}-{unfrozen_rates[-1]:,.0f}; a fit of "
        f"{frozen['fit_seconds']:.0f} s)"
    ) in readme

    profile = json.loads((BENCHMARK_JSON / "profile_h200.json").read_text())
    assert [v["variant"] for v in profile["variants"]] == list(PROFILE_LABELS)
    for variant in profile["variants"]:
        cells = [
            f"{variant['wall_ms_per_step']:.1f}", f"{variant['device_kernel_ms_per_step']:.1f}",
            f"{100 * variant['device_busy_fraction']:.0f} %",
            f"{variant['target_images_per_second']:,.0f}",
            f"{variant['backbone_tflop_per_second']:.1f}",
        ]
        assert _row(PROFILE_LABELS[variant["variant"]], cells) in page, variant["variant"]


@pytest.mark.docs
@pytest.mark.skipif(
    os.environ.get("SKLEARN_SUPREME_BUILD_DOCS") != "1",
    reason="builds the whole site and runs every example; set SKLEARN_SUPREME_BUILD_DOCS=1",
)
def test_docs_build_without_warnings_and_offline(tmp_path):
    out = tmp_path / "html"
    # run_stale_examples: run every example even if an earlier build left its output.
    result = subprocess.run(
        [*BUILD_COMMAND, "-D", "sphinx_gallery_conf.run_stale_examples=True",
         str(DOCS), str(out)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    for path in EXAMPLE_FILES:
        page = (out / "auto_examples" / f"{path.stem}.html").read_text(encoding="utf-8")
        assert "sphx-glr-single-img" in page or "sphx-glr-multi-img" in page, path.name
    guide = (out / "user_guide.html").read_text(encoding="utf-8")
    assert 'src="_static/mathjax/tex-chtml.js"' in guide
    assert (out / "_static" / "mathjax" / "tex-chtml.js").is_file()
    # Nothing that a reader offline could not load.
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", text), page.name
