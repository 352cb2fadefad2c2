"""Evaluation metrics for clusterings of novel-class target data.

Transfer clustering is evaluated with the three usual external criteria:

* clustering accuracy (ACC), provided here as :func:`cluster_accuracy`, which
  scores a clustering after the best one-to-one matching of clusters to
  classes;
* normalized mutual information (NMI), use
  :func:`sklearn.metrics.normalized_mutual_info_score`;
* adjusted Rand index (ARI), use :func:`sklearn.metrics.adjusted_rand_score`.

:func:`clustering_report` computes all three at once, and
:data:`cluster_accuracy_scorer` wraps ACC as a scikit-learn scorer for
``scoring=`` in :func:`~sklearn.model_selection.cross_validate` or
:class:`~sklearn.model_selection.GridSearchCV`.

Examples
--------
Score a clusterer by cross-validation:

>>> from sklearn.cluster import KMeans
>>> from sklearn.datasets import make_blobs
>>> from sklearn.model_selection import cross_validate
>>> from sklearn_supreme.metrics import cluster_accuracy_scorer
>>> X, y = make_blobs(n_samples=90, centers=3, cluster_std=0.5, random_state=0)
>>> scores = cross_validate(KMeans(3, n_init=10, random_state=0), X, y,
...                         scoring=cluster_accuracy_scorer, cv=3)
>>> scores["test_score"].round(2)
array([1., 1., 1.])
"""

import math

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import (
    adjusted_rand_score,
    make_scorer,
    normalized_mutual_info_score,
)
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d

__all__ = ["cluster_accuracy", "cluster_accuracy_scorer", "clustering_report"]


def _keep_label_types(labels):
    """``labels``, as an array of dtype object if it is a list that mixes strings with
    other values.

    NumPy turns ``[1, "1"]`` into the strings ``["1", "1"]``, one class where there
    were two, before any check could see the mix; as objects, the values keep their
    types, and the checks below name the mix (or the missing labels among them).
    """
    if hasattr(labels, "dtype") or isinstance(labels, str):
        return labels
    try:
        values = np.asarray(labels, dtype=object)
    except ValueError:  # ragged: left to the shape checks
        return labels
    is_str = [isinstance(v, str) for v in values.ravel()]
    return values if any(is_str) and not all(is_str) else labels


def _check_complete_labels(labels, name, hint=""):
    """``labels`` as a 1-D array of labels that are all present and sort together.

    Missing labels (NaN, None, pandas' NA) would otherwise count as a class of their
    own, or fail deep in NumPy; labels of mixed types fail to sort (``np.unique``,
    ``LabelEncoder``) with a bare ``TypeError`` (or, in a list, strings mixed with
    numbers would all become strings). ``hint`` ends the missing-label error.
    """
    labels = _keep_label_types(labels)
    if hasattr(labels, "isna"):  # pandas: NaN, None and pd.NA alike
        missing = np.asarray(labels.isna()).ravel()
    else:
        missing = None
    labels = column_or_1d(np.asarray(labels), warn=False)
    if missing is None:
        if labels.dtype.kind == "f":
            missing = np.isnan(labels)
        elif labels.dtype == object:
            missing = np.array([v is None or (isinstance(v, float) and v != v) for v in labels])
        else:
            missing = np.zeros(len(labels), dtype=bool)
    if missing.any():
        raise ValueError(f"{name} has {int(missing.sum())} missing labels (NaN or None).{hint}")
    try:
        np.unique(labels)
    except TypeError as exc:
        kinds = sorted({type(v).__name__ for v in labels})
        raise TypeError(
            f"{name} mixes labels of types {kinds}, which do not sort together; use "
            "labels of one type (all strings, or all integers)."
        ) from exc
    return labels


def _check_labels(labels, name):
    """Validate one labelling as a non-empty 1-D array of present, sortable values."""
    labels = _keep_label_types(labels)
    if getattr(labels, "ndim", None) == 1 and (
        hasattr(labels, "isna") or getattr(labels, "dtype", None) == object
    ):
        # Missing values first: check_array fails on pd.NA of a string Series with a
        # bare "boolean value of NA is ambiguous", and on NaN among objects with an
        # "Input contains NaN" that does not name the input.
        labels = _check_complete_labels(labels, name)
    # dtype=None keeps string and object labels instead of forcing numbers.
    y = check_array(labels, ensure_2d=False, dtype=None, ensure_min_samples=1, input_name=name)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {y.shape}.")
    return _check_complete_labels(y, name)


def _check_clusterings(y_true, y_pred):
    """Validate a pair of labellings of the same samples."""
    # Lengths are compared first so that a mismatch is reported as such,
    # even when one of the two is also empty.
    check_consistent_length(y_true, y_pred)
    return _check_labels(y_true, "y_true"), _check_labels(y_pred, "y_pred")


def _check_weights(sample_weight, n_samples):
    """``sample_weight`` as a 1-D float64 array of ``n_samples`` finite, non-negative
    weights, not all zero.

    Written here rather than with scikit-learn's private ``_check_sample_weight``,
    whose options differ between the scikit-learn versions the package supports.
    """
    weights = check_array(
        sample_weight, ensure_2d=False, dtype=np.float64, ensure_min_samples=0,
        input_name="sample_weight",
    )
    if weights.ndim != 1 or len(weights) != n_samples:
        raise ValueError(
            f"sample_weight must be 1-D with one weight per sample ({n_samples}), got "
            f"shape {weights.shape}."
        )
    if (weights < 0).any():
        raise ValueError(f"sample_weight has {int((weights < 0).sum())} negative weights.")
    if not weights.sum() > 0:
        raise ValueError("sample_weight is zero for every sample: nothing to score.")
    return weights


def cluster_accuracy(y_true, y_pred, *, sample_weight=None):
    """Clustering accuracy under the best one-to-one cluster-to-class matching.

    Each predicted cluster is matched to at most one true class, and each
    class to at most one cluster, so as to maximise the number of samples
    whose cluster is matched to their class (the Hungarian algorithm on the
    contingency table). The accuracy is that number divided by the number of
    samples; with ``sample_weight``, the matched weight divided by the total
    weight, the matching chosen to maximise it. When there are more clusters
    than classes, the samples of the unmatched clusters count as errors; when
    there are fewer, so do the samples of the unmatched classes. Cluster ids
    are arbitrary, so the score is invariant to any relabelling of ``y_pred``
    (and of ``y_true``), and it is symmetric in its two arguments.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels: scalars of one type, e.g. strings or
        non-contiguous integers.

    y_pred : array-like of shape (n_samples,)
        Predicted cluster labels, with the same freedom as ``y_true``.

    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weight of each sample, as in
        :func:`~sklearn.metrics.accuracy_score`: an integer weight counts as that
        many copies of the sample, and a weight of 0 as its absence. Weighting
        each sample by the inverse of its class size scores every class
        equally, however imbalanced the target. None weighs all samples
        equally.

    Returns
    -------
    accuracy : float
        Fraction of samples (of the total weight) correctly assigned under the
        best matching, in ``[0, 1]``; ``1.0`` means the clustering equals the
        classes up to a renaming of the clusters.

    Raises
    ------
    ValueError
        If the two labellings differ in length, are empty, are not 1-D or
        have missing labels (NaN, None, pandas' NA); if ``sample_weight`` has
        another length, a negative or non-finite weight, or sums to zero.
    TypeError
        If a labelling mixes types that do not sort together (ints and strings).

    See Also
    --------
    clustering_report : ACC together with NMI and ARI.
    sklearn.metrics.normalized_mutual_info_score : NMI.
    sklearn.metrics.adjusted_rand_score : ARI.

    Examples
    --------
    >>> from sklearn_supreme.metrics import cluster_accuracy
    >>> cluster_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> cluster_accuracy(["cat", "cat", "dog", "dog"], [7, 7, 7, 3])
    0.75

    Splitting a class over two clusters costs the samples of one of them:

    >>> round(cluster_accuracy([0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.6667

    Weighted by the inverse class sizes, the small class counts as much as the
    large one:

    >>> y_true, y_pred = [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 1]
    >>> round(cluster_accuracy(y_true, y_pred), 4)
    0.8333
    >>> cluster_accuracy(y_true, y_pred, sample_weight=[1, 1, 1, 1, 2, 2])
    0.75
    """
    y_true, y_pred = _check_clusterings(y_true, y_pred)
    weights = (
        np.ones(y_true.shape[0]) if sample_weight is None
        else _check_weights(sample_weight, y_true.shape[0])
    )
    # Rows are classes and columns clusters, each sample counted by its weight, built
    # as scikit-learn's contingency_matrix builds it (which takes no weights): labels
    # encoded by np.unique, so arbitrary sortable labels work, and a sparse matrix
    # summing the weights of repeated pairs.
    _, classes = np.unique(y_true, return_inverse=True)
    _, clusters = np.unique(y_pred, return_inverse=True)
    contingency = sp.coo_matrix((weights, (classes, clusters))).toarray()
    # Both sums of the table's own cells, exactly rounded: a perfect clustering scores
    # exactly 1.0 (summed in other orders, 1.0000000000000002 with some weights), and
    # no clustering more.
    total = math.fsum(contingency.ravel())
    # The assignment solver accepts rectangular tables and then matches
    # min(n_classes, n_clusters) pairs, leaving the rest unmatched.
    rows, cols = linear_sum_assignment(contingency, maximize=True)
    return float(math.fsum(contingency[rows, cols]) / total)


#: Scorer computing :func:`cluster_accuracy` from ``estimator.predict(X)``.
#:
#: Use it as ``scoring=cluster_accuracy_scorer`` with any estimator that has
#: ``fit`` and ``predict``, such as a clusterer; greater is better.
#
# make_scorer calls ``estimator.predict(X)`` and compares the result with the
# y of the held-out fold, which is exactly what a clusterer with ``predict``
# needs; cluster ids need no alignment because the metric matches them itself.
cluster_accuracy_scorer = make_scorer(cluster_accuracy, response_method="predict")


def clustering_report(y_true, y_pred):
    """Compute clustering accuracy, NMI and ARI of one clustering.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels (scalars of one type).

    y_pred : array-like of shape (n_samples,)
        Predicted cluster labels (scalars of one type).

    Returns
    -------
    report : dict
        ``{"acc": float, "nmi": float, "ari": float}`` with the
        :func:`cluster_accuracy`, the
        :func:`~sklearn.metrics.normalized_mutual_info_score` (with its
        default arithmetic normalisation) and the
        :func:`~sklearn.metrics.adjusted_rand_score` of ``y_pred`` against
        ``y_true``.

    Raises
    ------
    ValueError
        If the two labellings differ in length, are empty, are not 1-D or
        have missing labels (NaN, None, pandas' NA).
    TypeError
        If a labelling mixes types that do not sort together (ints and strings).

    Examples
    --------
    >>> from sklearn_supreme.metrics import clustering_report
    >>> report = clustering_report([0, 0, 1, 1], [1, 1, 0, 0])
    >>> {name: round(value, 4) for name, value in report.items()}
    {'acc': 1.0, 'nmi': 1.0, 'ari': 1.0}
    """
    # Validate once here so that all three metrics see the same arrays and
    # errors come from our checks rather than from three different ones.
    y_true, y_pred = _check_clusterings(y_true, y_pred)
    return {
        "acc": cluster_accuracy(y_true, y_pred),
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
    }
