"""The digits demo: SUPREME against K-means on scikit-learn's digits, 5 -> 5 classes.

``python -m sklearn_supreme demo`` clusters the digits 5-9 (the target, K = 5) with
the labelled digits 0-4 as the source, and compares three methods per seed:

* K-means on the raw pixels (``n_init=20``), which uses no source at all;
* K-means on the source-pretrained features (PCA to K dimensions, as DTC
  initialises): the initial clustering of the SupremeClusterer itself, its
  ``initial_labels_``, so it costs no extra training;
* :class:`~sklearn_supreme.SupremeClusterer` with :data:`DEMO_PARAMS`.

With ``--set n_clusters=auto`` the SupremeClusterer estimates K from the source on
each seed (both methods that use the source share that estimate), and the K-means
on pixels, which has no source to estimate it from, uses the true number of target
classes.
"""

import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits

from ._atomic import check_writable
from ._augment import ImagePerturbation
from ._cli import (
    add_override_argument, add_threads_argument, check_seeds, check_settings, collapse_overrides,
    positive_int, torch_threads,
)
from ._estimator import SupremeClusterer
from ._reporting import (
    METRICS, environment_info, format_environment, format_mean_std, format_params, mean_std,
    to_jsonable, write_json,
)
from .datasets import split_source_target
from .metrics import clustering_report

__all__ = ["DEMO_PARAMS", "run_digits_demo"]

#: SupremeClusterer settings of the demo; each seed takes well under a minute on 2 CPU cores.
#: The defaults, except the perturbation: digits rows are 8x8 images, so the
#: self-supervised copy is a shifted and rescaled image (no flip: a flipped digit is
#: another symbol) rather than the generic noise for feature vectors.
DEMO_PARAMS = dict(
    n_clusters=5,
    augment=ImagePerturbation(flip=False, image_shape=(1, 8, 8)),
)

#: The compared methods: key in the results, and the name printed.
METHODS = {
    "kmeans_pixels": "K-means on pixels",
    "kmeans_pretrained": "K-means, pretrained features",
    "supreme": "SUPREME",
}


def run_digits_demo(
    seeds=(0, 1, 2), *, n_threads=1, file=None, command=None, **estimator_params
):
    """Compare K-means and SUPREME on the digits 5-9, with the digits 0-4 as the source.

    Parameters
    ----------
    seeds : sequence of int, default=(0, 1, 2)
        One run of every method per seed (their ``random_state``): at least one, each
        in [0, 2**32 - 1], none twice.
    n_threads : int or None, default=1
        Torch threads on the CPU during the demo (restored after); None keeps torch's
        number. The demo's networks are too small to gain from intra-op threads, and
        on a busy machine more threads only wait on each other (measured: 10 times
        slower on 2 loaded cores).
    file : file-like, default=None
        Where the per-seed lines and the summary table are printed; defaults to
        ``sys.stdout``.
    command : str, default=None
        The command line to record; defaults to this process's.
    **estimator_params : dict
        :class:`~sklearn_supreme.SupremeClusterer` settings that override
        :data:`DEMO_PARAMS`. With ``n_clusters="auto"``, the K-means on pixels uses
        the true number of target classes (5): it has no source to estimate K from.

    Returns
    -------
    results : dict
        ``runs``: per seed, for each method of ``METHODS``, its ``acc``, ``nmi``,
        ``ari`` and ``seconds`` (fit time; for the K-means on pretrained features, the
        SupremeClusterer fit without its clustering epochs: pretraining, features and
        K-means); with ``n_clusters="auto"`` also the fitted ``n_clusters``.
        ``summary``: the same as ``{"mean", "std"}`` over the seeds. Also ``seeds``,
        ``params`` (every estimator parameter), the data sizes and classes, and
        ``environment`` (device, versions, date, command).

    Examples
    --------
    >>> import io
    >>> from sklearn_supreme.demo import run_digits_demo
    >>> results = run_digits_demo(seeds=[0], pretrain_epochs=1, max_epochs=1,
    ...                           file=io.StringIO())
    >>> sorted(results["summary"])
    ['kmeans_pixels', 'kmeans_pretrained', 'supreme']
    >>> 0.2 <= results["runs"][0]["supreme"]["acc"] <= 1.0
    True
    """
    file = sys.stdout if file is None else file
    seeds = check_seeds(seeds)
    params = {**DEMO_PARAMS, **estimator_params}
    if "random_state" in params:
        raise ValueError("random_state is set by the seeds; do not pass it.")
    probe = SupremeClusterer(**params)
    X_source, y_source, X_target, y_target = _digits_split()
    # What needs the data (n_clusters against the target's size), before any work.
    probe._validate_fit_data(X_target, (X_source, y_source))
    auto_k = params["n_clusters"] == "auto"
    # KMeans cannot estimate K; on "auto" the pixel baseline gets the truth.
    kmeans_k = len(np.unique(y_target)) if auto_k else params["n_clusters"]
    k_text = (
        f"K=auto: SupremeClusterer estimates it from the source per seed, K-means on "
        f"pixels uses the true {kmeans_k}" if auto_k else f"K={kmeans_k}"
    )
    print(
        f"Digits: source {len(y_source)} labelled images of 0-4; target {len(y_target)} "
        f"images of 5-9 ({k_text})\nSupremeClusterer: {format_params(params)}",
        file=file, flush=True,
    )

    with torch_threads(n_threads):
        runs = [
            _run_seed(seed, params, kmeans_k, (X_source, y_source), (X_target, y_target), file)
            for seed in seeds
        ]
        environment = environment_info(probe._resolve_device(), command)

    results = {
        "dataset": "digits",
        "source_classes": list(range(5)),
        "target_classes": list(range(5, 10)),
        "n_source": int(len(y_source)),
        "n_target": int(len(y_target)),
        # Every setting, defaults included (they change between versions), but the seed.
        "params": to_jsonable(probe.get_params(deep=False)),
        "seeds": seeds,
        "runs": runs,
        "summary": {
            key: {m: mean_std([run[key][m] for run in runs]) for m in (*METRICS, "seconds")}
            for key in METHODS
        },
        "environment": environment,
    }
    del results["params"]["random_state"]
    print(format_digits_report(results), file=file, flush=True)
    return results


def _digits_split():
    """scikit-learn's digits: 0-4 the labelled source, 5-9 the target."""
    X, y = load_digits(return_X_y=True)
    return split_source_target(X, y, source_classes=range(5))


def _run_seed(seed, params, kmeans_k, source, target, file):
    """Scores and fit seconds of the three methods for one seed, printed as they come.

    ``kmeans_k``: the K of the K-means on pixels (``n_clusters``, or the truth for "auto").
    """
    X_source, y_source = source
    X_target, y_target = target
    start = time.perf_counter()
    kmeans = KMeans(n_clusters=kmeans_k, n_init=20, random_state=seed)
    kmeans.fit(X_target)
    kmeans_seconds = time.perf_counter() - start

    model = SupremeClusterer(**params, random_state=seed)
    start = time.perf_counter()
    model.fit(X_target, source=(X_source, y_source))
    fit_seconds = time.perf_counter() - start
    clustering_seconds = float(sum(model.history_["dur"]))

    run = {
        "seed": seed,
        "kmeans_pixels": clustering_report(y_target, kmeans.labels_),
        "kmeans_pretrained": clustering_report(y_target, model.initial_labels_),
        "supreme": clustering_report(y_target, model.labels_),
    }
    run["kmeans_pixels"]["seconds"] = kmeans_seconds
    run["kmeans_pretrained"]["seconds"] = fit_seconds - clustering_seconds
    run["supreme"]["seconds"] = fit_seconds
    if params["n_clusters"] == "auto":
        run["n_clusters"] = int(model.n_clusters_)
        print(f"seed {seed}  n_clusters='auto' estimated K={run['n_clusters']}",
              file=file, flush=True)
    for key, name in METHODS.items():
        scores = run[key]
        print(
            f"seed {seed}  {name:<30}"
            + "  ".join(f"{m.upper()} {scores[m]:.3f}" for m in METRICS)
            + f"  {scores['seconds']:6.1f} s",
            file=file, flush=True,
        )
    return run


def format_digits_report(results):
    """The demo's summary table: mean ± std over the seeds, then the machine."""
    n_seeds = len(results["seeds"])
    estimates = [run["n_clusters"] for run in results["runs"] if "n_clusters" in run]
    k_text = (
        f"K estimated per seed: {', '.join(map(str, estimates))}" if estimates
        else f"K={results['params']['n_clusters']}"
    )
    lines = [
        "",
        f"Digits 5-9 ({k_text}), source digits 0-4; mean ± std over {n_seeds} "
        f"seed{'s' * (n_seeds != 1)}",
        f"{'Method':<30} {'ACC':<13}  {'NMI':<13}  {'ARI':<13}  fit seconds",
    ]
    for key, name in METHODS.items():
        stats = results["summary"][key]
        lines.append(
            f"{name:<30} "
            + "  ".join(f"{format_mean_std(stats[m]):<13}" for m in METRICS)
            + f"  {format_mean_std(stats['seconds'], 1)}"
        )
    lines.append(format_environment(results["environment"]))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ CLI
def add_arguments(parser):
    """The arguments of ``python -m sklearn_supreme demo``."""
    parser.add_argument(
        "--seeds", type=positive_int, default=3, metavar="N", help="run seeds 0..N-1 (default: 3)"
    )
    parser.add_argument(
        "--json", metavar="PATH",
        help="also write the results to this JSON file (checked to be writable first)",
    )
    add_threads_argument(parser, "1")
    # The demo's network is the MLP: the benchmark's width example would not build it.
    add_override_argument(parser, "{'hidden_layer_sizes': [256]}", "augment=auto")


def run_from_args(args, parser, command):
    """Run the demo the parsed ``args`` describe; returns the exit code."""
    try:
        # The digits are rows: augment="auto" would be the vector perturbation.
        params = collapse_overrides(DEMO_PARAMS, args.overrides, is_image=False)
        # Bad settings fail here with a usage message, not in the middle of a fit; a
        # --json that cannot be written, not after the whole demo ran.
        model = check_settings({**DEMO_PARAMS, **params}, (64,))  # the digits' rows
        X_source, y_source, X_target, _ = _digits_split()
        model._validate_fit_data(X_target, (X_source, y_source))
        if args.json is not None:
            check_writable(args.json)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    results = run_digits_demo(
        range(args.seeds), n_threads=1 if args.threads is None else args.threads,
        command=command, **params,
    )
    if args.json is not None:
        write_json(args.json, results)
    return 0

