"""The number of novel classes, estimated with probe classes held out from the source."""

import math
import tempfile
import warnings
from numbers import Integral

import numpy as np
from joblib import Memory
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import silhouette_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import (
    HasMethods, Interval, InvalidParameterError, StrOptions, validate_params,
)
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_consistent_length

from .._estimator import SupremeClusterer, _refuse_bool
from .._input import (
    _check_named_array, _check_source_columns, _check_source_labels, _integer_images_as_uint8,
    _user_stacklevel,
)
from ..metrics import cluster_accuracy
from ._split import NovelClassSplit


def _features(transformer, X):
    """Feature rows of samples: the transformer's, or the samples flattened."""
    if transformer is None:
        return X.reshape(len(X), -1).astype(np.float32)
    Z = np.asarray(transformer(X), dtype=np.float32)
    if Z.ndim == 0 or len(Z) != len(X):
        raise ValueError(
            f"transformer returned an array of shape {Z.shape} for {len(X)} samples; it "
            "must return one feature row per sample."
        )
    return Z.reshape(len(X), -1)


def _probe_f1_and_target_clusters(y_probe, labels, n_target):
    """How well a clustering of the mixture recovers the probe classes, and how many
    of its clusters belong to the target.

    ``labels`` cluster the mixture: ``n_target`` target samples, then the probe
    samples labelled ``y_probe``. Returns the mean over probe classes of the F1
    score of the cluster matched to each (one-to-one, best total F1, by
    :func:`scipy.optimize.linear_sum_assignment`; an unmatched class scores 0),
    where the target samples in a cluster count as false positives: the target's
    classes are novel, so none of its samples belongs to a probe class. Also
    returns the number of clusters with more target than probe samples.
    """
    _, y = np.unique(y_probe, return_inverse=True)
    # Row 0 is the target (label -1 sorts first), the others the probe classes.
    table = contingency_matrix(np.concatenate([np.full(n_target, -1), y]), labels)
    target, probe = table[0], table[1:]
    f1 = 2 * probe / (probe.sum(axis=1, keepdims=True) + table.sum(axis=0))
    rows, cols = linear_sum_assignment(f1, maximize=True)
    return f1[rows, cols].sum() / len(probe), int(np.sum(target > probe.sum(axis=0)))


def _score_probe_draw(Z_target, Z_probe, y_probe, candidates, n_probe, clusterer):
    """The terms of both criteria for every candidate K, for one probe draw."""
    Z = np.concatenate([Z_target, Z_probe])
    n_target = len(Z_target)
    terms = {name: [] for name in ("probe_accuracy", "validity", "probe_f1", "target_clusters")}
    with tempfile.TemporaryDirectory() as cache:
        if clusterer is None:
            # One Ward tree per draw: each K is a cut of it, read back from the cache.
            model = AgglomerativeClustering(
                linkage="ward", compute_full_tree=True, memory=Memory(cache, verbose=0)
            )
        else:
            model = clone(clusterer)
        for k in candidates:
            labels = model.set_params(n_clusters=int(k) + n_probe).fit_predict(Z)
            terms["probe_accuracy"].append(cluster_accuracy(y_probe, labels[n_target:]))
            target_labels = labels[:n_target]
            n_found = len(np.unique(target_labels))
            # The silhouette needs 2 to n - 1 clusters; fewer or more is the worst case.
            terms["validity"].append(
                silhouette_score(Z_target, target_labels) if 1 < n_found < n_target else -1.0
            )
            f1, n_target_clusters = _probe_f1_and_target_clusters(y_probe, labels, n_target)
            terms["probe_f1"].append(f1)
            terms["target_clusters"].append(n_target_clusters)
    return terms


def _estimates(candidates, terms):
    """The K each criterion picks from the per-draw terms (arrays of shape
    (n_draws, n_candidates)); with the per-draw counts of the probe cut."""
    score = ((terms["probe_accuracy"] + terms["validity"]) / 2).mean(axis=0)
    # Each draw's probe cut is its first best candidate; the count is read there.
    best_cut = terms["probe_f1"].argmax(axis=1)
    cut_counts = terms["target_clusters"][np.arange(len(best_cut)), best_cut]
    # The candidate nearest the mean count; the smaller one of two equally near.
    nearest = np.abs(candidates - cut_counts.mean()).argmin()
    estimates = {
        "accuracy_silhouette": int(candidates[np.argmax(score)]),
        "probe_cut": int(candidates[nearest]),
    }
    return estimates, score, cut_counts


def _class_sample(y, fraction, rng):
    """Sorted indices of a random ``fraction`` of each class of ``y``, one at least.

    A uniform sample can drop a small class, which changes the classes that probe
    draws are made of (and can leave too few); the classes keep their relative sizes.
    """
    keep = [
        rng.choice(members, max(1, round(fraction * len(members))), replace=False)
        for members in (np.flatnonzero(y == c) for c in np.unique(y))
    ]
    return np.sort(np.concatenate(keep))


def _pretrain_and_score_probe_draw(
    estimator, X_target, X_train, y_train, X_source, y_source, probes, seed, candidates,
    clusterer,
):
    """One probe draw embedded by a network pretrained on the classes of
    ``(X_train, y_train)`` other than ``probes``; the probe samples embedded are
    those of the (subsampled) ``(X_source, y_source)``."""
    trained_on = ~np.isin(y_train, probes)
    is_probe = np.isin(y_source, probes)
    Z_target, Z_probe = estimator._pretrained_features(
        X_train[trained_on], y_train[trained_on], [X_target, X_source[is_probe]], seed
    )
    return _score_probe_draw(
        Z_target, Z_probe, y_source[is_probe], candidates, len(probes), clusterer
    )


@validate_params(
    {
        "X_target": ["array-like"],
        "X_source": ["array-like"],
        "y_source": ["array-like"],
        "candidates": ["array-like", range],
        "n_probe_classes": [Interval(Integral, 1, None, closed="left"), None],
        "n_draws": [Interval(Integral, 1, None, closed="left")],
        "transformer": [callable, None],
        "estimator": [SupremeClusterer, None],
        "clusterer": [HasMethods(["fit_predict", "set_params"]), None],
        "max_samples": [Interval(Integral, 4, None, closed="left")],
        "criterion": [StrOptions({"accuracy_silhouette", "probe_cut"})],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def estimate_n_clusters(
    X_target,
    X_source,
    y_source,
    *,
    candidates=range(2, 21),
    n_probe_classes=None,
    n_draws=10,
    transformer=None,
    estimator=None,
    clusterer=None,
    max_samples=2000,
    criterion="accuracy_silhouette",
    n_jobs=None,
    random_state=None,
):
    """Estimate the number of novel classes in the target with probe source classes.

    The procedure of DTC [1]_: a few *probe* classes are held out from the
    labelled source and mixed into the unlabelled target; the mixture is
    clustered into ``K + n_probe_classes`` clusters for every candidate ``K``,
    in ``n_draws`` distinct draws of probe classes. Two criteria read ``K`` off
    these clusterings:

    ``"accuracy_silhouette"``
        A good ``K`` keeps each probe class whole and apart (high
        :func:`~sklearn_supreme.metrics.cluster_accuracy` on the probe samples,
        whose labels are known) and gives the target well-separated clusters
        (high :func:`~sklearn.metrics.silhouette_score` of the target samples).
        The score of ``K`` is the mean of the two over the draws; the best ``K``
        is returned. Suits representations in which classes are well separated.
    ``"probe_cut"``
        Transfers the granularity of classes from the probes to the target. In
        each draw, the *probe cut* is the candidate whose clustering best
        recovers the probe classes: highest mean F1 score of the cluster matched
        to each probe class, where the target samples in a cluster count
        against it (no target sample belongs to a probe class). At that cut the
        clusters with more target than probe samples are counted; the candidate
        nearest the mean count over the draws is returned. Probe classes are as
        unseen as the target's, so they are embedded alike: this suits features
        learned on the source (``estimator``), where classes overlap and the
        silhouette favours the fewest clusters. With perfectly separated
        classes the cut is ambiguous (coarser cuts that only merge target
        classes recover the probes equally well) and it under-counts. The count
        compares numbers of samples, so it assumes target and probe classes of
        similar sizes; it also needs several probe classes (one says little
        about granularity, and gives a warning).

    The terms of both criteria are computed in one pass and returned.

    Parameters
    ----------
    X_target : array-like of shape (n_samples, n_features) or image array
        Unlabelled target samples.
    X_source : array-like, shaped like ``X_target`` per sample
        Labelled source samples.
    y_source : array-like of shape (n_source_samples,)
        Source labels, scalars of one sortable type (strings, integers...); at
        least 3 classes.
    candidates : array-like of int or range, default=range(2, 21)
        Candidate numbers of target classes, integers >= 1 and fewer than the
        target samples clustered. Among equally scored ones the smallest wins.
    n_probe_classes : int, default=None
        Source classes held out as probes in each draw. None means
        ``min(2, n_source_classes - 2)``; at least 2 classes must remain, as in
        :class:`NovelClassSplit`.
    n_draws : int, default=10
        Number of distinct draws of probe classes to average over, at most the
        number of distinct sets of ``n_probe_classes`` classes.
    transformer : callable, default=None
        Maps samples to feature rows, e.g. the ``transform`` of a fitted model or
        a pretrained network's embedding; it should not have been trained on the
        probe classes' labels. A DataFrame ``X_target`` or ``X_source`` reaches it
        as a DataFrame (its rows subsampled), so that a
        :class:`~sklearn.compose.ColumnTransformer` finds its columns. None uses the samples
        themselves, flattened (pixels for images), unless ``estimator`` is given.
        Clusters are compared by Euclidean distance in this space, so its scale
        matters.
    estimator : SupremeClusterer, default=None
        Embed each draw with this estimator's backbone, pretrained (its
        ``pretrain_epochs``, ``backbone``, ``lr``, ``augment``, ``device``...) on
        the source classes other than that draw's probes, as DTC does: the probes
        stay unseen, like real novel classes. It pretrains on all those source
        samples (``max_samples`` only limits the samples embedded and clustered).
        Costs one pretraining per draw; the estimator itself is not fitted. Cannot
        be combined with ``transformer``.
    clusterer : estimator with an ``n_clusters`` parameter, default=None
        Clusters the mixture through ``fit_predict``; cloned. None means Ward
        agglomerative clustering, whose tree is computed once per draw and cut
        at every ``K``.
    max_samples : int, default=2000
        The target is randomly subsampled to at most this many samples (Ward
        clustering and the silhouette take memory quadratic in it), and the
        source by the same fraction of each class (one sample at least), so that
        probe and target classes keep their relative sizes, but not below 10
        samples per class on average, nor above
        ``max_samples * n_classes / n_probe_classes`` samples, so that a draw's
        probes number about ``max_samples`` at most. Only the embedded and
        clustered samples are subsampled: with ``estimator``, pretraining uses
        the whole source.
    criterion : {"accuracy_silhouette", "probe_cut"}, default="accuracy_silhouette"
        How ``K`` is chosen, see above; ``results.estimates`` holds both choices.
    n_jobs : int, default=None
        Number of probe draws processed in parallel by :class:`joblib.Parallel`
        (through scikit-learn's wrapper, as in :class:`SupremeClustererCV`).
    random_state : int, RandomState instance or None, default=None
        Controls the probe draws, the subsampling and a ``clusterer``'s own
        ``random_state`` (set from it when the clusterer has one).

    Returns
    -------
    n_clusters : int
        The estimated number of target classes, by ``criterion``.
    results : Bunch
        ``candidates`` (ndarray of shape (n_candidates,)); ``estimates`` (dict:
        the ``K`` of each criterion); ``probe_classes`` (list of the classes
        held out in each draw); the per-draw terms, ndarrays of shape
        (n_draws, n_candidates), where ``n_draws`` is at most the number of
        distinct sets of probe classes: ``probe_accuracy`` and ``validity`` (of
        ``"accuracy_silhouette"``), ``probe_f1`` and ``target_clusters`` (of
        ``"probe_cut"``); ``score`` (ndarray of shape (n_candidates,): the mean
        of ``probe_accuracy`` and ``validity`` over the draws) and
        ``cut_counts`` (ndarray of shape (n_draws,): the target clusters at each
        draw's probe cut).

    See Also
    --------
    sklearn_supreme.SupremeClusterer : With ``n_clusters="auto"`` it calls this function on the
        raw input, with candidates 2 to 20 (fewer than the target samples),
        ``criterion="accuracy_silhouette"`` for feature vectors and
        ``criterion="probe_cut"`` for images, and the other defaults.

    Notes
    -----
    Ward clustering of raw pixels suits small images such as the digits; for
    natural images pass a ``transformer`` giving features, or an ``estimator``
    to pretrain a network without each draw's probe classes. The estimate
    inherits the weakness of the representation: classes that are not
    separated in it are counted as one. The benchmarks page compares the two
    criteria on the digits and on CIFAR-10 (``benchmarks/model_selection.py``).

    References
    ----------
    .. [1] K. Han, A. Vedaldi and A. Zisserman, "Learning to Discover Novel
       Visual Categories via Deep Transfer Clustering", ICCV 2019.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from sklearn_supreme.model_selection import estimate_n_clusters
    >>> X, y = make_blobs(n_samples=400, centers=8, cluster_std=0.5, random_state=0)
    >>> source, target = y < 4, y >= 4
    >>> n_clusters, results = estimate_n_clusters(
    ...     X[target], X[source], y[source], candidates=range(2, 9), random_state=0)
    >>> n_clusters
    4
    >>> results.score.shape, results.probe_accuracy.shape, results.cut_counts.shape
    ((7,), (6, 7), (6,))
    """
    for name, value in (
        ("n_probe_classes", n_probe_classes), ("n_draws", n_draws), ("max_samples", max_samples),
    ):
        _refuse_bool(name, value, "estimate_n_clusters")
    dtypes = [np.float64, np.float32, np.uint8]
    _check_source_columns(getattr(X_target, "columns", None), X_source)
    # A transformer gets DataFrames as given (their rows subsampled): a ColumnTransformer
    # selects columns by name, and a scaler fitted on one warns of rows without names.
    target_frame = X_target if transformer is not None and hasattr(X_target, "iloc") else None
    source_frame = X_source if transformer is not None and hasattr(X_source, "iloc") else None
    target_rows = source_rows = slice(None)
    X_target = _check_named_array(
        _integer_images_as_uint8(X_target, "X_target"), "X_target", allow_nd=True, dtype=dtypes
    )
    X_source = _check_named_array(
        _integer_images_as_uint8(X_source, "X_source"), "X_source", allow_nd=True, dtype=dtypes
    )
    y_source = _check_source_labels(y_source)
    check_consistent_length(X_source, y_source)
    if X_source.shape[1:] != X_target.shape[1:]:
        raise ValueError(
            f"X_source has samples of shape {X_source.shape[1:]} but X_target of shape "
            f"{X_target.shape[1:]}."
        )
    candidates = list(candidates)
    if not candidates or not all(
        isinstance(k, Integral) and not isinstance(k, (bool, np.bool_)) and k >= 1
        for k in candidates
    ):
        # Not cast: int() would silently turn 2.9 into 2.
        raise ValueError(f"candidates must be integers >= 1, got {candidates!r}.")
    candidates = np.unique(np.asarray(candidates, dtype=int))
    if estimator is not None:
        # Its own fit would check its parameters only inside the first draw.
        try:
            estimator._validate_params()
        except InvalidParameterError as exc:
            # Not re-raised as is: validate_params would rewrite "The 'lr' parameter of
            # SupremeClusterer" into "... of estimate_n_clusters", which has no such one.
            raise ValueError(f"Invalid estimator: {exc}") from exc
    rng = check_random_state(random_state)

    n_classes = len(np.unique(y_source))
    n_probe = min(2, n_classes - 2) if n_probe_classes is None else n_probe_classes
    if n_probe < 1:
        raise ValueError(
            f"Estimating the number of clusters needs at least 3 source classes (probes "
            f"and 2 others); y_source has {n_classes}."
        )
    if n_classes - n_probe < 2:
        raise ValueError(
            f"n_probe_classes={n_probe} leaves fewer than 2 of the {n_classes} source "
            f"classes to train on; at least 2 must remain. Use n_probe_classes <= "
            f"{n_classes - 2}."
        )

    # Subsample before the representation: only the kept samples are embedded (a
    # network pretrained per draw still learns from the whole source). The
    # source keeps the target's fraction, so that probe and target classes keep the
    # sizes they have relative to each other (the probe cut compares numbers of
    # samples; with both cut to 2000, CIFAR-10's 3 novel classes came out as 5-6),
    # but keeps 10 samples per class at least, and about max_samples probes at most.
    fraction = min(1.0, max_samples / len(X_target))
    n_source = min(
        max(round(fraction * len(X_source)), 10 * n_classes),
        max_samples * n_classes // n_probe,
    )
    n_clustered = min(len(X_target), max_samples)
    if candidates[-1] >= n_clustered:
        subsampled = f" (max_samples={max_samples})" if len(X_target) > max_samples else ""
        raise ValueError(
            f"candidates go up to {candidates[-1]}, but there are only {n_clustered} target "
            f"samples to cluster{subsampled}."
        )
    if len(X_target) > max_samples:
        target_rows = np.sort(rng.choice(len(X_target), max_samples, replace=False))
        X_target = X_target[target_rows]
    X_train, y_train = X_source, y_source
    if len(X_source) > n_source:
        keep = _class_sample(y_source, n_source / len(X_source), rng)
        X_source, y_source, source_rows = X_source[keep], y_source[keep], keep
    if criterion == "probe_cut" and n_probe < 2:
        # One probe class only shows at which cut a class comes out whole, not how
        # finely the representation splits classes: on 7 novel digits (3 source
        # classes, 1 probe) it gave 4, 4, 4 (benchmarks page).
        # Also reached from SupremeClusterer(n_clusters="auto"), which has neither
        # n_probe_classes nor criterion: the advice names the owner of each.
        warnings.warn(
            f"criterion='probe_cut' with {n_probe} probe class per draw ({n_classes} "
            "source classes): the probe cut says little about how finely classes are "
            "split, and the estimate is unreliable. Use more source classes, or "
            "choose K otherwise: estimate_n_clusters with n_probe_classes >= 2 or "
            "criterion='accuracy_silhouette', or an integer n_clusters for "
            "SupremeClusterer.",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )
    # At least one draw, so that too many probe classes meet NovelClassSplit's own error.
    n_splits = max(1, min(n_draws, math.comb(n_classes, n_probe)))
    splitter = NovelClassSplit(n_splits, n_novel_classes=n_probe, random_state=rng)
    probe_classes = splitter.get_held_out_classes(y_source)
    if clusterer is not None and "random_state" in clusterer.get_params():
        # random_state controls every draw of the estimate, the clusterer's included.
        clusterer = clone(clusterer).set_params(
            random_state=rng.randint(np.iinfo(np.int32).max)
        )

    if estimator is None:
        Z_target = _features(
            transformer, X_target if target_frame is None else target_frame.iloc[target_rows]
        )
        Z_source = _features(
            transformer, X_source if source_frame is None else source_frame.iloc[source_rows]
        )
        per_draw = Parallel(n_jobs=n_jobs)(
            delayed(_score_probe_draw)(
                Z_target, Z_source[np.isin(y_source, classes)],
                y_source[np.isin(y_source, classes)], candidates, n_probe, clusterer,
            )
            for classes in probe_classes
        )
    else:
        if transformer is not None:
            raise ValueError("Give either transformer or estimator, not both.")
        seeds = rng.randint(np.iinfo(np.int32).max, size=len(probe_classes))
        per_draw = Parallel(n_jobs=n_jobs)(
            # The whole arrays go to every draw (joblib memory-maps large ones once),
            # each draw selects its own samples.
            delayed(_pretrain_and_score_probe_draw)(
                clone(estimator), X_target, X_train, y_train, X_source, y_source, classes,
                seed, candidates, clusterer,
            )
            for classes, seed in zip(probe_classes, seeds)
        )
    terms = {name: np.array([draw[name] for draw in per_draw]) for name in per_draw[0]}
    estimates, score, cut_counts = _estimates(candidates, terms)
    results = Bunch(
        candidates=candidates, estimates=estimates, score=score, cut_counts=cut_counts,
        probe_classes=probe_classes, **terms,
    )
    return estimates[criterion], results
