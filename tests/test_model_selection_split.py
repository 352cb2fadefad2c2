"""Tests for the NovelClassSplit splitter of sklearn_supreme.model_selection."""

import math

import numpy as np
import pytest
from sklearn import config_context
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.model_selection import check_cv, cross_val_score, cross_validate

from sklearn_supreme.metrics import cluster_accuracy, cluster_accuracy_scorer
from sklearn_supreme.model_selection import NovelClassSplit


def _labels(n_classes, rng=0):
    """Shuffled labels with unequal, non-contiguous class sizes."""
    rng = np.random.RandomState(rng)
    y = np.repeat(np.arange(n_classes) * 10 + 3, np.arange(n_classes) + 2)
    return rng.permutation(y)


def _held_out_sets(cv, X, y):
    return [frozenset(np.unique(y[test]).tolist()) for _, test in cv.split(X, y)]


@pytest.mark.parametrize("n_classes, n_splits, n_novel", [(3, 3, 1), (6, 5, 2), (7, 10, 3)])
def test_split_contract(n_classes, n_splits, n_novel):
    y = _labels(n_classes)
    X = np.zeros((y.shape[0], 2))
    cv = NovelClassSplit(n_splits, n_novel_classes=n_novel, random_state=0)
    splits = list(cv.split(X, y))

    assert len(splits) == n_splits == cv.get_n_splits(X, y)
    for train, test in splits:
        # Sorted, disjoint and together covering every sample once.
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))
        test_classes, train_classes = set(y[test]), set(y[train])
        # Class-disjoint: each class lies wholly on one side.
        assert test_classes.isdisjoint(train_classes)
        assert len(test_classes) == n_novel
        assert len(train_classes) == n_classes - n_novel
    # No held-out class set is repeated.
    assert len(set(_held_out_sets(cv, X, y))) == n_splits


def test_all_class_sets_when_n_splits_equals_their_number():
    y = _labels(5)
    X = np.zeros((len(y), 1))
    cv = NovelClassSplit(n_splits=math.comb(5, 2), n_novel_classes=2, random_state=0)
    held_out = _held_out_sets(cv, X, y)
    assert len(set(held_out)) == 10
    assert set().union(*held_out) == set(y)


def test_reproducible_with_int_random_state():
    y = _labels(6)
    X = np.zeros((len(y), 1))
    first = list(NovelClassSplit(5, random_state=42).split(X, y))
    again = list(NovelClassSplit(5, random_state=42).split(X, y))
    for (train_a, test_a), (train_b, test_b) in zip(first, again):
        np.testing.assert_array_equal(train_a, train_b)
        np.testing.assert_array_equal(test_a, test_b)
    # Splitting twice with the same splitter also gives the same splits.
    cv = NovelClassSplit(5, random_state=42)
    assert _held_out_sets(cv, X, y) == _held_out_sets(cv, X, y)


def test_different_random_states_differ():
    y = _labels(6)
    X = np.zeros((len(y), 1))
    held_out_0 = _held_out_sets(NovelClassSplit(5, random_state=0), X, y)
    held_out_1 = _held_out_sets(NovelClassSplit(5, random_state=1), X, y)
    assert held_out_0 != held_out_1


def test_random_state_instance_is_accepted():
    y = _labels(6)
    X = np.zeros((len(y), 1))
    cv = NovelClassSplit(4, random_state=np.random.RandomState(0))
    assert len(set(_held_out_sets(cv, X, y))) == 4


def test_string_labels():
    y = np.array(["cat", "dog", "eel", "fox"] * 3)
    X = np.zeros((len(y), 3))
    cv = NovelClassSplit(n_splits=6, n_novel_classes=2, random_state=0)
    for train, test in cv.split(X, y):
        assert set(y[train]).isdisjoint(y[test])
        assert len(set(y[test])) == 2
    assert len(set(_held_out_sets(cv, X, y))) == 6


@pytest.mark.parametrize(
    "fraction, n_classes, expected",
    [
        (0.5, 6, 3),
        # Rounded up, like test_size in train_test_split: ceil(1.5) == 2.
        (0.25, 6, 2),
        (0.1, 5, 1),
        (0.3, 10, 3),
        # 0.07 * 100 is 7.000000000000001 in floating point, yet means 7.
        (0.07, 100, 7),
        # A split always holds out a class, as train_test_split always tests a sample.
        (1e-12, 5, 1),
    ],
)
def test_fraction_of_classes(fraction, n_classes, expected):
    y = np.repeat(np.arange(n_classes), 2)
    X = np.zeros((len(y), 1))
    cv = NovelClassSplit(n_splits=2, n_novel_classes=fraction, random_state=0)
    for train, test in cv.split(X, y):
        assert len(np.unique(y[test])) == expected
        assert len(np.unique(y[train])) == n_classes - expected


def test_many_classes_draws_distinct_sets_without_listing_them():
    # C(40, 10) is about 8.5e8 sets, far too many to list, so sets are drawn.
    y = np.repeat(np.arange(40), 3)
    X = np.zeros((len(y), 1))
    cv = NovelClassSplit(n_splits=30, n_novel_classes=10, random_state=0)
    held_out = _held_out_sets(cv, X, y)
    assert len(set(held_out)) == 30
    assert all(len(classes) == 10 for classes in held_out)
    assert held_out == _held_out_sets(cv, X, y)
    # As when the sets are listed, get_held_out_classes gives each one sorted, and
    # the same as the test set's classes.
    for classes, (_, test) in zip(cv.get_held_out_classes(y), cv.split(X, y)):
        np.testing.assert_array_equal(classes, np.unique(y[test]))


def test_groups_are_ignored():
    y = _labels(5)
    X = np.zeros((len(y), 1))
    cv = NovelClassSplit(3, random_state=0)
    groups = np.arange(len(y)) % 2
    assert _held_out_sets(cv, X, y) == [
        frozenset(np.unique(y[test]).tolist()) for _, test in cv.split(X, y, groups)
    ]


def test_get_held_out_classes_matches_split():
    y = np.array(["b", "a", "c", "d", "a", "b", "e", "c", "d", "e"])
    X = np.zeros((len(y), 1))
    cv = NovelClassSplit(4, n_novel_classes=2, random_state=3)
    held_out = cv.get_held_out_classes(y)
    assert len(held_out) == 4
    for classes, (_, test) in zip(held_out, cv.split(X, y)):
        np.testing.assert_array_equal(classes, np.unique(y[test]))


def test_repr_and_check_cv():
    cv = NovelClassSplit(3, n_novel_classes=0.4, random_state=7)
    assert repr(cv) == "NovelClassSplit(n_novel_classes=0.4, n_splits=3, random_state=7)"
    assert check_cv(cv) is cv


def test_y_is_required():
    X = np.zeros((6, 1))
    with pytest.raises(ValueError, match="'y' parameter should not be None"):
        NovelClassSplit().split(X)
    with pytest.raises(ValueError, match="'y' parameter should not be None"):
        NovelClassSplit().get_held_out_classes(None)


@pytest.mark.parametrize(
    "n_classes, n_novel, message",
    [
        (4, 3, "holds out 3 of the 4 classes in y, leaving 1 to train on"),
        (2, 1, "holds out 1 of the 2 classes in y, leaving 1 to train on"),
        (3, 5, "holds out 5 of the 3 classes in y, leaving 0 to train on"),
        # ceil(0.6 * 4) == 3 held out, leaving 1.
        (4, 0.6, "n_novel_classes=0.6 holds out 3 of the 4 classes"),
    ],
)
def test_too_few_training_classes(n_classes, n_novel, message):
    y = np.repeat(np.arange(n_classes), 3)
    X = np.zeros((len(y), 1))
    cv = NovelClassSplit(1, n_novel_classes=n_novel)
    with pytest.raises(ValueError, match=message):
        cv.split(X, y)


def test_more_splits_than_distinct_class_sets():
    y = np.repeat(np.arange(4), 2)
    X = np.zeros((len(y), 1))
    # C(4, 2) == 6 distinct pairs of held-out classes.
    with pytest.raises(ValueError, match="n_splits=7 greater .* which is 6"):
        NovelClassSplit(7, n_novel_classes=2).split(X, y)
    assert len(list(NovelClassSplit(6, n_novel_classes=2).split(X, y))) == 6


@pytest.mark.parametrize("n_splits", [0, -1, 2.5, "3", True, None])
def test_invalid_n_splits(n_splits):
    with pytest.raises(ValueError, match="n_splits must be an integer >= 1"):
        NovelClassSplit(n_splits)


@pytest.mark.parametrize("n_novel", [0, -2, 0.0, 1.0, 1.5, "2", True, None])
def test_invalid_n_novel_classes(n_novel):
    with pytest.raises(ValueError, match=r"n_novel_classes must be an integer >= 1 or a float"):
        NovelClassSplit(n_novel_classes=n_novel)


def test_column_vector_y_splits_as_its_labels():
    # As scikit-learn's StratifiedKFold: (n, 1) labels, or a one-column DataFrame, are
    # the labels they hold.
    pd = pytest.importorskip("pandas")
    y = np.repeat(["ant", "bee", "cat", "dog"], 3)
    cv = NovelClassSplit(3, n_novel_classes=2, random_state=0)
    expected = [(train.tolist(), test.tolist()) for train, test in cv.split(y, y)]
    for column in (y[:, None], pd.DataFrame({"label": y}), [[v] for v in y]):
        assert [(train.tolist(), test.tolist()) for train, test in cv.split(y, column)] == expected
        held_out = cv.get_held_out_classes(column)
        assert [c.tolist() for c in held_out] == [c.tolist() for c in cv.get_held_out_classes(y)]


def test_invalid_y():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        NovelClassSplit(1, n_novel_classes=1).split(np.zeros((5, 1)), [0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match="y must be 1-D"):
        NovelClassSplit(1, n_novel_classes=1).split(np.zeros((3, 1)), np.zeros((3, 2)))
    mixed = np.array([0, 0, "b", "b", 2, 2], dtype=object)
    with pytest.raises(TypeError, match=r"y mixes labels of types \['int', 'str'\]"):
        NovelClassSplit(1, n_novel_classes=1).split(np.zeros((6, 1)), mixed)
    with pytest.raises(TypeError, match=r"y mixes labels of types \['int', 'str'\]"):
        # as a list: NumPy alone would merge 1 and "1" into one class
        next(NovelClassSplit(1, n_novel_classes=1).split(
            np.zeros((6, 1)), [1, "1", 2, "2", 3, "3"]
        ))
    with pytest.raises(ValueError, match="y has 1 missing labels"):
        NovelClassSplit(1, n_novel_classes=1).split(
            np.zeros((4, 1)), np.array(["a", None, "b", "c"], dtype=object)
        )


def test_pandas_missing_labels_are_named():
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match="y has 1 missing labels"):
        NovelClassSplit(1, n_novel_classes=1).split(
            np.zeros((4, 1)), pd.Series(["a", pd.NA, "b", "c"], dtype="string")
        )


@pytest.fixture
def source_blobs():
    # Six well-separated source classes, of which each split holds out two.
    centers = [[10.0 * i, 10.0 * (i % 2)] for i in range(6)]
    return make_blobs(n_samples=180, centers=centers, cluster_std=1.0, random_state=0)


def test_cv_in_cross_val_score(source_blobs):
    X, y = source_blobs
    cv = NovelClassSplit(n_splits=4, n_novel_classes=2, random_state=0)
    scores = cross_val_score(
        KMeans(n_clusters=2, n_init=10, random_state=0),
        X,
        y,
        cv=cv,
        scoring=cluster_accuracy_scorer,
    )
    # each split scores the held-out classes by the model fitted on the others
    expected = [
        cluster_accuracy(
            y[test], KMeans(n_clusters=2, n_init=10, random_state=0).fit(X[train]).predict(X[test])
        )
        for train, test in cv.split(X, y)
    ]
    np.testing.assert_allclose(scores, expected)


def test_cv_in_cross_validate_with_metadata_routing(source_blobs):
    X, y = source_blobs
    cv = NovelClassSplit(n_splits=3, n_novel_classes=2, random_state=0)
    # Subclassing BaseCrossValidator gives a routing request that leaves
    # groups unused, so routing-enabled model selection accepts the splitter.
    with config_context(enable_metadata_routing=True):
        result = cross_validate(
            KMeans(n_clusters=2, n_init=10, random_state=0),
            X,
            y,
            cv=cv,
            scoring=cluster_accuracy_scorer,
        )
    expected = cross_val_score(
        KMeans(n_clusters=2, n_init=10, random_state=0), X, y, cv=cv,
        scoring=cluster_accuracy_scorer,
    )
    np.testing.assert_allclose(result["test_score"], expected)


def test_cross_val_score_without_y_explains(source_blobs):
    X, _ = source_blobs
    with pytest.raises(ValueError, match="'y' parameter should not be None"):
        cross_val_score(KMeans(n_clusters=2, n_init=10), X, cv=NovelClassSplit(2))


def test_drawn_class_sets_are_distinct_where_repeats_are_likely():
    # C(142, 2) = 10,011 sets, above the listing limit: drawn. 5,000 draws would repeat
    # some with near certainty (birthday bound) were repeats not rejected.
    cv = NovelClassSplit(n_splits=5000, n_novel_classes=2, random_state=0)
    held_out = [tuple(classes) for classes in cv.get_held_out_classes(np.arange(142))]
    assert len(held_out) == 5000 == len(set(held_out))


def test_held_out_classes_of_a_list_of_strings_are_strings():
    y = ["a", "a", "b", "b", "c", "c", "d", "d"]
    cv = NovelClassSplit(n_splits=3, n_novel_classes=2, random_state=0)
    assert all(classes.dtype.kind == "U" for classes in cv.get_held_out_classes(y))
