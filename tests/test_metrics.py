"""Tests for sklearn_supreme.metrics."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.model_selection import GridSearchCV, cross_validate

from sklearn_supreme.metrics import (
    cluster_accuracy,
    cluster_accuracy_scorer,
    clustering_report,
)


def _brute_force_accuracy(y_true, y_pred):
    """Best one-to-one matching found by trying every injective matching."""
    classes, clusters = np.unique(y_true), np.unique(y_pred)
    counts = {(c, k): np.sum((y_true == c) & (y_pred == k)) for c in classes for k in clusters}
    best = 0
    # Match the smaller side injectively into the larger one.
    if len(classes) <= len(clusters):
        for image in itertools.permutations(clusters, len(classes)):
            best = max(best, sum(counts[c, k] for c, k in zip(classes, image)))
    else:
        for image in itertools.permutations(classes, len(clusters)):
            best = max(best, sum(counts[c, k] for c, k in zip(image, clusters)))
    return best / len(y_true)


@pytest.mark.parametrize(
    "y_true, y_pred, expected",
    [
        # Identical and renamed clusterings are perfect.
        ([0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2], 1.0),
        ([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1], 1.0),
        # Square table [[2, 1], [0, 3]]: 0->0 and 1->1 match 5 of 6 samples.
        ([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1], 5 / 6),
        # Table [[3, 2], [2, 0]]: greedily taking the 3 would give 3/7, but
        # the best one-to-one matching is 0->1 and 1->0, with 2 + 2 = 4.
        ([0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0, 0], 4 / 7),
        # More clusters than classes, table [[2, 2, 0], [0, 0, 2]]: one of
        # the two halves of class 0 is unmatched, so 4 of 6 (purity is 1).
        ([0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 2, 2], 4 / 6),
        # Fewer clusters than classes, table [[2, 0], [2, 0], [0, 2]]: one of
        # classes 0 and 1 is unmatched, so 4 of 6.
        ([0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 1, 1], 4 / 6),
        # A single cluster matches only the largest class.
        ([0, 0, 0, 1, 2], [5, 5, 5, 5, 5], 3 / 5),
        # A single sample.
        ([3], [9], 1.0),
    ],
)
def test_cluster_accuracy_hand_computed(y_true, y_pred, expected):
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(expected)


def test_cluster_accuracy_returns_python_float():
    score = cluster_accuracy(np.array([0, 1, 1]), np.array([1, 0, 0]))
    assert type(score) is float
    assert score == 1.0


def test_cluster_accuracy_any_hashable_labels():
    y_true = ["cat", "cat", "dog", "dog", "eel", "eel"]
    # Non-contiguous, negative integer cluster ids; table [[2,0,0],[0,1,1],[0,0,2]].
    y_pred = [10, 10, -3, 7, 7, 7]
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(5 / 6)
    # Same clustering with the ids renamed to strings and the classes to ints.
    y_true_int = [100, 100, 4, 4, -1, -1]
    y_pred_str = ["x", "x", "y", "z", "z", "z"]
    assert cluster_accuracy(y_true_int, y_pred_str) == pytest.approx(5 / 6)
    # Object arrays, as pandas produces for strings, work too.
    y_obj = np.array(["p", "p", "q", "q"], dtype=object)
    assert cluster_accuracy([0, 0, 1, 1], y_obj) == 1.0


def test_cluster_accuracy_permutation_invariance():
    rng = np.random.RandomState(0)
    y_true = rng.randint(4, size=200)
    y_pred = rng.randint(6, size=200)
    score = cluster_accuracy(y_true, y_pred)
    for _ in range(5):
        relabel = rng.permutation(6) * 3 + 11
        assert cluster_accuracy(y_true, relabel[y_pred]) == pytest.approx(score)
        # Shuffling the samples consistently in both labellings changes nothing.
        order = rng.permutation(200)
        assert cluster_accuracy(y_true[order], y_pred[order]) == pytest.approx(score)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 25).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
            st.lists(st.integers(0, 4), min_size=n, max_size=n),
        )
    )
)
def test_cluster_accuracy_matches_brute_force(labels):
    y_true, y_pred = map(np.asarray, labels)
    score = cluster_accuracy(y_true, y_pred)
    assert 0.0 <= score <= 1.0
    assert score == pytest.approx(_brute_force_accuracy(y_true, y_pred))
    # Matching is one-to-one either way, so the arguments can be swapped.
    assert cluster_accuracy(y_pred, y_true) == pytest.approx(score)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 20).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
            st.lists(st.integers(0, 4), min_size=n, max_size=n),
            st.lists(st.integers(0, 3), min_size=n, max_size=n).filter(any),
        )
    )
)
def test_cluster_accuracy_integer_weights_repeat_samples(labels):
    # An integer weight counts as that many copies of the sample; 0 as its absence.
    y_true, y_pred, weights = map(np.asarray, labels)
    weighted = cluster_accuracy(y_true, y_pred, sample_weight=weights)
    repeated = cluster_accuracy(np.repeat(y_true, weights), np.repeat(y_pred, weights))
    assert weighted == pytest.approx(repeated)
    # Only relative weights matter.
    assert cluster_accuracy(y_true, y_pred, sample_weight=weights / 7) == pytest.approx(weighted)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=30).flatmap(
        lambda y: st.tuples(
            st.just(y),
            st.lists(st.floats(0.01, 100.0), min_size=len(y), max_size=len(y)),
            st.permutations(range(5)),
        )
    )
)
def test_weighted_accuracy_of_a_perfect_clustering_is_exactly_one(case):
    # Summed in different orders, matched and total weight differed in the last bit:
    # 1.0000000000000002 for the inverse class sizes the docstring suggests.
    y, weights, relabel = case
    y = np.asarray(y)
    assert cluster_accuracy(y, np.asarray(relabel)[y], sample_weight=weights) == 1.0
    assert cluster_accuracy(y, np.zeros_like(y), sample_weight=weights) <= 1.0


def test_cluster_accuracy_weights_change_the_matching():
    # Unweighted, class 0 -> cluster 0 and class 1 -> cluster 1 match 3 + 1 samples
    # (against 0 + 2 the other way round). With the samples of class 1 weighted 4,
    # the other matching wins: class 1 -> cluster 0 (2 * 4 = 8), class 0 -> cluster 1
    # (0), against 3 + 4 = 7; the total weight is 3 + 3 * 4 = 15.
    y_true = [0, 0, 0, 1, 1, 1]
    y_pred = [0, 0, 0, 0, 0, 1]
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    weights = [1, 1, 1, 4, 4, 4]
    assert cluster_accuracy(y_true, y_pred, sample_weight=weights) == pytest.approx(8 / 15)
    assert cluster_accuracy(y_true, y_pred, sample_weight=np.ones(6)) == pytest.approx(4 / 6)


@pytest.mark.parametrize(
    "weights, match",
    [
        ([1, 1], r"one weight per sample \(3\), got shape \(2,\)"),
        ([[1, 1, 1]], r"one weight per sample \(3\), got shape \(1, 3\)"),
        ([1, -0.5, 1], "sample_weight has 1 negative weights"),
        ([0, 0, 0], "sample_weight is zero for every sample"),
        ([1, np.nan, 1], "sample_weight contains NaN"),
        ([1, np.inf, 1], "sample_weight contains infinity"),
    ],
)
def test_cluster_accuracy_invalid_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        cluster_accuracy([0, 1, 1], [1, 0, 0], sample_weight=weights)


@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [
        ([0, 1, 1], [0, 1], "inconsistent numbers of samples"),
        ([], [], "0 sample"),
        ([[0, 1], [1, 0]], [[0, 1], [1, 0]], "y_true must be 1-D"),
        ([0, 1], [[0], [1]], "y_pred must be 1-D"),
        ([0.0, np.nan], [0, 1], "y_true contains NaN"),
        # None in object labels used to fail deep in NumPy with a bare TypeError
        ([0, None, 1], [0, 1, 1], "y_true has 1 missing labels"),
        ([0, 1, 1], np.array(["a", None, "b"], dtype=object), "y_pred has 1 missing labels"),
        # NaN among objects: check_array's own message would not name the input
        (np.array(["a", np.nan], dtype=object), [0, 1], "y_true has 1 missing labels"),
    ],
)
def test_cluster_accuracy_invalid_input(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        cluster_accuracy(y_true, y_pred)


def test_cluster_accuracy_names_mixed_label_types():
    with pytest.raises(TypeError, match=r"y_true mixes labels of types \['int', 'str'\]"):
        cluster_accuracy(np.array([0, "a", 1], dtype=object), [0, 1, 1])
    # In a list, NumPy would turn 0 and "0" into one string class, and score 0.5.
    with pytest.raises(TypeError, match=r"y_pred mixes labels of types \['int', 'str'\]"):
        cluster_accuracy([0, 1, 2, 3], [0, "0", 1, "1"])
    # A missing label is named as missing, not as a type of its own.
    with pytest.raises(ValueError, match="y_true has 1 missing labels"):
        cluster_accuracy(["a", None, "b"], [0, 1, 1])
    # Strings alone, or numbers alone, in lists are fine.
    assert cluster_accuracy(["a", "b"], [1, 0]) == cluster_accuracy([0, 1], [1.0, 0.0]) == 1.0


@pytest.mark.parametrize("dtype, values", [("Int64", [0, None, 1]), ("string", ["a", None, "b"])])
def test_cluster_accuracy_pandas_missing_labels(dtype, values):
    # pd.NA of a string Series made check_array fail with a bare TypeError
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match="y_true has 1 missing labels"):
        cluster_accuracy(pd.Series(values, dtype=dtype), [0, 1, 1])
    with pytest.raises(ValueError, match="y_pred has 1 missing labels"):
        clustering_report([0, 1, 1], pd.Series(values, dtype=dtype))
    assert cluster_accuracy(pd.Series(["a", "b", "a"], dtype="string"), [0, 1, 0]) == 1.0


@pytest.mark.parametrize(
    "y_true, y_pred",
    [
        ([0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2]),
        ([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]),
        (["a", "a", "b", "b", "c"], [4, 4, 4, 7, 7]),
    ],
)
def test_clustering_report(y_true, y_pred):
    report = clustering_report(y_true, y_pred)
    assert list(report) == ["acc", "nmi", "ari"]
    assert all(type(value) is float for value in report.values())
    assert report["acc"] == cluster_accuracy(y_true, y_pred)
    assert report["nmi"] == pytest.approx(normalized_mutual_info_score(y_true, y_pred))
    assert report["ari"] == pytest.approx(adjusted_rand_score(y_true, y_pred))


def test_clustering_report_invalid_input():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clustering_report([0, 1, 1], [0, 1])


@pytest.fixture
def blobs():
    # Far-apart centres make the blobs separable, so KMeans recovers them.
    centers = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]
    X, y = make_blobs(n_samples=120, centers=centers, cluster_std=1.0, random_state=0)
    return X, y


def test_scorer_calls_predict(blobs):
    X, y = blobs
    kmeans = KMeans(n_clusters=3, n_init=10, random_state=0).fit(X)
    expected = cluster_accuracy(y, kmeans.predict(X))
    assert cluster_accuracy_scorer(kmeans, X, y) == pytest.approx(expected)


def test_scorer_passes_sample_weight(blobs):
    X, y = blobs
    model = KMeans(n_clusters=2, n_init=10, random_state=0).fit(X)
    weights = np.where(y == 0, 5.0, 1.0)
    expected = cluster_accuracy(y, model.predict(X), sample_weight=weights)
    assert expected != pytest.approx(cluster_accuracy(y, model.predict(X)))
    assert cluster_accuracy_scorer(model, X, y, sample_weight=weights) == pytest.approx(expected)


def test_scorer_in_cross_validate(blobs):
    X, y = blobs
    result = cross_validate(
        KMeans(n_clusters=3, n_init=10, random_state=0),
        X,
        y,
        scoring=cluster_accuracy_scorer,
        cv=3,
    )
    scores = result["test_score"]
    assert scores.shape == (3,)
    # Well-separated blobs are recovered up to the renaming of clusters.
    np.testing.assert_allclose(scores, 1.0)


def test_scorer_in_grid_search(blobs):
    X, y = blobs
    search = GridSearchCV(
        KMeans(n_init=10, random_state=0),
        {"n_clusters": [2, 3, 5]},
        scoring=cluster_accuracy_scorer,
        cv=3,
    ).fit(X, y)
    # Too few clusters leave a class unmatched and too many split one, so
    # accuracy, unlike inertia, prefers the true number of clusters.
    assert search.best_params_ == {"n_clusters": 3}
