"""Tests for tau cross-validation (SupremeClustererCV), estimate_n_clusters,
n_clusters="auto" and GridSearchCV in benchmark mode (issue 4)."""

import time
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from joblib import Memory
from sklearn import config_context, get_config
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import load_digits, make_blobs
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.metrics import adjusted_rand_score, get_scorer
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, LeavePGroupsOut
from sklearn.utils.validation import check_memory
from skorch.callbacks import Callback

from sklearn_supreme import SupremeClusterer
from sklearn_supreme._estimator import _warn_empty_clusters
from sklearn_supreme.metrics import cluster_accuracy, cluster_accuracy_scorer
from sklearn_supreme.model_selection import (
    NovelClassSplit,
    SupremeClustererCV,
    estimate_n_clusters,
)
from sklearn_supreme.model_selection._n_clusters import (
    _class_sample,
    _estimates,
    _probe_f1_and_target_clusters,
)

TINY = dict(pretrain_epochs=1, max_epochs=2, batch_size=64, random_state=0)


class TauDependentClusterer(ClusterMixin, BaseEstimator):
    """A fast stand-in for SupremeClusterer: K-means when tau is ``good_tau``, else
    one cluster. It records what each fit received, to check the CV protocol."""

    calls = []

    def __init__(self, n_clusters=2, tau=0.5, good_tau=0.25):
        self.n_clusters = n_clusters
        self.tau = tau
        self.good_tau = good_tau

    def fit(self, X, y=None, source=None):
        X_source, y_source = source
        type(self).calls.append(
            {"tau": self.tau, "n_clusters": self.n_clusters, "X": X,
             "X_source": X_source, "y_source": y_source}
        )
        if self.tau == self.good_tau:
            self.labels_ = KMeans(self.n_clusters, n_init=5, random_state=0).fit_predict(X)
        else:
            self.labels_ = np.zeros(len(X), dtype=int)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        # What scorers call; the search scores the samples that were fitted.
        assert len(X) == len(self.labels_)
        return self.labels_


class TauOnlyClusterer(ClusterMixin, BaseEstimator):
    """Has a tau but no n_clusters, which the search must set."""

    def __init__(self, tau=0.5):
        self.tau = tau

    def fit(self, X, y=None, source=None):
        self.labels_ = np.zeros(len(X), dtype=int)
        return self


@pytest.fixture
def blob_source():
    # Six well-separated classes; every split of the CV holds out two of them.
    centers = [[12.0 * i, 12.0 * (i % 2)] for i in range(6)]
    X, y = make_blobs(n_samples=180, centers=centers, cluster_std=1.0, random_state=0)
    return X, y


@pytest.fixture(autouse=True)
def _clear_calls():
    TauDependentClusterer.calls = []


# ------------------------------------------------------------ SupremeClustererCV
def test_cv_protocol_each_fit_clusters_the_held_out_classes(blob_source):
    X, y = blob_source
    cv = NovelClassSplit(3, n_novel_classes=2, random_state=0)
    search = SupremeClustererCV(
        TauDependentClusterer(), taus=(0.1, 0.25, 1.0), cv=cv, refit=False
    ).fit(X[:5], source=(X, y))

    held_out = cv.get_held_out_classes(y)
    assert len(TauDependentClusterer.calls) == 3 * 3
    for i, call in enumerate(TauDependentClusterer.calls):
        classes = held_out[i % 3]  # taus are the outer loop, splits the inner one
        # The target is exactly the held-out classes' samples, unlabelled ...
        np.testing.assert_array_equal(call["X"], X[np.isin(y, classes)])
        # ... n_clusters follows their number, and the source is all the others.
        assert call["n_clusters"] == len(classes)
        assert set(np.unique(call["y_source"])) == set(np.unique(y)) - set(classes)
        assert len(call["X_source"]) == np.sum(~np.isin(y, classes))
    for got, expected in zip(search.held_out_classes_, held_out):
        np.testing.assert_array_equal(got, expected)


def test_cv_picks_the_tau_that_clusters_held_out_classes_best(blob_source):
    X, y = blob_source
    search = SupremeClustererCV(
        TauDependentClusterer(good_tau=0.25), taus=(0.1, 0.25, 1.0),
        cv=NovelClassSplit(3, random_state=0),
    ).fit(X[:40], source=(X, y))
    assert search.best_tau_ == 0.25 and search.best_params_ == {"tau": 0.25}
    assert search.best_index_ == 1
    results = search.cv_results_
    # Well-separated blobs: K-means is perfect; one cluster of two classes scores 1/2.
    np.testing.assert_allclose(results["mean_test_score"], [0.5, 1.0, 0.5])
    np.testing.assert_array_equal(results["rank_test_score"], [2, 1, 2])
    assert search.best_score_ == 1.0


def test_cv_results_layout_like_grid_search(blob_source):
    X, y = blob_source
    taus = (0.1, 0.25, 1.0)
    search = SupremeClustererCV(
        TauDependentClusterer(), taus=taus, cv=NovelClassSplit(4, random_state=1)
    ).fit(X[:40], source=(X, y))
    results = search.cv_results_
    assert results["params"] == [{"tau": t} for t in taus]
    # plain floats, as given: they print as {'tau': 0.1}, not {'tau': np.float64(0.1)}
    assert all(type(p["tau"]) is float for p in results["params"])
    assert type(search.best_params_["tau"]) is float
    np.testing.assert_array_equal(results["param_tau"], taus)
    # masked, as GridSearchCV's param_* columns are (pandas reads both alike)
    assert isinstance(results["param_tau"], np.ma.MaskedArray)
    # ... with no value masked: every candidate has its tau
    assert not np.ma.getmaskarray(results["param_tau"]).any()
    np.testing.assert_array_equal(results["param_tau"].compressed(), taus)
    splits = np.column_stack([results[f"split{i}_test_score"] for i in range(4)])
    assert "split4_test_score" not in results and search.n_splits_ == 4
    np.testing.assert_allclose(results["mean_test_score"], splits.mean(axis=1))
    np.testing.assert_allclose(results["std_test_score"], splits.std(axis=1))
    for key in ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"):
        assert results[key].shape == (3,) and np.all(results[key] >= 0)
    grid_keys = {"params", "param_tau", "mean_test_score", "std_test_score", "rank_test_score",
                 "mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"}
    assert set(results) == grid_keys | {f"split{i}_test_score" for i in range(4)}


@pytest.mark.parametrize(
    "scoring, metric",
    [(None, cluster_accuracy), ("adjusted_rand_score", adjusted_rand_score),
     (cluster_accuracy_scorer, cluster_accuracy)],
    ids=["default", "string", "scorer"],
)
def test_cv_scoring_scores_each_fit_on_its_held_out_classes(blob_source, scoring, metric):
    X, y = blob_source
    cv = NovelClassSplit(3, n_novel_classes=2, random_state=0)
    search = SupremeClustererCV(
        TauDependentClusterer(), taus=(0.1, 0.25), cv=cv, scoring=scoring, refit=False
    ).fit(X[:5], source=(X, y))
    for i, call in enumerate(TauDependentClusterer.calls):
        y_test = y[np.isin(y, search.held_out_classes_[i % 3])]
        labels = np.zeros(len(y_test), dtype=int) if call["tau"] == 0.1 else (
            KMeans(call["n_clusters"], n_init=5, random_state=0).fit_predict(call["X"])
        )
        assert search.cv_results_[f"split{i % 3}_test_score"][i // 3] == pytest.approx(
            metric(y_test, labels)
        )
    # One cluster for two classes: accuracy 0.5, but an adjusted Rand index of 0.
    expected = 0.0 if scoring == "adjusted_rand_score" else 0.5
    assert search.cv_results_["mean_test_score"][0] == pytest.approx(expected)
    assert search.best_tau_ == 0.25
    if isinstance(scoring, str):
        assert repr(search.scorer_) == repr(get_scorer(scoring))
    else:
        assert search.scorer_ is cluster_accuracy_scorer


def test_cv_refuses_an_unknown_scoring(blob_source):
    X, y = blob_source
    with pytest.raises(ValueError, match="The 'scoring' parameter of SupremeClustererCV"):
        SupremeClustererCV(TauDependentClusterer(), scoring="acc").fit(X[:5], source=(X, y))


def _nan_for(taus):
    """A scorer that fails (NaN) for the fits of ``taus``, cluster accuracy otherwise."""

    def score(estimator, X, y):
        return np.nan if estimator.tau in taus else cluster_accuracy(y, estimator.predict(X))

    return score


@pytest.mark.parametrize(
    "nan_taus, ranks, best_tau",
    [
        # The NaN tau (the good one otherwise) ranks last, below both others' 0.5.
        ((0.25,), [1, 3, 1], 0.1),
        ((0.1, 0.25, 1.0), [1, 1, 1], 0.1),  # all NaN: all first, as in GridSearchCV
    ],
)
def test_cv_ranks_nan_scores_last_as_grid_search_does(blob_source, nan_taus, ranks, best_tau):
    X, y = blob_source
    taus, cv = (0.1, 0.25, 1.0), NovelClassSplit(2, n_novel_classes=2, random_state=0)
    with pytest.warns(UserWarning, match="One or more of the test scores are non-finite"):
        search = SupremeClustererCV(
            TauDependentClusterer(), taus=taus, cv=cv, scoring=_nan_for(nan_taus), refit=False
        ).fit(X[:5], source=(X, y))
    np.testing.assert_array_equal(search.cv_results_["rank_test_score"], ranks)
    assert search.best_tau_ == best_tau
    # The same ranks and choice as GridSearchCV, given the same split scores.
    grid = GridSearchCV(
        TauDependentClusterer(), {"tau": list(taus)}, cv=[(np.arange(3), np.arange(3))],
        scoring=_nan_for(nan_taus), refit=False,
    )
    with pytest.warns(UserWarning, match="non-finite"):
        grid.fit(X[:60], y[:60], source=(X, y))
    np.testing.assert_array_equal(grid.cv_results_["rank_test_score"], ranks)
    assert grid.best_params_ == {"tau": best_tau}


def test_cv_ties_go_to_the_first_tau(blob_source):
    X, y = blob_source
    # No tau is the good one: all candidates score the same.
    search = SupremeClustererCV(
        TauDependentClusterer(good_tau=-1), taus=(1.0, 0.1), cv=2, refit=False
    ).fit(X[:5], source=(X, y))
    assert search.best_tau_ == 1.0
    np.testing.assert_array_equal(search.cv_results_["rank_test_score"], [1, 1])


class ScriptedErrorsClusterer(ClusterMixin, BaseEstimator):
    """Clusters the two held-out classes as K-means does (perfectly, on the blobs),
    then moves ``errors[tau] * (1 + c)`` samples to the other cluster, ``c`` the
    smallest held-out class: scores known in advance, differing by tau and split."""

    def __init__(self, n_clusters=2, tau=0.5, errors=None):
        self.n_clusters = n_clusters
        self.tau = tau
        self.errors = errors

    def fit(self, X, y=None, source=None):
        held_out = sorted(set(range(6)) - set(np.unique(source[1]).tolist()))
        labels = KMeans(2, n_init=5, random_state=0).fit_predict(X)
        n_moved = self.errors[self.tau] * (1 + held_out[0])
        labels[:n_moved] = 1 - labels[:n_moved]
        self.labels_ = labels
        return self


def test_cv_results_aggregate_scores_that_differ_by_split(blob_source):
    X, y = blob_source
    cv = NovelClassSplit(3, random_state=0)
    held_out = cv.get_held_out_classes(y)
    factors = np.array([1 + classes[0] for classes in held_out])
    assert len(set(factors.tolist())) > 1  # the splits do score differently
    errors = {0.1: 3, 0.25: 0, 1.0: 0}
    search = SupremeClustererCV(
        ScriptedErrorsClusterer(errors=errors), taus=(0.1, 0.25, 1.0), cv=cv, refit=False
    ).fit(X[:5], source=(X, y))
    results = search.cv_results_
    # Two held-out classes of 30 samples: n samples moved (n < 30) leave 60 - n right.
    expected = np.array([[(60 - errors[tau] * f) / 60 for f in factors] for tau in errors])
    for i in range(3):
        np.testing.assert_allclose(results[f"split{i}_test_score"], expected[:, i])
    np.testing.assert_allclose(results["mean_test_score"], expected.mean(axis=1))
    # the population std over the splits, as GridSearchCV's (not the sample std)
    np.testing.assert_allclose(results["std_test_score"], expected.std(axis=1))
    assert results["std_test_score"][0] > 0
    # Ranks as GridSearchCV's: equal scores share the best rank, the next skips it.
    np.testing.assert_array_equal(results["rank_test_score"], [3, 1, 1])
    assert search.best_index_ == 1 and search.best_tau_ == 0.25 and search.best_score_ == 1.0


def test_cv_results_time_the_fits_and_the_scoring_apart(blob_source, monkeypatch):
    # A fake clock: each fit takes tau * (1 + c) seconds and its scoring 0.01 * (1 + c),
    # c the smallest held-out class.
    from sklearn_supreme.model_selection import _search as model_selection

    clock = [0.0]
    monkeypatch.setattr(model_selection, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    fit = TauDependentClusterer.fit

    def timed_fit(self, X, y=None, source=None):
        clock[0] += self.tau * (1 + min(set(range(6)) - set(source[1].tolist())))
        return fit(self, X, y, source)

    def timed_accuracy(y_true, labels):
        clock[0] += 0.01 * (1 + np.min(y_true))
        return cluster_accuracy(y_true, labels)

    monkeypatch.setattr(TauDependentClusterer, "fit", timed_fit)
    monkeypatch.setattr(model_selection, "cluster_accuracy", timed_accuracy)
    X, y = blob_source
    cv = NovelClassSplit(3, random_state=0)
    factors = np.array([1 + classes[0] for classes in cv.get_held_out_classes(y)])
    taus = np.array([0.5, 2.0])
    results = SupremeClustererCV(
        TauDependentClusterer(), taus=taus, cv=cv, refit=False
    ).fit(X[:5], source=(X, y)).cv_results_
    fit_times = np.outer(taus, factors)
    score_times = np.tile(0.01 * factors, (2, 1))
    np.testing.assert_allclose(results["mean_fit_time"], fit_times.mean(axis=1))
    np.testing.assert_allclose(results["std_fit_time"], fit_times.std(axis=1))
    np.testing.assert_allclose(results["mean_score_time"], score_times.mean(axis=1))
    np.testing.assert_allclose(results["std_score_time"], score_times.std(axis=1))


def test_cv_none_is_five_novel_class_splits(blob_source):
    X, y = blob_source
    search = SupremeClustererCV(TauDependentClusterer(), taus=(0.25,), cv=None, refit=False)
    search.fit(X[:5], source=(X, y))
    expected = NovelClassSplit(5, n_novel_classes=2, random_state=0).get_held_out_classes(y)
    assert search.n_splits_ == 5
    for got, want in zip(search.held_out_classes_, expected):
        np.testing.assert_array_equal(got, want)


def test_int_cv_is_a_fixed_novel_class_split(blob_source):
    X, y = blob_source
    search = SupremeClustererCV(TauDependentClusterer(), taus=(0.25,), cv=3, refit=False)
    search.fit(X[:5], source=(X, y))
    expected = NovelClassSplit(3, n_novel_classes=2, random_state=0).get_held_out_classes(y)
    for got, want in zip(search.held_out_classes_, expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("cv", [GroupKFold(3), LeavePGroupsOut(2)], ids=repr)
def test_group_splitters_take_the_classes_as_groups(blob_source, cv):
    X, y = blob_source
    search = SupremeClustererCV(TauDependentClusterer(), taus=(0.25,), cv=cv, refit=False)
    search.fit(X[:5], source=(X, y))
    expected = [np.unique(y[test]) for _, test in cv.split(X, y, groups=y)]
    assert search.n_splits_ == len(expected) == cv.get_n_splits(groups=y)
    for got, want in zip(search.held_out_classes_, expected):
        np.testing.assert_array_equal(got, want)


def test_group_splitter_with_a_groups_alias_gets_the_classes(blob_source):
    # Under metadata routing a splitter may request groups under another name; the
    # search has no other groups to give than the classes.
    X, y = blob_source
    with config_context(enable_metadata_routing=True):
        cv = GroupKFold(3).set_split_request(groups="classes")
        search = SupremeClustererCV(TauDependentClusterer(), taus=(0.25,), cv=cv, refit=False)
        search.fit(X[:5], source=(X, y))
    expected = [np.unique(y[test]) for _, test in GroupKFold(3).split(X, y, groups=y)]
    for got, want in zip(search.held_out_classes_, expected):
        np.testing.assert_array_equal(got, want)


def test_splitters_without_groups_get_none(blob_source):
    # KFold would warn that it ignores groups; a splitter of the user's may not take them.
    X, y = blob_source

    class ClassHalves:
        def split(self, X, y):
            first = np.isin(y, np.unique(y)[:3])
            yield np.flatnonzero(first), np.flatnonzero(~first)
            yield np.flatnonzero(~first), np.flatnonzero(first)

        def get_n_splits(self, X=None, y=None):
            return 2

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for cv in (ClassHalves(), NovelClassSplit(2, n_novel_classes=2, random_state=0)):
            search = SupremeClustererCV(
                TauDependentClusterer(), taus=(0.25,), cv=cv, refit=False
            ).fit(X[:5], source=(X, y))
            assert search.n_splits_ == 2
        with pytest.raises(ValueError, match="must hold out whole classes"):
            SupremeClustererCV(TauDependentClusterer(), cv=KFold(2)).fit(X[:5], source=(X, y))


def test_refit_delegates_to_best_estimator(blob_source):
    X, y = blob_source
    X_target = X[y < 3] + 100.0
    start = time.perf_counter()
    search = SupremeClustererCV(
        TauDependentClusterer(n_clusters=3), taus=(0.1, 0.25), cv=2
    ).fit(X_target, source=(X, y))
    total_time = time.perf_counter() - start
    best = search.best_estimator_
    assert best.tau == search.best_tau_ == 0.25
    assert best.n_clusters == 3  # the template's, not a CV split's
    # The refit saw the real target and every source class.
    refit_call = TauDependentClusterer.calls[-1]
    np.testing.assert_array_equal(refit_call["X"], X_target)
    np.testing.assert_array_equal(refit_call["y_source"], y)
    np.testing.assert_array_equal(search.labels_, best.labels_)
    assert search.n_clusters_ == 3 and search.n_features_in_ == 2
    # Timed around the refit alone: less than the whole search (two CV fits and it).
    assert 0 < search.refit_time_ < total_time


def test_refit_false_keeps_only_the_search(blob_source):
    X, y = blob_source
    search = SupremeClustererCV(TauDependentClusterer(), taus=(0.25,), cv=2, refit=False)
    search.fit(X[:5], source=(X, y))
    assert not any(hasattr(search, name) for name in ("best_estimator_", "labels_", "refit_time_"))
    assert len(TauDependentClusterer.calls) == 2  # two CV fits, no refit
    with pytest.raises(AttributeError) as info:
        search.predict(X[:5])
    assert "predict needs refit=True" in str(info.value.__cause__)
    # As for GridSearchCV(refit=False): hasattr says what is there. (transform and
    # fit_transform stay visible: scikit-learn's set_output wraps them in the class,
    # and the wrapper calls through; they raise the same AttributeError when called.)
    for method in ("predict", "predict_proba", "fit_predict"):
        assert not hasattr(search, method), method
        assert not hasattr(SupremeClustererCV(TauDependentClusterer(), refit=False), method)
        assert hasattr(SupremeClustererCV(TauDependentClusterer()), method)


def test_supreme_cv_end_to_end(digits_split):
    Xs, ys, Xt, _ = digits_split
    template = SupremeClusterer(n_clusters=5, **TINY)
    cv = NovelClassSplit(1, n_novel_classes=2, random_state=0)
    search = SupremeClustererCV(template, taus=(0.1, 1.0), cv=cv)
    labels = search.fit_predict(Xt, source=(Xs, ys))
    # The template itself is left unfitted.
    with pytest.raises(NotFittedError):
        template.predict(Xt)
    best = search.best_estimator_
    assert search.best_tau_ in (0.1, 1.0) and best.tau == search.best_tau_
    np.testing.assert_array_equal(labels, best.labels_)
    np.testing.assert_array_equal(search.predict(Xt), best.predict(Xt))
    np.testing.assert_allclose(search.predict_proba(Xt[:7]), best.predict_proba(Xt[:7]))
    np.testing.assert_allclose(search.transform(Xt[:7]), best.transform(Xt[:7]))
    assert search.predict_proba(Xt[:7]).shape == (7, 5) and search.n_clusters_ == 5
    scores = search.cv_results_["split0_test_score"]
    assert np.all((scores > 0) & (scores <= 1))
    # The same CV fit by hand gives the same score (tau=0.1 on the one split).
    train, test = next(cv.split(Xs, ys))
    by_hand = clone(template).set_params(tau=0.1, n_clusters=2)
    by_hand.fit(Xs[test], source=(Xs[train], ys[train]))
    assert scores[0] == cluster_accuracy(ys[test], by_hand.labels_)
    # A scorer predicts the held-out samples again: the same labels as labels_, so the
    # default's shortcut (labels_, no predict pass) gives the scorer's scores.
    scored = SupremeClustererCV(
        template, taus=(0.1, 1.0), cv=cv, scoring=cluster_accuracy_scorer, refit=False
    ).fit(Xt, source=(Xs, ys))
    np.testing.assert_array_equal(scored.cv_results_["split0_test_score"], scores)


def test_cv_fits_do_not_warn_that_held_out_classes_lie_apart():
    # Source classes far apart from each other: a held-out fit's "target" (two source
    # classes) lies apart from its source, and the warning named it "the target", once
    # per fit: the user's target is not in these fits (the refit checks it).
    X, y = make_blobs(n_samples=240, centers=[[0, 0], [3, 0], [1000, 0], [1003, 0]],
                      cluster_std=0.5, random_state=0)
    cv = [(np.flatnonzero(y < 2), np.flatnonzero(y >= 2))]  # hold out the far classes
    template = SupremeClusterer(n_clusters=2, pretrain_epochs=1, max_epochs=1, random_state=0)
    with pytest.warns(UserWarning, match="lie apart"):  # a plain fit of that split
        clone(template).fit(X[y >= 2], source=(X[y < 2], y[y < 2]))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", ".*lie apart", UserWarning)
        SupremeClustererCV(template, taus=(1.0, 0.5), cv=cv, refit=False).fit(
            X[:10], source=(X, y)
        )


# joblib.Memory(None) caches nothing, as None does: the search's own cache stands in.
@pytest.mark.parametrize("memory", [None, Memory(None)], ids=["None", "Memory(None)"])
def test_cv_pretrains_once_per_split(digits_split, pretrained_on, memory):
    Xs, ys, Xt, _ = digits_split
    estimator = SupremeClusterer(
        pretrain_epochs=1, max_epochs=1, batch_size=128, random_state=0, memory=memory
    )
    cv = NovelClassSplit(2, n_novel_classes=2, random_state=0)
    search = SupremeClustererCV(estimator, taus=(0.1, 0.5, 1.0), cv=cv).fit(
        Xt, source=(Xs, ys)
    )
    # one pretraining per split (on its 3 source classes), then the refit's on all 5
    held_out = cv.get_held_out_classes(ys)
    assert pretrained_on == [np.sum(~np.isin(ys, c)) for c in held_out] + [len(Xs)]
    # the temporary cache is gone and the refitted estimator does not name it
    assert check_memory(search.best_estimator_.memory).location is None


def test_cv_keeps_the_estimators_own_memory(digits_split, tmp_path):
    # The search's temporary cache only stands in for a memory the user did not set:
    # the CV's fits (no refit here) fill the user's.
    Xs, ys, Xt, _ = digits_split
    estimator = SupremeClusterer(
        pretrain_epochs=1, max_epochs=1, batch_size=128, random_state=0, memory=str(tmp_path)
    )
    SupremeClustererCV(
        estimator, taus=(0.5, 1.0), cv=NovelClassSplit(1, n_novel_classes=2, random_state=0),
        refit=False,
    ).fit(Xt, source=(Xs, ys))
    assert any(path.is_file() for path in tmp_path.rglob("*"))


class PretrainingLog(Callback):
    """Appends a line to ``path`` when a source pretraining starts, in whatever
    process the fit runs (a file, since joblib's workers are other processes)."""

    def __init__(self, path):
        self.path = path

    def on_train_begin(self, net, **kwargs):
        if net.phase == "Source pretraining":
            with open(self.path, "a") as log:
                log.write("pretraining\n")


def test_cv_pretrains_once_per_split_with_more_workers_than_splits(digits_split, tmp_path):
    # Fits of one split running at once would each miss the shared memory and pretrain:
    # the first tau's fits fill it before the others start.
    Xs, ys, Xt, _ = digits_split
    log = tmp_path / "log.txt"
    estimator = SupremeClusterer(
        pretrain_epochs=1, max_epochs=1, batch_size=128, random_state=0,
        callbacks=[PretrainingLog(str(log))],
    )
    search = SupremeClustererCV(
        estimator, taus=(0.1, 0.5, 1.0), cv=NovelClassSplit(1, random_state=0), n_jobs=3,
        refit=False,
    ).fit(Xt, source=(Xs, ys))
    assert log.read_text().count("pretraining") == 1
    assert search.cv_results_["split0_test_score"].shape == (3,)


def test_cv_runs_fits_in_parallel(blob_source, monkeypatch):
    from sklearn.utils.parallel import Parallel

    from sklearn_supreme.model_selection import _search as model_selection

    used = []

    class RecordingParallel(Parallel):
        def __init__(self, n_jobs=None, **kwargs):
            used.append(n_jobs)
            super().__init__(n_jobs=n_jobs, **kwargs)

    monkeypatch.setattr(model_selection, "Parallel", RecordingParallel)
    X, y = blob_source
    kwargs = dict(taus=(0.1, 0.25), cv=NovelClassSplit(3, random_state=0), refit=False)
    serial = SupremeClustererCV(TauDependentClusterer(), **kwargs).fit(X[:5], source=(X, y))
    parallel = SupremeClustererCV(TauDependentClusterer(), n_jobs=2, **kwargs)
    parallel.fit(X[:5], source=(X, y))
    # n_jobs reaches joblib, in both waves (the first tau, then the others), and the
    # results do not depend on it
    assert used == [None, None, 2, 2]
    for key in ("mean_test_score", "split0_test_score", "split2_test_score"):
        np.testing.assert_array_equal(parallel.cv_results_[key], serial.cv_results_[key])


class ConfigDependentClusterer(TauDependentClusterer):
    """Clusters well only where scikit-learn's ``working_memory`` is 123."""

    def fit(self, X, y=None, source=None):
        super().fit(X, y, source)
        if get_config()["working_memory"] != 123:
            self.labels_ = np.zeros(len(X), dtype=int)
        return self


def test_parallel_cv_fits_see_the_callers_sklearn_config(blob_source):
    # joblib's own Parallel starts its workers with the default config; the caller's
    # must reach the fits, as it does in scikit-learn's searches.
    X, y = blob_source
    search = SupremeClustererCV(
        ConfigDependentClusterer(), taus=(0.25,), cv=NovelClassSplit(2, random_state=0),
        n_jobs=2, refit=False,
    )
    with config_context(working_memory=123):
        search.fit(X[:5], source=(X, y))
    assert search.best_score_ == 1.0
    search.fit(X[:5], source=(X, y))  # and without it, the stand-in does fail
    assert search.best_score_ < 1.0


class EmptyClusterClusterer(TauDependentClusterer):
    """Leaves clusters empty, with SupremeClusterer's warning, but for the refit."""

    def fit(self, X, y=None, source=None):
        super().fit(X, y, source)
        if len(source[1]) < 180:  # a search fit: fewer than all 6 classes' samples
            self.labels_ = np.zeros(len(X), dtype=int)
            _warn_empty_clusters(self.labels_, self.n_clusters)
        return self


def test_search_fits_do_not_warn_of_empty_clusters(blob_source):
    # Their score already counts the empty clusters, and their n_clusters is the
    # search's: a warning would only fail the search under warnings-as-errors.
    X, y = blob_source
    search = SupremeClustererCV(
        EmptyClusterClusterer(), taus=(0.25,), cv=NovelClassSplit(2, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search.fit(X[:6], source=(X, y))
    assert search.best_score_ == 0.5  # two held-out classes in one cluster


def test_cv_accepts_the_two_argument_source(blob_source):
    X, y = blob_source
    a = SupremeClustererCV(TauDependentClusterer(), taus=(0.25,), cv=2).fit(X[:9], source=(X, y))
    b = SupremeClustererCV(TauDependentClusterer(), taus=(0.25,), cv=2).fit(
        X[:9], X_source=X, y_source=y
    )
    for key in ("split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(a.cv_results_[key], b.cv_results_[key])


@pytest.mark.parametrize(
    "params, fit_kwargs, error, match",
    [
        ({}, {}, ValueError, "chooses tau on the source"),
        ({"taus": ()}, None, ValueError, "taus must be a non-empty"),
        ({"taus": (0.1, -1.0)}, None, ValueError, "taus must be a non-empty"),
        ({"estimator": KMeans()}, None, ValueError, "lacks \\['tau'\\]"),
        ({"cv": KFold(3)}, None, ValueError, "must hold out whole classes"),
        ({"cv": 0}, None, ValueError, "'cv' parameter"),
        # bool is an int to Interval(Integral): the error used to blame the data
        ({"cv": True}, None, ValueError,
         "The 'cv' parameter of SupremeClustererCV must be an int, not a bool"),
        ({"taus": {0.1, 0.5}}, None, ValueError, "taus must be a non-empty"),
        ({"taus": (0.0, 0.5)}, None, ValueError, "taus must be a non-empty"),
        ({"taus": (0.1, np.inf)}, None, ValueError, "taus must be a non-empty"),
        ({"taus": (0.1, np.nan)}, None, ValueError, "taus must be a non-empty"),
        ({"estimator": TauOnlyClusterer()}, None, ValueError, "lacks \\['n_clusters'\\]"),
        # one held-out class is one cluster: every tau would score 1.0
        ({"cv": NovelClassSplit(2, n_novel_classes=1, random_state=0)}, None, ValueError,
         "Split 0 of cv holds out 1 source class"),
        # the parameters named are the ones the int cv stands for (C(6, 2) = 15 sets)
        ({"cv": 16}, None, ValueError, r"cv=16 holds out 2 source classes in each of 16 splits"),
        ({}, {"source": (np.zeros((0, 2)), [])}, ValueError, "X_source is empty"),
    ],
)
def test_cv_invalid_input(blob_source, params, fit_kwargs, error, match):
    X, y = blob_source
    params = {"estimator": TauDependentClusterer(), **params}
    fit_kwargs = {"source": (X, y)} if fit_kwargs is None else fit_kwargs
    with pytest.raises(error, match=match):
        SupremeClustererCV(**params).fit(X[:5], **fit_kwargs)


def test_cv_refuses_a_cv_without_splits(blob_source):
    X, y = blob_source
    with pytest.raises(ValueError, match=r"cv gave no splits .* got cv=\[\]"):
        SupremeClustererCV(TauDependentClusterer(), cv=[]).fit(X[:5], source=(X, y))
    # A generator is used up by the first fit: a second fit is refused, and keeps the
    # first fit's results.
    splits = NovelClassSplit(2, random_state=0).split(X, y)
    search = SupremeClustererCV(TauDependentClusterer(), taus=(0.1, 0.25), cv=splits)
    search.fit(X[:5], source=(X, y))
    assert search.n_splits_ == 2 and search.best_tau_ == 0.25
    with pytest.raises(ValueError, match="generator already used up"):
        search.fit(X[:5], source=(X, y))
    assert search.n_splits_ == 2 and search.best_tau_ == 0.25


class NoFeatureCountClusterer(TauDependentClusterer):
    """A stand-in that, like many third-party estimators, sets no ``n_features_in_``."""

    def fit(self, X, y=None, source=None):
        super().fit(X, y, source)
        del self.n_features_in_
        return self


def test_cv_refuses_the_source_given_as_y(blob_source):
    X, y = blob_source
    search = SupremeClustererCV(TauDependentClusterer(), cv=2)
    with pytest.raises(TypeError, match=r"pass it as source=\(X_source, y_source\)"):
        search.fit(X[:5], (X, y))
    assert not hasattr(search, "cv_results_")


def test_cv_refit_of_an_estimator_without_n_features_in(blob_source):
    X, y = blob_source
    search = SupremeClustererCV(NoFeatureCountClusterer(), taus=(0.1, 0.25), cv=2)
    search.fit(X[:6], source=(X, y))
    assert search.best_tau_ == 0.25 and len(search.labels_) == 6
    assert not hasattr(search, "n_features_in_")


def test_cv_refuses_a_split_with_one_training_class(blob_source):
    X, y = blob_source
    one_class_source = [(np.flatnonzero(y == 0), np.flatnonzero(np.isin(y, [1, 2])))]
    with pytest.raises(ValueError, match="Split 0 of cv trains on 1 source class"):
        SupremeClustererCV(TauDependentClusterer(), cv=one_class_source).fit(X[:5], source=(X, y))
    assert TauDependentClusterer.calls == []  # refused before any fit


def test_cv_checks_the_target_before_searching(blob_source):
    X, y = blob_source
    bad = X[:5].copy()
    bad[0, 0] = np.nan
    for target, match in [(bad, "NaN"), (X[:5, :1], "X has samples of shape \\(1,\\)")]:
        with pytest.raises(ValueError, match=match):
            SupremeClustererCV(TauDependentClusterer(), taus=(0.25,), cv=2).fit(
                target, source=(X, y)
            )
    assert TauDependentClusterer.calls == []  # no fit ran


@pytest.mark.parametrize(
    "target, n_clusters, match",
    [
        (lambda X: X[:1], 2, "needs at least 2 target samples"),
        (lambda X: X[:3], 5, "n_samples=3 should be >= n_clusters=5"),
        (lambda X: X[:2], "auto", "n_clusters='auto' needs at least 3 target samples"),
        (lambda X: X[:9] * 1e300, 2, "float32"),
    ],
)
def test_cv_runs_the_refits_checks_before_searching(
    blob_source, monkeypatch, target, n_clusters, match
):
    # A target the refit would refuse fails before the search trains anything.
    X, y = blob_source
    trained = []
    monkeypatch.setattr(SupremeClusterer, "_train", lambda self, *a, **k: trained.append(1))
    search = SupremeClustererCV(SupremeClusterer(n_clusters), taus=(0.25,), cv=2)
    with pytest.raises(ValueError, match=match):
        search.fit(target(X), source=(X, y))
    assert trained == [] and not hasattr(search, "cv_results_")


def test_cv_refuses_a_validation_monitor_before_its_search(blob_source, monkeypatch):
    from skorch.callbacks import EarlyStopping

    X, y = blob_source
    fits = []
    monkeypatch.setattr(SupremeClusterer, "_fit", lambda self, *a, **k: fits.append(1))
    search = SupremeClustererCV(
        SupremeClusterer(n_clusters=2, callbacks=[EarlyStopping()]), taus=(0.25,), cv=2
    )
    with pytest.raises(ValueError, match="EarlyStopping monitors 'valid_loss'"):
        search.fit(X[:9], source=(X, y))
    assert fits == []


def test_cv_checks_the_estimators_parameters_before_the_target(blob_source):
    # The target's checks compare with n_clusters: an invalid one must be named as such.
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = blob_source
    search = SupremeClustererCV(SupremeClusterer(n_clusters="foo"), taus=(0.25,), cv=2)
    with pytest.raises(InvalidParameterError, match="'n_clusters' parameter of SupremeClusterer"):
        search.fit(X[:9], source=(X, y))


class RefitFails(TauDependentClusterer):
    """Fits the CV's held-out classes (60 samples) but not the 9-sample target."""

    def fit(self, X, y=None, source=None):
        if len(X) == 9:
            raise RuntimeError("refit failed")
        return super().fit(X, y, source)


def test_cv_whose_first_refit_fails_is_left_unfitted(blob_source):
    X, y = blob_source
    search = SupremeClustererCV(RefitFails(), taus=(0.25,), cv=2)
    with pytest.raises(RuntimeError, match="refit failed"):
        search.fit(X[:9], source=(X, y))
    assert not any(hasattr(search, a) for a in ("cv_results_", "best_tau_", "best_params_"))
    with pytest.raises(NotFittedError):
        search.predict(X[:9])


def test_cv_refit_never_mixes_two_searches(blob_source):
    X, y = blob_source
    search = SupremeClustererCV(TauDependentClusterer(), taus=(0.25,), cv=2).fit(
        X[:9], source=(X, y)
    )
    fitted = dict(vars(search))
    # a failing search leaves the previous one whole
    with pytest.raises(ValueError, match="NaN"):
        search.fit(np.full((9, 2), np.nan), source=(X, y))
    assert vars(search).keys() == fitted.keys()
    assert all(vars(search)[k] is v for k, v in fitted.items())
    # a search without refit drops the previous refit instead of serving it
    search.set_params(refit=False, taus=(0.1,)).fit(X[:9], source=(X, y))
    assert search.best_tau_ == 0.1
    assert not any(hasattr(search, a) for a in ("best_estimator_", "labels_", "n_clusters_"))
    # predict, fit_predict and fit_transform say so (the last two before the search,
    # which is not run); scikit-learn's available_if chains the reason
    TauDependentClusterer.calls.clear()
    for method in ("predict", "fit_predict", "fit_transform"):
        with pytest.raises(AttributeError) as info:
            getattr(search, method)(X[:9], source=(X, y))
        assert f"{method} needs refit=True" in str(info.value.__cause__)
    assert TauDependentClusterer.calls == [] and search.best_tau_ == 0.1
    # A model refitted earlier is not served once refit is turned back on.
    search.set_params(refit=True)
    with pytest.raises(AttributeError, match="fitted with refit=False; predict"):
        search.predict(X[:9])


def test_cv_is_a_transformer_that_keeps_feature_names(digits_split):
    pd = pytest.importorskip("pandas")
    Xs, ys, Xt, _ = digits_split
    columns = [f"pixel{i}" for i in range(Xt.shape[1])]
    Xt, Xs = pd.DataFrame(Xt, columns=columns), pd.DataFrame(Xs, columns=columns)
    cv = NovelClassSplit(1, n_novel_classes=2, random_state=0)
    search = SupremeClustererCV(SupremeClusterer(n_clusters=5, **TINY), taus=(1.0,), cv=cv)
    Z = search.set_output(transform="pandas").fit_transform(Xt, source=(Xs, ys))
    best = search.best_estimator_
    # the refit saw the DataFrames: names checked on predict, as for SupremeClusterer
    np.testing.assert_array_equal(search.feature_names_in_, columns)
    np.testing.assert_array_equal(best.feature_names_in_, columns)
    assert list(Z.columns) == list(search.get_feature_names_out())
    assert list(Z.columns) == list(best.get_feature_names_out())
    np.testing.assert_allclose(Z.to_numpy(), best.transform(Xt), rtol=1e-6)
    with pytest.raises(ValueError, match="X_source's columns must be X's"):
        search.fit(Xt, source=(Xs[columns[::-1]], ys))


def test_cv_with_an_augment_joblib_cannot_hash(digits_split, tmp_path):
    # A lambda cannot key a cache: the search runs uncached rather than failing.
    Xs, ys, Xt, _ = digits_split
    template = SupremeClusterer(n_clusters=5, augment=lambda x: x * 0.9, **TINY)
    cv = NovelClassSplit(1, n_novel_classes=2, random_state=0)
    search = SupremeClustererCV(template, taus=(0.1, 1.0), cv=cv).fit(Xt, source=(Xs, ys))
    assert search.labels_.shape == (len(Xt),)
    # while a cache the user asked for says why it cannot work
    with pytest.raises(ValueError, match="augment=<function .*cannot be hashed by joblib"):
        clone(template).set_params(memory=str(tmp_path)).fit(Xt, source=(Xs, ys))


def test_cv_source_given_twice(blob_source):
    X, y = blob_source
    with pytest.raises(ValueError, match="not both"):
        SupremeClustererCV(TauDependentClusterer()).fit(
            X[:5], source=(X, y), X_source=X, y_source=y
        )


# ---------------------------------------------------------- estimate_n_clusters
def _blob_classes(n_source, n_target, random_state=0):
    centers = np.random.RandomState(random_state).uniform(-40, 40, (n_source + n_target, 8))
    X, y = make_blobs(
        n_samples=60 * (n_source + n_target), centers=centers, cluster_std=1.0,
        random_state=random_state,
    )
    source = y < n_source
    return X[~source], X[source], y[source], y[~source]


@pytest.mark.parametrize("n_target", [2, 3, 6])
def test_estimate_n_clusters_finds_separated_classes(n_target):
    X_target, X_source, y_source, _ = _blob_classes(4, n_target)
    n_clusters, results = estimate_n_clusters(
        X_target, X_source, y_source, candidates=range(2, 10), random_state=0
    )
    assert n_clusters == n_target == results.estimates["accuracy_silhouette"]
    assert results.score.argmax() == n_target - 2
    # The score of a candidate is the mean of its two terms over the draws.
    np.testing.assert_allclose(
        results.score, ((results.probe_accuracy + results.validity) / 2).mean(axis=0)
    )


def test_probe_f1_and_target_clusters_by_hand():
    # 3 target samples, then probes a, a, b, b; clusters c0 = {t, t}, c1 = {t, a, a},
    # c2 = {b, b}. F1(a, c1) = 2 * 2 / (2 + 3) = 0.8, F1(b, c2) = 2 * 2 / (2 + 2) = 1.
    labels = np.array([0, 0, 1, 1, 1, 2, 2])
    f1, n_target_clusters = _probe_f1_and_target_clusters(
        np.array(["a", "a", "b", "b"]), labels, n_target=3
    )
    assert f1 == pytest.approx(0.9)
    assert n_target_clusters == 1  # c0; c1 has 1 target sample against 2 probes
    # One cluster for two probe classes: b is unmatched and scores 0;
    # F1(a, c0) = 2 * 2 / (2 + 7), and the target (3) does not outnumber the probes (4).
    f1, n_target_clusters = _probe_f1_and_target_clusters(
        np.array([5, 5, 9, 9]), np.zeros(7, dtype=int), n_target=3
    )
    assert f1 == pytest.approx((4 / 9 + 0) / 2)
    assert n_target_clusters == 0
    # 2 target samples, then probes a, b; clusters c0 = {t}, c1 = {t, a}, c2 = {b}.
    # F1(a, c1) = 2 * 1 / (1 + 2), F1(b, c2) = 1; c1's target only equals its probes.
    f1, n_target_clusters = _probe_f1_and_target_clusters(
        np.array(["a", "b"]), np.array([0, 1, 1, 2]), n_target=2
    )
    assert f1 == pytest.approx((2 / 3 + 1) / 2)
    assert n_target_clusters == 1  # c0 alone has more target than probe samples
    # The first case with the probe classes renamed -5 and -2, or -1 (the value that
    # marks the target internally) and 7: labels are only names.
    for names in ([-5, -5, -2, -2], [-1, -1, 7, 7]):
        result = _probe_f1_and_target_clusters(np.array(names), np.array([0, 0, 1, 1, 1, 2, 2]), 3)
        assert result == (pytest.approx(0.9), 1)


def test_estimates_of_both_criteria_by_hand():
    candidates = np.array([2, 3, 4])
    terms = {
        "probe_accuracy": np.array([[1.0, 0.5, 0.5], [1.0, 0.5, 0.0]]),
        "validity": np.array([[0.0, 0.5, 0.0], [0.0, 0.3, 0.0]]),
        # Draw 0's probe cut is K=3 (its first best), draw 1's K=4.
        "probe_f1": np.array([[0.2, 0.9, 0.9], [0.1, 0.2, 0.8]]),
        "target_clusters": np.array([[1, 2, 5], [3, 4, 6]]),
    }
    estimates, score, cut_counts = _estimates(candidates, terms)
    np.testing.assert_allclose(score, [0.5, 0.45, 0.125])
    np.testing.assert_array_equal(cut_counts, [2, 6])
    # Mean count 4; with counts 2 and 3 the mean 2.5 is as near 2 as 3: 2 wins.
    assert estimates == {"accuracy_silhouette": 2, "probe_cut": 4}
    terms["target_clusters"] = np.array([[1, 2, 5], [3, 4, 3]])
    assert _estimates(candidates, terms)[0]["probe_cut"] == 2


def test_estimates_break_ties_low_and_average_the_counts():
    candidates = np.array([2, 3, 4])
    terms = {
        # K=3 and K=4 score the same, 0.75: the smaller wins.
        "probe_accuracy": np.array([[0.5, 1.0, 1.0]] * 3),
        "validity": np.array([[0.0, 0.5, 0.5]] * 3),
        # Every draw's probe cut is K=2, where it counts 2, 2 and 5 target clusters:
        # their mean 3 (not their median 2) is the nearest candidate.
        "probe_f1": np.array([[1.0, 0.0, 0.0]] * 3),
        "target_clusters": np.array([[2, 0, 0], [2, 0, 0], [5, 0, 0]]),
    }
    estimates, score, cut_counts = _estimates(candidates, terms)
    np.testing.assert_allclose(score, [0.25, 0.75, 0.75])
    np.testing.assert_array_equal(cut_counts, [2, 2, 5])
    assert estimates == {"accuracy_silhouette": 3, "probe_cut": 3}


@pytest.mark.parametrize(
    "candidates, counts, expected",
    [
        # The candidate nearest the mean count, not the rounded mean: 3.5 is as near 3
        # as 4 and the smaller wins (round() would give 4, rounding half to even) ...
        ([2, 3, 4], [3, 4], 3),
        # ... 0.5 is nearest the smallest candidate (round() would give 0) ...
        ([2, 3, 4], [0, 1], 2),
        # ... and 3, between the candidates 2 and 5, gives 2: 3 is no candidate.
        ([2, 5, 9], [3, 3], 2),
    ],
)
def test_probe_cut_is_the_candidate_nearest_the_mean_count(candidates, counts, expected):
    terms = {
        "probe_accuracy": np.zeros((2, 3)), "validity": np.zeros((2, 3)),
        "probe_f1": np.array([[1.0, 0.0, 0.0]] * 2),  # each draw's probe cut: the first
        "target_clusters": np.array([[count, 0, 0] for count in counts]),
    }
    assert _estimates(np.array(candidates), terms)[0]["probe_cut"] == expected


class PlannedClusterer(BaseEstimator):
    """Clusters the mixture of :func:`test_estimate_n_clusters_terms_by_hand` as
    planned for each K: the target (first coordinate < 50) into one cluster (K=1),
    two (K=2) or one per sample (K=3); the probe classes (first coordinate 100 + class)
    one cluster each, but all together for K=3."""

    def __init__(self, n_clusters=2):
        self.n_clusters = n_clusters

    def fit_predict(self, Z):
        k = self.n_clusters - 2
        is_target = Z[:, 0] < 50
        target_labels = {1: [0, 0, 0, 0], 2: [0, 0, 1, 1], 3: [0, 1, 2, 3]}[k]
        _, probe_class = np.unique(Z[~is_target, 0], return_inverse=True)
        labels = np.empty(len(Z), dtype=int)
        labels[is_target] = target_labels
        labels[~is_target] = 4 if k == 3 else k + probe_class
        return labels


def test_estimate_n_clusters_terms_by_hand():
    # 4 target samples: two pairs 10 apart, each pair's samples 1 apart.
    X_target = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    # 4 source classes of 3 samples each; every draw holds out 2 of them as probes.
    y_source = np.repeat(np.arange(4), 3)
    X_source = np.column_stack([100.0 + y_source, np.tile(np.arange(3.0), 4)])
    _, results = estimate_n_clusters(
        X_target, X_source, y_source, candidates=[1, 2, 3], n_draws=2,
        clusterer=PlannedClusterer(), random_state=0,
    )
    # The silhouette of two pairs: a = 1 within a pair, b = (10 + sqrt(101)) / 2 to
    # the other pair, the same for every sample. One target cluster, or one cluster per
    # target sample, leaves the silhouette undefined: the worst score, -1.
    silhouette = 1 - 2 / (10 + np.sqrt(101))
    np.testing.assert_allclose(results.validity, [[-1.0, silhouette, -1.0]] * 2, rtol=1e-6)
    # K=3 puts both probe classes of 3 samples in one cluster: accuracy 3 / 6; F1 of
    # the class matched to it 2 * 3 / (3 + 6), of the other (unmatched) 0.
    np.testing.assert_allclose(results.probe_accuracy, [[1.0, 1.0, 0.5]] * 2)
    np.testing.assert_allclose(results.probe_f1, [[1.0, 1.0, 1 / 3]] * 2)
    np.testing.assert_array_equal(results.target_clusters, [[1, 2, 4]] * 2)
    np.testing.assert_allclose(results.score, [0.0, (1 + silhouette) / 2, -0.25], rtol=1e-6)
    assert results.estimates == {"accuracy_silhouette": 2, "probe_cut": 1}


def test_estimate_n_clusters_sorts_the_candidates():
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    _, results = estimate_n_clusters(
        X_target, X_source, y_source, candidates=[5, 3, 2, 3], n_draws=2, random_state=0
    )
    np.testing.assert_array_equal(results.candidates, [2, 3, 5])
    assert results.score.shape == (3,) and results.probe_accuracy.shape == (2, 3)
    # the largest candidate is checked wherever it is given
    with pytest.raises(ValueError, match="candidates go up to 500"):
        estimate_n_clusters(X_target, X_source, y_source, candidates=[500, 3])


def test_estimate_n_clusters_random_state_controls_the_probe_draws():
    # 2 draws of the C(4, 2) = 6 pairs of probe classes: seeds draw different pairs.
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    draws = {
        tuple(tuple(classes.tolist()) for classes in estimate_n_clusters(
            X_target, X_source, y_source, candidates=[3], n_draws=2, random_state=seed
        )[1].probe_classes)
        for seed in range(4)
    }
    assert len(draws) > 1


def test_probe_cut_counts_the_novel_digits():
    # Real, overlapping classes: the five novel digits are counted from pixels.
    X, y = load_digits(return_X_y=True)
    novel = y >= 5
    n_clusters, results = estimate_n_clusters(
        X[novel], X[~novel], y[~novel], candidates=range(2, 11), criterion="probe_cut",
        random_state=0,
    )
    assert n_clusters == results.estimates["probe_cut"] == 5
    assert results.probe_f1.shape == results.target_clusters.shape == (10, 9)
    draws = np.arange(10)
    np.testing.assert_array_equal(
        results.cut_counts, results.target_clusters[draws, results.probe_f1.argmax(axis=1)]
    )
    assert np.all((results.probe_f1 >= 0) & (results.probe_f1 <= 1))


def test_probe_cut_warns_with_a_single_probe_class():
    X_target, X_source, y_source, _ = _blob_classes(3, 3)
    with pytest.warns(UserWarning, match="probe_cut' with 1 probe class") as caught:
        estimate_n_clusters(
            X_target, X_source, y_source, candidates=[2, 3], criterion="probe_cut",
            random_state=0,
        )
    assert caught[0].filename == __file__  # the caller's line, not the library's
    # Two probe classes, or the other criterion, are not warned about.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate_n_clusters(
            X_target, X_source, y_source, candidates=[2, 3], random_state=0
        )
        X_target, X_source, y_source, _ = _blob_classes(4, 3)
        estimate_n_clusters(
            X_target, X_source, y_source, candidates=[2, 3], criterion="probe_cut",
            random_state=0,
        )


def test_estimate_n_clusters_probe_draws():
    X_target, X_source, y_source, _ = _blob_classes(5, 3)
    _, results = estimate_n_clusters(
        X_target, X_source, y_source, candidates=[2, 3, 4], n_probe_classes=2, n_draws=4,
        random_state=0,
    )
    np.testing.assert_array_equal(results.candidates, [2, 3, 4])
    assert results.probe_accuracy.shape == results.validity.shape == (4, 3)
    assert len({tuple(c) for c in results.probe_classes}) == 4
    assert all(len(c) == 2 for c in results.probe_classes)
    # n_draws is capped at the number of distinct probe sets, C(5, 1) = 5.
    _, results = estimate_n_clusters(
        X_target, X_source, y_source, candidates=[3], n_probe_classes=1, n_draws=50
    )
    assert sorted(int(c[0]) for c in results.probe_classes) == [0, 1, 2, 3, 4]


def test_estimate_n_clusters_uses_the_transformer():
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    seen = []

    def noise(X):
        seen.append(X.shape)
        return np.random.RandomState(len(X)).normal(size=(len(X), 2))

    _, plain = estimate_n_clusters(X_target, X_source, y_source, candidates=[3])
    _, noisy = estimate_n_clusters(
        X_target, X_source, y_source, candidates=[3], transformer=noise
    )
    assert seen == [X_target.shape, X_source.shape]
    # Separated blobs keep every probe class whole; features without structure do not.
    assert np.all(plain.probe_accuracy == 1.0)
    assert noisy.probe_accuracy.mean() < 0.9
    # Rows that are not one per sample would be glued back into wrong rows.
    with pytest.raises(ValueError, match=r"transformer returned an array of shape \(\d+, 2\)"):
        estimate_n_clusters(
            X_target, X_source, y_source, candidates=[3],
            transformer=lambda X: np.zeros((2 * len(X), 2)),
        )


def test_estimate_n_clusters_hands_a_transformer_dataframes_as_given():
    # A ColumnTransformer selects columns by name: it failed on the arrays the
    # DataFrames had become, and a scaler fitted on names warned of rows without them.
    pd = pytest.importorskip("pandas")
    compose = pytest.importorskip("sklearn.compose")
    from sklearn.preprocessing import StandardScaler

    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    columns = [f"f{i}" for i in range(X_target.shape[1])]
    frames = pd.DataFrame(X_target, columns=columns), pd.DataFrame(X_source, columns=columns)
    by_name = compose.ColumnTransformer([("scale", StandardScaler(), columns)]).fit(frames[0])
    by_position = StandardScaler().fit(X_target)
    kwargs = dict(candidates=[2, 3, 4], max_samples=100, random_state=0)  # subsampled rows
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        _, named = estimate_n_clusters(*frames, y_source, transformer=by_name.transform, **kwargs)
    _, plain = estimate_n_clusters(
        X_target, X_source, y_source, transformer=by_position.transform, **kwargs
    )
    # The same rows drawn, the same features: the same terms.
    for name in ("probe_accuracy", "validity", "probe_f1", "target_clusters"):
        np.testing.assert_allclose(named[name], plain[name], rtol=1e-6)


def test_estimate_n_clusters_pretrains_without_the_probe_classes(monkeypatch):
    # DTC's protocol: each draw is embedded by a network that never saw its probes.
    X_target, X_source, y_source, _ = _blob_classes(5, 3)
    calls = []
    original = SupremeClusterer._pretrained_features

    def spy(self, X_source_, y_source_, arrays, random_state=None):
        calls.append((set(np.unique(y_source_)), len(X_source_), [len(a) for a in arrays]))
        return original(self, X_source_, y_source_, arrays, random_state)

    monkeypatch.setattr(SupremeClusterer, "_pretrained_features", spy)
    estimator = SupremeClusterer(pretrain_epochs=3, batch_size=32, random_state=0)
    # max_samples=100 cuts the 180 target samples to 100 and the 300 source samples
    # to round(300 * 100 / 180) = 167 for embedding, but not the pretraining data.
    n_clusters, results = estimate_n_clusters(
        X_target, X_source, y_source, candidates=range(2, 6), n_draws=3, estimator=estimator,
        max_samples=100, random_state=0,
    )
    assert len(calls) == 3
    for (trained_on, n_trained, sizes), probes in zip(calls, results.probe_classes):
        assert trained_on == set(range(5)) - set(probes.tolist())
        assert n_trained == np.sum(~np.isin(y_source, probes)) == 180
        assert sizes[0] == 100 and 40 <= sizes[1] < np.sum(np.isin(y_source, probes))
    assert n_clusters == 3  # separated blobs stay separated in the learned features
    assert not hasattr(estimator, "net_")  # the given estimator is not fitted
    with pytest.raises(ValueError, match="either transformer or estimator"):
        estimate_n_clusters(
            X_target, X_source, y_source, estimator=estimator, transformer=lambda X: X
        )
    # An invalid estimator is refused before any draw, naming its own parameter.
    with pytest.raises(
        ValueError, match=r"Invalid estimator: The 'lr' parameter of SupremeClusterer must be"
    ):
        estimate_n_clusters(X_target, X_source, y_source, estimator=SupremeClusterer(lr=-1))


def test_estimate_n_clusters_with_another_clusterer_and_images():
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    # Images are flattened for the default representation.
    shift = lambda X: np.clip(X + 60, 0, 255).astype(np.uint8).reshape(-1, 2, 2, 2)  # noqa: E731
    n_clusters, _ = estimate_n_clusters(
        shift(X_target), shift(X_source), y_source, candidates=range(2, 7),
        clusterer=KMeans(n_init=5, random_state=0), random_state=0,
    )
    assert n_clusters == 3


@pytest.mark.parametrize(
    "n_target, max_samples, expected",
    [
        # 180 target and 240 source samples: the target is cut to 50, the source to
        # the same fraction, round(240 * 50 / 180) = 67, so the classes keep their
        # sizes; taken per class, round(60 * 67 / 240) = 17 of each of the 4 classes.
        (180, 50, [50, 68]),
        # A source much larger than the target is capped at max_samples * n_classes /
        # n_probe_classes = 50 * 4 / 2 = 100, about 50 probe samples per draw.
        (40, 50, [40, 100]),
        # A target much larger than the source would leave too few source samples at
        # its fraction (round(240 * 25 / 180) = 33): 10 per class are kept, 4 * 10 = 40.
        (180, 25, [25, 40]),
        # Nothing is cut when both fit.
        (180, 2000, [180, 240]),
    ],
)
def test_estimate_n_clusters_subsamples_at_the_targets_fraction(
    n_target, max_samples, expected
):
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    seen = []
    estimate_n_clusters(
        X_target[:n_target], X_source, y_source, candidates=[3], max_samples=max_samples,
        transformer=lambda X: seen.append(len(X)) or X, random_state=0,
    )
    assert seen == expected


def test_estimate_n_clusters_subsamples_without_repeating_samples():
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    seen = []
    estimate_n_clusters(
        X_target, X_source, y_source, candidates=[3], max_samples=50,
        transformer=lambda X: seen.append(X) or X, random_state=0,
    )
    # 50 of the 180 distinct target rows, 68 of the 240 source rows (as above), each once
    for sub, full, n in [(seen[0], X_target, 50), (seen[1], X_source, 68)]:
        assert len(sub) == n == len(np.unique(sub, axis=0))
        assert all((full == row).all(axis=1).any() for row in sub)


def test_class_sample_keeps_a_fraction_of_each_class():
    y = np.repeat(["a", "b", "c"], [20, 10, 1])
    keep = _class_sample(y, 0.3, np.random.RandomState(0))
    # round(0.3 * 20) = 6, round(0.3 * 10) = 3, and 1 of the single "c", not 0
    assert [np.sum(y[keep] == c) for c in "abc"] == [6, 3, 1]
    assert np.all(np.diff(keep) > 0)  # sorted, each index once
    # nearly all of each class: 18 of 20 and 9 of 10 distinct samples
    keep = _class_sample(y, 0.9, np.random.RandomState(0))
    assert len(keep) == len(np.unique(keep)) == 18 + 9 + 1
    # rounded to the nearest, not up: round(0.32 * 20) = 6, round(0.32 * 10) = 3
    keep = _class_sample(y, 0.32, np.random.RandomState(0))
    assert [np.sum(y[keep] == c) for c in "abc"] == [6, 3, 1]


def test_estimate_n_clusters_subsampling_keeps_every_source_class():
    # A class of 2 samples among 182 vanished from a uniform subsample of 51, which
    # left 3 classes for the 4 counted: NovelClassSplit's "leaving 1 to train on".
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    rare = np.flatnonzero(y_source == 3)[2:]
    X_source, y_source = np.delete(X_source, rare, axis=0), np.delete(y_source, rare)
    for seed in range(4):
        _, results = estimate_n_clusters(
            X_target, X_source, y_source, candidates=[3], max_samples=50, random_state=seed
        )
        # all C(4, 2) = 6 pairs of probe classes are drawn, the rare class's included
        assert len(results.probe_classes) == 6
        assert sum(3 in classes for classes in results.probe_classes) == 3


def test_estimate_n_clusters_in_parallel_equals_serial():
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    kwargs = dict(candidates=range(2, 7), random_state=0)
    serial = estimate_n_clusters(X_target, X_source, y_source, **kwargs)
    parallel = estimate_n_clusters(X_target, X_source, y_source, n_jobs=2, **kwargs)
    assert serial[0] == parallel[0]
    for name in ("probe_accuracy", "validity", "probe_f1", "target_clusters"):
        np.testing.assert_array_equal(serial[1][name], parallel[1][name])


def test_estimate_n_clusters_leaves_the_clusterer_unchanged():
    # The clusterer given is cloned: its n_clusters is not overwritten, nor is it fitted.
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    clusterer = AgglomerativeClustering(n_clusters=2)
    estimate_n_clusters(X_target, X_source, y_source, candidates=[2, 3], n_draws=2,
                        clusterer=clusterer, random_state=0)
    assert clusterer.get_params()["n_clusters"] == 2 and not hasattr(clusterer, "labels_")


def test_estimate_n_clusters_seeds_the_clusterer():
    # Uniform noise: k-means with one random start ends differently on each seed.
    rng = np.random.RandomState(0)
    X_target, X_source = rng.uniform(size=(120, 2)), rng.uniform(size=(160, 2))
    y_source = np.repeat(np.arange(4), 40)
    runs = [
        estimate_n_clusters(
            X_target, X_source, y_source, candidates=range(2, 8),
            clusterer=KMeans(n_init=1, init="random"), random_state=0,
        )[1]
        for _ in range(2)
    ]
    for name in ("probe_accuracy", "validity", "probe_f1"):
        np.testing.assert_array_equal(runs[0][name], runs[1][name])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"candidates": []}, "candidates must be integers >= 1"),
        ({"candidates": [0, 2]}, "candidates must be integers >= 1"),
        # int() would have turned these into 2, 3 and 1, 3
        ({"candidates": [2.9, 3.7]}, r"integers >= 1, got \[2\.9, 3\.7\]"),
        ({"candidates": [True, 3]}, "candidates must be integers >= 1"),
        ({"candidates": [500]}, "only 180 target samples to cluster\\.$"),
        # K clusters of K target samples leave no room for the probes
        ({"candidates": [3, 180]}, "go up to 180, but there are only 180 target samples"),
        ({"candidates": [50], "max_samples": 50}, r"go up to 50, but .* only 50 target"),
        ({"candidates": [60], "max_samples": 50}, r"only 50 target samples to cluster \(max_samples=50\)"),
        # the parameter named is the one given, not NovelClassSplit's n_novel_classes
        ({"n_probe_classes": 3}, "n_probe_classes=3 leaves fewer than 2 of the 4 source classes"),
        ({"n_probe_classes": 10}, "n_probe_classes=10 leaves fewer than 2 of the 4 source classes"),
        ({"estimator": SupremeClusterer(batch_size=0)}, "'batch_size' parameter"),
        ({"criterion": "gap"}, "'criterion' parameter"),
        # bool is an int to Interval(Integral): one draw, or NovelClassSplit's error
        ({"n_draws": True}, "The 'n_draws' parameter of estimate_n_clusters must be an int, "
                            "not a bool"),
        ({"n_probe_classes": True}, "'n_probe_classes' parameter of estimate_n_clusters"),
    ],
)
def test_estimate_n_clusters_invalid(kwargs, match):
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    with pytest.raises(ValueError, match=match):
        estimate_n_clusters(X_target, X_source, y_source, **kwargs)


def test_estimate_n_clusters_needs_samples_of_one_shape():
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    with pytest.raises(ValueError, match=r"X_source has samples of shape \(\d+,\) but X_target"):
        estimate_n_clusters(X_target[:, :-1], X_source, y_source)


def test_estimate_n_clusters_needs_three_source_classes():
    X_target, X_source, y_source, _ = _blob_classes(2, 3)
    with pytest.raises(ValueError, match="at least 3 source classes"):
        estimate_n_clusters(X_target, X_source, y_source)


# ------------------------------------------------------------- n_clusters="auto"
def test_auto_n_clusters_is_estimated_and_used():
    X_target, X_source, y_source, y_target = _blob_classes(4, 3)
    model = SupremeClusterer("auto", **TINY).fit(X_target, source=(X_source, y_source))
    expected, results = estimate_n_clusters(
        X_target, X_source, y_source, candidates=range(2, 21), random_state=0
    )
    assert model.n_clusters_ == expected == 3
    assert model.n_clusters == "auto"  # the parameter is left as given
    # The estimation's terms are kept, the same as the direct call's.
    estimation = model.n_clusters_estimation_
    assert estimation.estimates == results.estimates
    np.testing.assert_equal(estimation.probe_classes, results.probe_classes)
    np.testing.assert_array_equal(estimation.candidates, np.arange(2, 21))
    np.testing.assert_allclose(estimation.score, results.score)
    assert model.predict_proba(X_target[:4]).shape == (4, 3)
    assert model.initial_proba_.shape == (len(X_target), 3)
    # the probe classes are named in the caller's labels; the draws are the same
    names = np.array(["a", "b", "c", "d"])[y_source]
    named = SupremeClusterer("auto", **TINY).fit(X_target, source=(X_source, names))
    assert named.n_clusters_ == 3
    for got, drawn in zip(named.n_clusters_estimation_.probe_classes, results.probe_classes):
        np.testing.assert_array_equal(got, np.array(["a", "b", "c", "d"])[drawn])


@pytest.mark.parametrize(
    "as_images, criterion", [(False, "accuracy_silhouette"), (True, "probe_cut")]
)
def test_auto_n_clusters_criterion_follows_the_input_kind(
    monkeypatch, digits_split, as_images, criterion
):
    # Feature vectors get the default criterion; images, whose pixels overlap across
    # classes, the probe cut (the benchmarks page measured each on its kind).
    Xs, ys, Xt, _ = digits_split
    if as_images:
        Xs, Xt = (X.reshape(-1, 8, 8, 1).astype(np.uint8) for X in (Xs, Xt))
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs["criterion"])
        return estimate_n_clusters(*args, **kwargs)

    monkeypatch.setattr("sklearn_supreme.model_selection.estimate_n_clusters", spy)
    model = SupremeClusterer("auto", **TINY).fit(Xt, source=(Xs, ys))
    assert calls == [criterion]
    expected, _ = estimate_n_clusters(
        Xt, Xs, ys, candidates=range(2, 21), criterion=criterion, random_state=0
    )
    assert model.n_clusters_ == expected


def test_auto_n_clusters_warning_names_what_the_clusterer_can_change(digits_split):
    # Images of 3 source classes: one probe class per draw. The advice must hold for
    # SupremeClusterer (which has no criterion to set) and point at the caller's line.
    Xs, ys, Xt, _ = digits_split
    Xs, Xt = (X.reshape(-1, 8, 8, 1).astype(np.uint8) for X in (Xs, Xt))
    three = ys < 3
    with pytest.warns(UserWarning, match="1 probe class per draw") as caught:
        SupremeClusterer("auto", **TINY).fit(Xt, source=(Xs[three], ys[three]))
    (warning,) = [w for w in caught if "probe class" in str(w.message)]
    assert "(3 source classes)" in str(warning.message)
    assert "an integer n_clusters for SupremeClusterer" in str(warning.message)
    assert warning.filename == __file__


def test_estimate_n_clusters_reads_integer_images_as_uint8(digits_split):
    Xs, ys, Xt, _ = digits_split
    Xs, Xt = (X.reshape(-1, 8, 8, 1).astype(np.uint8) for X in (Xs, Xt))
    kwargs = dict(candidates=range(2, 8), criterion="probe_cut", n_draws=2, random_state=0)
    k_uint8, uint8_results = estimate_n_clusters(Xt, Xs, ys, **kwargs)
    k_int, int_results = estimate_n_clusters(Xt.astype(np.int64), Xs.astype(np.int32), ys, **kwargs)
    assert k_int == k_uint8
    np.testing.assert_array_equal(int_results.probe_f1, uint8_results.probe_f1)
    with pytest.raises(ValueError, match="X_target holds int64 images with values in"):
        estimate_n_clusters(Xt.astype(np.int64) - 1, Xs, ys, **kwargs)


def test_estimate_n_clusters_checks_source_columns_and_labels(digits_split):
    pd = pytest.importorskip("pandas")
    Xs, ys, Xt, _ = digits_split
    columns = [f"pixel{i}" for i in range(Xt.shape[1])]
    Xt, Xs = pd.DataFrame(Xt, columns=columns), pd.DataFrame(Xs, columns=columns)
    with pytest.raises(ValueError, match="same names in another order"):
        estimate_n_clusters(Xt, Xs[columns[::-1]], ys)
    with pytest.raises(ValueError, match="y_source has 1 missing labels"):
        estimate_n_clusters(Xt, Xs, np.where(np.arange(len(ys)) == 3, np.nan, ys))
    with pytest.raises(ValueError, match="X_source is empty"):
        estimate_n_clusters(Xt, Xs[:0], ys[:0])
    with pytest.raises(ValueError, match="X_target is empty"):
        estimate_n_clusters(Xt[:0], Xs, ys)


def test_int_n_clusters_is_n_clusters_(digits_split):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(n_clusters=4, **TINY).fit(Xt, source=(Xs, ys))
    assert model.n_clusters_ == 4
    assert model.n_clusters_estimation_ is None


def test_auto_n_clusters_needs_source_and_three_targets():
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    model = SupremeClusterer("auto", **TINY)
    with pytest.raises(ValueError, match="n_clusters='auto' estimates"):
        model.fit(X_target)
    assert not hasattr(model, "n_clusters_")  # nothing left half-fitted
    with pytest.raises(ValueError, match="at least 3 target samples.*X has 2"):
        model.fit(X_target[:2], source=(X_source, y_source))


def test_n_clusters_rejects_other_strings():
    X_target, X_source, y_source, _ = _blob_classes(4, 3)
    with pytest.raises(ValueError, match="n_clusters"):
        SupremeClusterer("many", **TINY).fit(X_target, source=(X_source, y_source))


# ----------------------------------------------- GridSearchCV in benchmark mode
def test_grid_search_with_target_labels_and_parallel_jobs(digits_split):
    Xs, ys, Xt, yt = digits_split
    search = GridSearchCV(
        SupremeClusterer(n_clusters=5, **TINY),
        {"tau": [0.1, 1.0]},
        scoring=cluster_accuracy_scorer,
        cv=KFold(2, shuffle=True, random_state=0),
        n_jobs=2,
        error_score="raise",  # a fit failing in a worker must fail the test
    )
    search.fit(Xt, yt, source=(Xs, ys))
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (2,) and np.all((scores > 0) & (scores <= 1.0))
    best = search.best_estimator_
    # The refit saw the source: its classes, and the scorer's value, are the real ones.
    np.testing.assert_array_equal(best.source_classes_, np.unique(ys))
    assert search.score(Xt, yt) == cluster_accuracy(yt, best.predict(Xt))


def test_column_vector_source_labels_warn_once(digits_split, fast_params):
    # The search checks the labels once for all its fits (and the refit's checks run
    # on the checked ones); estimate_n_clusters as fit does.
    Xs, ys, Xt, _ = digits_split
    params = {**fast_params, "pretrain_epochs": 1, "max_epochs": 1}
    search = SupremeClustererCV(SupremeClusterer(**params), taus=(0.5,), cv=2)
    for run in (
        lambda: search.fit(Xt, source=(Xs, ys[:, None])),
        lambda: estimate_n_clusters(Xt, Xs, ys[:, None], n_draws=2, random_state=0),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
        column = [w for w in caught if issubclass(w.category, DataConversionWarning)]
        assert len(column) == 1 and "A column-vector y_source" in str(column[0].message)
    # the search held out source classes, read off the flattened labels
    assert set(np.concatenate(search.held_out_classes_).tolist()) <= {0, 1, 2, 3, 4}
    assert search.labels_.shape == (len(Xt),)
