"""The CIFAR-10 transfer-clustering benchmark (the paper's Table 1).

``python -m sklearn_supreme benchmark cifar10 --data PATH`` follows the protocol of DTC
and the SUPREME paper: the train images of classes 0-4 are the labelled source, the
train images of classes 5-9 the target (K = 5), clustered and scored transductively.
Each seed fits one :class:`~sklearn_supreme.SupremeClusterer`, whose source-pretrained
network gives both compared methods: K-means on its features (PCA to K dimensions,
as DTC initialises; the estimator's ``initial_labels_``) and SUPREME (``labels_``).
The pretrained network is also scored on the test images of the source classes, the
figure that says how well the source was learnt before the clustering starts.
"""

import copy
import datetime
import json
import numbers
import os
import sys
import time

import numpy as np
import torch
from skorch.callbacks import Callback
from sklearn.utils import check_random_state

from ._atomic import check_writable
from ._cli import (
    add_override_argument, add_threads_argument, check_seeds, check_settings, collapse_overrides,
    positive_int, torch_threads,
)
from ._estimator import SupremeClusterer
from ._inference import _adapted_target_logits, _forward_batches
from ._reporting import (
    METRICS, device_name, environment_info, format_environment, format_mean_std,
    format_params, mean_std, to_jsonable, write_json,
)
from ._training import SourcePretrainNet, SupremeNet
from .datasets import CIFAR10_CLASSES, load_cifar10, split_source_target
from .metrics import clustering_report

__all__ = [
    "CIFAR10_PARAMS", "SMOKE_PARAMS", "PAPER_TABLE1_CIFAR10", "load_cifar10_protocol",
    "run_cifar10_benchmark",
]

#: Settings of the full CIFAR-10 run (override any of them with ``--set key=value``).
CIFAR10_PARAMS = dict(
    backbone="resnet18",
    n_clusters=5,
    pretrain_epochs=30,
    max_epochs=100,
    batch_size=512,
    lr=1e-3,
)

#: Settings of ``--smoke``: a small CNN and one or two epochs, to prove the pipeline on a CPU.
SMOKE_PARAMS = dict(
    backbone="cnn",
    backbone_params={"width": 8},
    n_clusters=5,
    pretrain_epochs=1,
    max_epochs=2,
    batch_size=64,
    lr=1e-3,
)

#: Images per class of source and target in ``--smoke`` unless ``--per-class`` says otherwise.
SMOKE_PER_CLASS = 100

#: Table 1 of the paper, CIFAR-10 columns (ACC, NMI; the paper reports no ARI).
PAPER_TABLE1_CIFAR10 = {
    "K-means": {"acc": 0.655, "nmi": 0.422},
    "DTC": {"acc": 0.875, "nmi": 0.735},
    "SUPREME": {"acc": 0.913, "nmi": 0.791},
}

_METHODS = {"kmeans_pretrained": "K-means, pretrained features", "supreme": "SUPREME"}

#: The protocol's source classes (airplane, automobile, bird, cat, deer); 5-9 are the target.
_SOURCE_CLASSES = list(range(5))


def run_cifar10_benchmark(
    data,
    seeds=(0, 1, 2),
    *,
    smoke=False,
    per_class=None,
    cache_dir=None,
    n_threads=None,
    out=None,
    resume=False,
    trace_every=None,
    command=None,
    file=None,
    **estimator_params,
):
    """Run the CIFAR-10 5 -> 5 transfer-clustering benchmark and report it.

    Parameters
    ----------
    data : str or path-like
        CIFAR-10 as a folder or tar archive of per-image files, read by
        :func:`~sklearn_supreme.datasets.load_cifar10` (decoded once, then cached):
        its ``train`` split for the protocol, and the source classes of its ``test``
        split to score the pretrained network.
    seeds : sequence of int, default=(0, 1, 2)
        One fit per seed, passed as ``random_state``: at least one, each in
        [0, 2**32 - 1], none twice.
    smoke : bool, default=False
        Start from :data:`SMOKE_PARAMS` and ``SMOKE_PER_CLASS`` (100) images per class
        instead of :data:`CIFAR10_PARAMS` and all images.
    per_class : int, default=None
        Images per class of source and target (and of the source's test images),
        drawn at random per class with a fixed seed (the same images for every
        seed); None keeps all of them (or ``SMOKE_PER_CLASS`` with ``smoke``).
    cache_dir : str, default=None
        Cache folder of the decoded images (see
        :func:`~sklearn_supreme.datasets.load_image_folder`).
    n_threads : int, default=None
        Torch threads on the CPU during the run (restored after). None: 1 with
        ``smoke``, whose networks are too small to gain from intra-op threads, else
        torch's own number.
    out : str, default=None
        JSON file for the results; written atomically after every seed, so that an
        interrupted run keeps the seeds it finished (``"complete": false``). Checked
        before the data is loaded: it must be writable, and a results file of this
        benchmark that holds finished runs is refused unless ``resume`` is given (delete
        it to start over), so that no finished run is lost to a new run's first write.
    resume : bool, default=False
        If ``out`` exists, keep its finished seeds and fit only the others: for a run
        cut off by a time limit, or seeds spread over several sessions on the same
        kind of machine. Its protocol and settings must be the ones of this call.
        Runs of seeds that ``seeds`` does not name are kept as well (resuming never
        deletes finished work): the results hold the union, sorted by seed. Each run
        records the machine and date it was measured on.
    trace_every : int, default=None
        Also score the clustering every ``trace_every`` epochs (each run's
        ``trace``): the network's weights are copied to the host at those epochs and
        scored after the fit, like ``labels_`` (batch norm re-estimated on the
        target), so the fit's timing holds only the copies. None: no trace. Larger
        than ``max_epochs`` (nothing to trace) it is an error.
    command : str, default=None
        The command line to record; defaults to this process's.
    file : file-like, default=None
        Where the report is printed; defaults to ``sys.stdout``.
    **estimator_params : dict
        :class:`~sklearn_supreme.SupremeClusterer` parameters that override the
        base settings. Their ``callbacks`` run in every fit, before the one of
        ``trace_every``. With ``n_clusters="auto"`` each fit estimates K from the
        source, and both methods use that estimate (the K-means baseline is the
        estimator's initial clustering).

    Returns
    -------
    results : dict
        What the JSON file holds: ``protocol``, ``params`` (every parameter of the
        estimator), ``seeds``, ``runs`` (per seed: the scores of both methods, the
        pretrained network's accuracy on the source's test images, seconds of each
        phase, epochs, target images per second, and with ``n_clusters="auto"`` the
        fitted ``n_clusters``), ``results``, ``source_test_accuracy`` and ``timing``
        (mean and std over the seeds), ``trace`` (with ``trace_every``: the scores by
        epoch, mean and std over the seeds; else None), ``paper`` (Table 1),
        ``environment`` and ``complete``.

    Examples
    --------
    >>> import io, os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sklearn_supreme.benchmark import run_cifar10_benchmark
    >>> from sklearn_supreme.datasets import CIFAR10_CLASSES
    >>> rng = np.random.default_rng(0)
    >>> with tempfile.TemporaryDirectory() as root:
    ...     for split in ("train", "test"):
    ...         for name in CIFAR10_CLASSES:
    ...             os.makedirs(os.path.join(root, split, name))
    ...             for i in range(8):
    ...                 pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ...                 Image.fromarray(pixels).save(os.path.join(root, split, name, f"{i}.png"))
    ...     results = run_cifar10_benchmark(root, seeds=[0], smoke=True, per_class=8,
    ...                                     cache_dir=root, file=io.StringIO())
    >>> sorted(results["results"]), results["complete"]
    (['kmeans_pretrained', 'supreme'], True)
    """
    seeds, earlier = _check_run(seeds, out, resume, trace_every, smoke, estimator_params)
    prepared = _prepare(data, smoke, per_class, cache_dir, estimator_params, out, earlier)
    finished = _finished_runs(out, earlier, prepared)
    with torch_threads(1 if n_threads is None and smoke else n_threads):
        return _run(
            prepared, seeds, out=out, finished=finished, trace_every=trace_every,
            command=command, file=file,
        )


def _check_run(seeds, out, resume, trace_every, smoke, estimator_params):
    """Check what of a run's input can be checked before minutes of loading.

    Returns the seeds as a list of ints and the earlier results that a resume
    continues (:func:`_read_results`; None without ``resume``).
    """
    seeds = check_seeds(seeds)
    if out is not None:
        check_writable(out)
        if not resume:
            _refuse_to_overwrite_runs(out)
    earlier = _read_results(out) if resume else None
    max_epochs = _params(smoke, estimator_params).get("max_epochs")
    # A max_epochs that is no int is reported by the parameters' validation.
    if trace_every is not None and isinstance(max_epochs, numbers.Integral) and (
        trace_every > max_epochs
    ):
        raise ValueError(
            f"trace_every={trace_every} is larger than max_epochs={max_epochs}: no "
            f"clustering epoch would be scored. Give trace_every (--trace-every) at most "
            f"{max_epochs}, or more epochs (--set max_epochs=N)."
        )
    return seeds, earlier


def _refuse_to_overwrite_runs(out):
    """Raise ValueError if ``out`` is a results file of this benchmark that holds finished
    runs: a run without ``resume`` would replace them with its own, maybe hours of
    fits lost to a forgotten flag. Any other file is the user's to overwrite."""
    try:
        earlier = _read_results(out)
    except ValueError:  # not a results file of this benchmark: no runs to lose
        return
    runs = [] if earlier is None else earlier["runs"]
    if not runs:
        return
    seeds = ", ".join(str(run["seed"]) for run in runs)
    many = len(runs) != 1
    raise ValueError(
        f"{out} holds {len(runs)} finished run{'s' * many} of the cifar10 benchmark "
        f"(seed{'s' * many} {seeds}): pass resume (--resume) to keep "
        f"{'them' if many else 'it'} and run only the missing seeds, or give another out "
        "(--out); delete the file to start over."
    )


def _params(smoke, estimator_params):
    """The estimator settings of a run: the base ones, overridden by ``estimator_params``."""
    return {**(SMOKE_PARAMS if smoke else CIFAR10_PARAMS), **estimator_params}


def _prepare(data, smoke, per_class, cache_dir, estimator_params, out=None, earlier=None):
    """Check the settings (against those of the results file ``out`` that a resume
    continues, ``earlier``), then load and split the data: every error of the user's
    input."""
    params = _params(smoke, estimator_params)
    if "random_state" in params:
        raise ValueError("random_state is set by the seeds; do not pass it.")
    # Bad settings fail here, before minutes of loading, not at the first fit.
    probe = check_settings(params, (32, 32, 3), in_channels=3)  # CIFAR-10's images
    if earlier is not None:
        _check_same_settings(out, earlier, params)
    device = probe._resolve_device()
    if per_class is None and smoke:
        per_class = SMOKE_PER_CLASS

    start = time.perf_counter()
    X_source, y_source, X_target, y_target = load_cifar10_protocol(data, per_class, cache_dir)
    X_test, y_test = _load_source_test(data, per_class, cache_dir)
    # What needs the data (n_clusters against the target's size), before any fit.
    probe._validate_fit_data(X_target, (X_source, y_source))
    protocol = {
        "dataset": "cifar10",
        "data": os.path.abspath(os.path.expanduser(os.fspath(data))),  # as the loader reads it
        "split": "train",
        "source_classes": [CIFAR10_CLASSES[c] for c in np.unique(y_source)],
        "target_classes": [CIFAR10_CLASSES[c] for c in np.unique(y_target)],
        "n_source": int(len(y_source)),
        "n_target": int(len(y_target)),
        "n_source_test": int(len(y_test)),
        "per_class": per_class,
        "smoke": bool(smoke),
        "load_seconds": time.perf_counter() - start,
    }
    return dict(
        params=params, device=device, protocol=protocol,
        source=(X_source, y_source), target=(X_target, y_target), source_test=(X_test, y_test),
    )


def load_cifar10_protocol(data, per_class=None, cache_dir=None):
    """The benchmark's data: CIFAR-10 train images of classes 0-4 (source) and 5-9 (target).

    Parameters
    ----------
    data : str or path-like
        Folder or tar archive read by :func:`~sklearn_supreme.datasets.load_cifar10`.
    per_class : int, default=None
        Keep this many random images per class (the same ones on every call); None
        keeps all.
    cache_dir : str, default=None
        Cache folder of the decoded images.

    Returns
    -------
    X_source, y_source, X_target, y_target : ndarray
        The uint8 images ``(N, 32, 32, 3)`` and their CIFAR-10 labels.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sklearn_supreme.benchmark import load_cifar10_protocol
    >>> from sklearn_supreme.datasets import CIFAR10_CLASSES
    >>> with tempfile.TemporaryDirectory() as root:
    ...     for name in CIFAR10_CLASSES:
    ...         os.makedirs(os.path.join(root, "train", name))
    ...         for i in range(3):
    ...             Image.new("RGB", (32, 32)).save(os.path.join(root, "train", name, f"{i}.png"))
    ...     X_source, y_source, X_target, y_target = load_cifar10_protocol(
    ...         root, per_class=2, cache_dir=root)
    >>> X_source.shape, np.unique(y_source).tolist(), np.unique(y_target).tolist()
    ((10, 32, 32, 3), [0, 1, 2, 3, 4], [5, 6, 7, 8, 9])
    """
    if per_class is not None and (
        not isinstance(per_class, numbers.Integral) or isinstance(per_class, bool)
        or per_class < 1
    ):
        raise ValueError(f"per_class must be an int >= 1 or None, got {per_class!r}.")
    cifar = load_cifar10(data, split="train", cache_dir=cache_dir)
    # Indices first, then one selection of the images: splitting the images and then
    # subsampling each part held a second copy of the whole split.
    y = cifar.target
    source = np.flatnonzero(np.isin(y, _SOURCE_CLASSES))
    target = np.flatnonzero(~np.isin(y, _SOURCE_CLASSES))
    if per_class is not None:
        source = source[stratified_subsample(y[source], per_class, random_state=0)]
        target = target[stratified_subsample(y[target], per_class, random_state=1)]
    return cifar.images[source], y[source], cifar.images[target], y[target]


def _load_source_test(data, per_class=None, cache_dir=None):
    """The test images of the source classes and their labels, ``per_class`` of each
    (drawn like the protocol's, with another fixed seed), or all of them."""
    try:
        cifar = load_cifar10(data, split="test", cache_dir=cache_dir)
    except ValueError as exc:
        raise ValueError(
            "The benchmark scores the source-pretrained network on the test images of "
            f"the source classes, but the test split could not be loaded: {exc}"
        ) from exc
    X_test, y_test, _, _ = split_source_target(
        cifar.images, cifar.target, source_classes=_SOURCE_CLASSES
    )
    if per_class is not None:
        keep = stratified_subsample(y_test, per_class, random_state=2)
        X_test, y_test = X_test[keep], y_test[keep]
    return X_test, y_test


def _recorded_params(params):
    """Every setting, defaults included (they change between versions), but the seed."""
    # Not deep: a perturbation's repr already names all its settings.
    recorded = to_jsonable(SupremeClusterer(**params).get_params(deep=False))
    del recorded["random_state"]
    return recorded


def _read_results(out):
    """The earlier results file ``out`` that a resume continues, or None if there is none.

    Read before the data is loaded, so that a wrong file fails at once; it must be the
    JSON file of a CIFAR-10 benchmark run. :func:`_prepare` then checks, before the
    load, that its settings are this run's, and :func:`_finished_runs`, after the load,
    that its protocol is.
    """
    if out is None:
        raise ValueError("resume needs the results file: give out (--out).")
    if not os.path.exists(out):
        return None
    with open(out, "rb") as f:
        content = f.read()
    try:
        earlier = json.loads(content)
    except ValueError as exc:  # also a file that is not text at all
        raise ValueError(
            f"{out} is not a JSON file ({exc}); resume continues the results file of an "
            "earlier benchmark run: give its --out, or write to another file."
        ) from None
    if not (
        isinstance(earlier, dict)
        and earlier.get("benchmark") == "cifar10"
        and isinstance(earlier.get("protocol"), dict)
        # Settings are always recorded; without them a resume could not check that the
        # finished runs are of this run's settings, and would mix runs of others in.
        and isinstance(earlier.get("params"), dict)
        and isinstance(earlier.get("runs"), list)
        and all(isinstance(run, dict) and isinstance(run.get("seed"), int)
                for run in earlier["runs"])
    ):
        raise ValueError(
            f"{out} is not the results file of a cifar10 benchmark run (which holds "
            '"benchmark": "cifar10", its protocol, params and runs by seed); resume '
            "continues such a file: give its --out, or write to another file."
        )
    return earlier


def _differences(recorded, current):
    """The keys whose values differ between ``recorded`` (a file's) and ``current``,
    a key of one side only included, and the differences in words."""
    absent = object()
    keys = sorted(
        key for key in {*recorded, *current}
        if recorded.get(key, absent) != current.get(key, absent)
    )

    def show(mapping, key):
        return repr(mapping[key]) if key in mapping else "absent"

    details = "; ".join(
        f"{key}: {show(recorded, key)} in the file, {show(current, key)} here" for key in keys
    )
    return keys, details


def _check_same_settings(out, earlier, params):
    """Raise ValueError if the earlier results ``earlier`` of ``out`` were run with
    settings other than ``params``: before the data is loaded."""
    changed, details = _differences(earlier["params"], _recorded_params(params))
    if changed:
        raise ValueError(
            f"{out} holds runs with other settings ({', '.join(changed)}): {details}. "
            "Resume only continues a run of the same settings; write to another file."
        )


def _finished_runs(out, earlier, prepared):
    """The runs of the earlier results ``earlier`` (:func:`_read_results` of ``out``; None:
    there are none) by seed, checked to be of the same protocol (their settings were
    checked by :func:`_prepare`, before the load)."""
    if earlier is None:
        return {}
    protocol = prepared["protocol"]
    # The data's path and load time may differ between machines; nothing else may.
    machine_bound = ("data", "load_seconds")
    changed, details = _differences(
        {k: v for k, v in earlier["protocol"].items() if k not in machine_bound},
        {k: v for k, v in protocol.items() if k not in machine_bound},
    )
    if changed:
        raise ValueError(
            f"{out} holds runs of another protocol ({', '.join(changed)}): {details}. "
            "Write to another file."
        )
    return {run["seed"]: run for run in earlier["runs"]}


def _run(prepared, seeds, *, out, command, file, finished=None, trace_every=None):
    """Fit once per seed on prepared data, print as it goes and at the end, write ``out``.

    ``finished``: runs of earlier calls by seed (``resume``); those seeds are not refitted,
    and those not in ``seeds`` are kept too: the results hold the union, sorted by seed.
    ``trace_every``: see :func:`run_cifar10_benchmark`. ``seeds``: checked by
    :func:`_check_run`.
    """
    file = sys.stdout if file is None else file
    params, protocol = prepared["params"], prepared["protocol"]
    finished = finished or {}
    requested = set(seeds)
    if finished:
        # Resuming never deletes finished work, even with fewer seeds than the file holds.
        seeds = sorted(requested | set(finished))
    auto_k = params["n_clusters"] == "auto"
    k_text = "auto: estimated from the source per seed" if auto_k else params["n_clusters"]
    X_source, y_source = prepared["source"]
    X_target, y_target = prepared["target"]
    X_test, y_test = prepared["source_test"]
    results = {
        "benchmark": "cifar10",
        "complete": False,
        "protocol": protocol,
        "params": _recorded_params(params),
        "seeds": seeds,
        "runs": [],
        "results": None,
        "timing": None,
        "paper": PAPER_TABLE1_CIFAR10,
        "environment": environment_info(prepared["device"], command),
    }
    print(
        f"CIFAR-10 transfer clustering: source {protocol['n_source']} labelled images of "
        f"{', '.join(protocol['source_classes'])}; target {protocol['n_target']} images of "
        f"{', '.join(protocol['target_classes'])} (K={k_text}); loaded in "
        f"{protocol['load_seconds']:.1f} s",
        file=file, flush=True,
    )
    print(f"{results['environment']['device']}; settings: {format_params(params)}",
          file=file, flush=True)
    # out is first written when a seed is done: what it holds stays until something
    # replaces it (that it can be written was checked before the data was loaded).

    for seed in seeds:
        if seed in finished:
            results["runs"].append(finished[seed])
            note = "" if seed in requested else " (not in this run's seeds)"
            print(f"seed {seed}: kept from {out}{note}", file=file, flush=True)
            continue
        snapshots = _ClusteringSnapshots(trace_every) if trace_every else None
        pretrained = _PretrainedSnapshot()
        # The user's callbacks first: the snapshots copy the weights they leave.
        callbacks = [*(params.get("callbacks") or []), pretrained]
        if snapshots is not None:
            callbacks.append(snapshots)
        model = SupremeClusterer(**{**params, "callbacks": callbacks, "random_state": seed})
        start = time.perf_counter()
        model.fit(X_target, source=(X_source, y_source))
        fit_seconds = time.perf_counter() - start
        pretrain_seconds = float(sum(model.pretrain_history_["dur"]))
        clustering_seconds = float(sum(model.history_["dur"]))
        epochs = len(model.history_["dur"])
        run = {
            "seed": seed,
            "kmeans_pretrained": clustering_report(y_target, model.initial_labels_),
            "supreme": clustering_report(y_target, model.labels_),
            "source_test_accuracy": _source_test_accuracy(
                model, pretrained.state, X_test, y_test, y_source
            ),
            "pretrain_epochs": len(model.pretrain_history_["dur"]),
            "clustering_epochs": epochs,
            "pretrain_seconds": pretrain_seconds,
            "clustering_seconds": clustering_seconds,
            "fit_seconds": fit_seconds,
            "target_images_per_second": len(y_target) * epochs / clustering_seconds,
            # The median epoch leaves out one-off costs of the first epochs (cuDNN
            # autotuning, torch.compile): the rate the hardware sustains.
            "steady_target_images_per_second": (
                len(y_target) / float(np.median(model.history_["dur"]))
            ),
            "device": model.device_,
            "machine": device_name(model.device_),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        if auto_k:
            run["n_clusters"] = int(model.n_clusters_)
        if snapshots is not None:
            run["trace"] = _score_snapshots(model, snapshots.states, X_target, y_target)
        results["runs"].append(run)
        print(
            f"seed {seed}: "
            + "; ".join(
                f"{name} " + " ".join(f"{m.upper()} {run[key][m]:.3f}" for m in METRICS)
                for key, name in _METHODS.items()
            )
            + (f"; estimated K={run['n_clusters']}" if auto_k else "")
            + _format_source_test(run["source_test_accuracy"], "; ")
            + f"; pretraining {pretrain_seconds:.1f} s, clustering {clustering_seconds:.1f} s"
            f", fit {fit_seconds:.1f} s",
            file=file, flush=True,
        )
        if "trace" in run:
            print(f"seed {seed}: {format_trace(run['trace'])}", file=file, flush=True)
        _summarize_benchmark(results)
        if out is not None:
            write_json(out, results)

    _summarize_benchmark(results)
    results["complete"] = True
    if out is not None:
        write_json(out, results)
    print(format_cifar10_report(results), file=file, flush=True)
    return results


class _ClusteringSnapshots(Callback):
    """Copies of the network's weights on the host every ``every`` clustering epochs.

    Scoring them needs the target's labels and a pass over the target, which must not
    count in the fit's timing; the copies are scored after the fit
    (:func:`_score_snapshots`). The source pretraining phase is skipped.
    """

    def __init__(self, every):
        self.every = every
        self.states = {}

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if isinstance(net, SupremeNet) and epoch % self.every == 0:
            self.states[epoch] = {
                name: value.detach().to("cpu", copy=True)
                for name, value in net.module_.state_dict().items()
            }


class _PretrainedSnapshot(Callback):
    """A copy on the host of the network's weights as the source pretraining leaves them.

    Scored after the fit (:func:`_source_test_accuracy`), outside its timing. It stays
    None when the fit does not pretrain: ``pretrain_epochs=0``, or a start read back
    from ``memory`` or from a checkpoint past the pretraining.
    """

    def __init__(self):
        self.state = None

    def on_train_end(self, net, **kwargs):
        if isinstance(net, SourcePretrainNet):
            self.state = {
                name: value.detach().to("cpu", copy=True)
                for name, value in net.module_.state_dict().items()
            }


def _source_test_accuracy(model, state, X, y, y_source):
    """The accuracy of the source head of the pretrained weights ``state`` (None: not
    measured) on the source classes' images ``X`` labelled ``y``.

    Batch norm keeps the running statistics of the pretraining, which saw the source
    alone: the network as the initial K-means embeds with it.
    """
    if state is None:
        return None
    network = copy.deepcopy(model.net_.module_)
    network.load_state_dict(state)
    codes = _forward_batches(
        network, X, model.batch_size, model.device_, model.precision_, output="factors"
    )
    with torch.no_grad():
        logits = network.source_head.cpu().float()(torch.from_numpy(codes))
    # The source head's outputs are the sorted source classes, as fit encodes them.
    predicted = np.unique(y_source)[logits.argmax(dim=1).numpy()]
    return float(np.mean(predicted == y))


def _format_source_test(accuracy, prefix=""):
    """The pretrained network's source test accuracy, for a seed's line ("" if None)."""
    if accuracy is None:
        return ""
    return f"{prefix}pretrained network's source test ACC {accuracy:.3f}"


def _score_snapshots(model, states, X, y):
    """The scores of each snapshot's clustering of ``X``, computed like ``labels_``."""
    network = copy.deepcopy(model.net_.module_)
    X_dev = torch.as_tensor(X).to(model.device_)
    trace = []
    for epoch, state in sorted(states.items()):
        network.load_state_dict(state)
        logits = _adapted_target_logits(
            network, X_dev, model.batch_size, model.device_, model.precision_
        )
        trace.append({"epoch": epoch, **clustering_report(y, logits.argmax(axis=1))})
    return trace


def format_trace(trace):
    """A run's trace on one line: the ACC at each traced epoch."""
    return "ACC by epoch " + ", ".join(f"{row['epoch']}: {row['acc']:.3f}" for row in trace)


def _summarize_benchmark(results):
    runs = results["runs"]
    results["results"] = {
        key: {m: mean_std([run[key][m] for run in runs]) for m in METRICS} for key in _METHODS
    }
    # Measured only when a fit pretrains in this run (not from memory= or a checkpoint).
    accuracies = [run.get("source_test_accuracy") for run in runs]
    results["source_test_accuracy"] = (
        None if None in accuracies else mean_std(accuracies)
    )
    results["timing"] = {
        name: mean_std([run[name] for run in runs])
        for name in (
            "pretrain_seconds", "clustering_seconds", "fit_seconds",
            "target_images_per_second", "steady_target_images_per_second",
        )
    }
    results["timing"]["pretrain_epochs"] = runs[-1]["pretrain_epochs"]
    results["timing"]["clustering_epochs"] = runs[-1]["clustering_epochs"]
    # Traces are averaged when every run has one, at the same epochs.
    traces = [run.get("trace") for run in runs]
    epochs = {tuple(row["epoch"] for row in trace) if trace else None for trace in traces}
    results["trace"] = None
    if len(epochs) == 1 and None not in epochs:
        results["trace"] = [
            {"epoch": rows[0]["epoch"], **{m: mean_std([row[m] for row in rows]) for m in METRICS}}
            for rows in zip(*traces)
        ]


def format_cifar10_report(results):
    """The benchmark's results as a text table next to the paper's Table 1."""
    env, protocol, timing = results["environment"], results["protocol"], results["timing"]
    n_seeds = len(results["runs"])
    paper_rows = {f"{name} (paper, Table 1)": ref for name, ref in PAPER_TABLE1_CIFAR10.items()}
    our_rows = {f"{name} (ours)": results["results"][key] for key, name in _METHODS.items()}
    width = max(map(len, [*paper_rows, *our_rows]))
    lines = [
        "",
        f"CIFAR-10, {len(protocol['source_classes'])} -> {len(protocol['target_classes'])} "
        f"classes, {protocol['n_target']} target images"
        + (" (SMOKE: not a quality figure)" if protocol["smoke"] else "")
        + f"; mean ± std over {n_seeds} seed{'s' * (n_seeds != 1)}",
        f"{'Method':<{width}} {'ACC':<13}  {'NMI':<13}  ARI",
    ]
    for label, ref in paper_rows.items():
        lines.append(f"{label:<{width}} {ref['acc']:<13.3f}  {ref['nmi']:<13.3f}  -")
    for label, scores in our_rows.items():
        lines.append(
            f"{label:<{width}} "
            + "  ".join(f"{format_mean_std(scores[m]):<13}" for m in METRICS).rstrip()
        )
    if results.get("source_test_accuracy") is not None:
        lines.append(
            f"Pretrained network, accuracy on the {protocol['n_source_test']} test images "
            f"of the source classes: {format_mean_std(results['source_test_accuracy'])}"
        )
    estimates = [(run["seed"], run["n_clusters"]) for run in results["runs"]
                 if "n_clusters" in run]
    if estimates:
        lines.append(
            "n_clusters='auto' estimated K (by seed; both methods use it): "
            + ", ".join(f"{k} ({seed})" for seed, k in estimates)
        )
    lines += [
        "",
        f"Pretraining {format_mean_std(timing['pretrain_seconds'], 1)} s "
        f"({_epochs(timing['pretrain_epochs'])}); clustering "
        f"{format_mean_std(timing['clustering_seconds'], 1)} s "
        f"({_epochs(timing['clustering_epochs'])}, "
        f"{format_mean_std(timing['target_images_per_second'], 0)} target images/s, "
        f"{format_mean_std(timing['steady_target_images_per_second'], 0)} in the median "
        "epoch); "
        f"whole fit {format_mean_std(timing['fit_seconds'], 1)} s; "
        f"data loaded in {protocol['load_seconds']:.1f} s",
        *(["SUPREME ACC by clustering epoch (mean over seeds): " + ", ".join(
            f"{row['epoch']}: {row['acc']['mean']:.3f}" for row in results["trace"]
        )] if results.get("trace") else []),
        format_environment(env),
        f"Command: {env['command']}",
    ]
    return "\n".join(lines)


def _epochs(n):
    return f"{n} epoch{'s' * (n != 1)}"


def stratified_subsample(y, per_class, random_state=None):
    """Indices of ``per_class`` random samples of each class (all of a smaller class), sorted.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 0, 0, 1, 1, 2])
    >>> keep = stratified_subsample(y, 2, random_state=0)
    >>> np.bincount(y[keep]).tolist()
    [2, 2, 1]
    """
    rng = check_random_state(random_state)
    y = np.asarray(y)
    picks = [
        rng.choice(members, min(per_class, len(members)), replace=False)
        for members in (np.flatnonzero(y == c) for c in np.unique(y))
    ]
    return np.sort(np.concatenate(picks))


# ------------------------------------------------------------------------------ CLI
def add_arguments(parser):
    """The arguments of ``python -m sklearn_supreme benchmark``."""
    parser.add_argument("dataset", choices=["cifar10"], help="the benchmark to run")
    parser.add_argument(
        "--data", required=True, metavar="PATH",
        help="CIFAR-10 as a folder or tar archive laid out as <split>/<class>/<image>, with "
        "the splits train and test",
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=None, metavar="N",
        help="run seeds 0..N-1 (default: 3, or 2 with --smoke)",
    )
    parser.add_argument(
        "--out", metavar="PATH",
        help="write the results to this JSON file (one that holds finished runs needs "
        "--resume)",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="keep the seeds already in --out (same settings and protocol), also those "
        "--seeds does not name, and run the others",
    )
    parser.add_argument(
        "--smoke", action="store_true",
        help=f"a CPU smoke run: {SMOKE_PER_CLASS} images per class, a small CNN, 1-2 epochs",
    )
    parser.add_argument(
        "--per-class", type=positive_int, metavar="N",
        help="use N random images per class of source and target (and of the source's "
        "test images)",
    )
    parser.add_argument(
        "--cache-dir", metavar="DIR",
        help="cache of the decoded images (default: $SKLEARN_SUPREME_DATA or "
        "~/.cache/sklearn_supreme)",
    )
    parser.add_argument(
        "--trace-every", type=positive_int, metavar="N",
        help="also score the clustering every N epochs (each run's trace; scored after "
        "the fit, outside its timing)",
    )
    add_threads_argument(parser, "1 with --smoke, else torch's own")
    add_override_argument(parser)


def run_from_args(args, parser, command):
    """Run the benchmark the parsed ``args`` describe; returns the exit code."""
    seeds = range(args.seeds if args.seeds is not None else (2 if args.smoke else 3))
    try:
        overrides = collapse_overrides(_params(args.smoke, {}), args.overrides, is_image=True)
        seeds, earlier = _check_run(
            seeds, args.out, args.resume, args.trace_every, args.smoke, overrides
        )
        prepared = _prepare(
            args.data, args.smoke, args.per_class, args.cache_dir, overrides, args.out, earlier,
        )
        finished = _finished_runs(args.out, earlier, prepared)
    except (ValueError, TypeError, OSError) as exc:
        # Bad data or settings; an error during the fits is a bug and keeps its traceback.
        parser.error(str(exc))
    with torch_threads(1 if args.threads is None and args.smoke else args.threads):
        _run(
            prepared, seeds, out=args.out, finished=finished, trace_every=args.trace_every,
            command=command, file=None,
        )
    return 0
