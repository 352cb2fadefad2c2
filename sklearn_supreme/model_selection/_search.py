"""Tau chosen by cross-validation on the source's classes: ``SupremeClustererCV``."""

import contextlib
import numbers
import tempfile
import time
import warnings
from numbers import Integral

import numpy as np
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, _fit_context, clone
from sklearn.metrics import check_scoring, get_scorer_names
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
# scikit-learn's Parallel, not joblib's: it carries the caller's scikit-learn config
# (and, from scikit-learn 1.7, warning filters) into the worker processes.
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.metadata_routing import UNCHANGED, UNUSED, WARN, get_routing_for_object
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_consistent_length, check_is_fitted, check_memory

from .._estimator import SupremeClusterer, _empty_clusters_ignored, _refuse_bools
from .._input import (
    _check_named_array, _check_source_columns, _check_source_labels,
    _check_y_is_not_the_source, _source_pair, _user_stacklevel, _domains_unchecked,
)
from ..metrics import cluster_accuracy, cluster_accuracy_scorer
from ._split import NovelClassSplit

@contextlib.contextmanager
def _search_memory(estimator):
    """``estimator`` with a temporary ``memory`` for the duration of a search, unless
    it caches already, has no ``memory`` parameter, or could not share its start
    between fits: without an integer ``random_state`` each fit draws its own seed,
    and parameters joblib cannot hash (a lambda ``augment``) cannot key a cache."""
    params = estimator.get_params(deep=False)
    if (
        # A joblib.Memory(None) caches nothing, as None does.
        "memory" not in params or check_memory(params["memory"]).location is not None
        or not isinstance(params.get("random_state"), numbers.Integral)
        or not _start_is_hashable(estimator)
    ):
        yield estimator
        return
    with tempfile.TemporaryDirectory(prefix="sklearn_supreme_search_") as location:
        yield clone(estimator).set_params(memory=location)


def _start_is_hashable(estimator):
    """Whether ``estimator``'s ``memory`` could key its cache on its parameters."""
    try:
        estimator._hashable_start_params()
    except (AttributeError, ValueError):  # not a SupremeClusterer, or not hashable
        return False
    return True


def _fit_held_out(estimator, X_source, y_source, train, test, tau, scorer=None):
    """Cluster the held-out classes ``test`` with the classes ``train`` as source, and
    score the clustering: ``scorer(estimator, X_test, y_test)``, or by default the
    cluster accuracy of ``labels_`` (the same as its scorer's, without the second pass
    of ``predict``)."""
    estimator.set_params(tau=tau, n_clusters=len(np.unique(y_source[test])))
    start = time.perf_counter()
    # Two warnings are not the user's to act on here: an empty cluster is already in
    # the fit's score (and its advice, lower n_clusters, is the search's to follow),
    # and held-out classes that lie apart from the others are not the "target" the
    # warning would name (the refit checks the user's data). Left on, either would
    # fail the whole search under warnings-as-errors.
    with _empty_clusters_ignored(), _domains_unchecked():
        estimator.fit(X_source[test], source=(X_source[train], y_source[train]))
    fit_time = time.perf_counter() - start
    if scorer is None:
        score = cluster_accuracy(y_source[test], estimator.labels_)
    else:
        score = scorer(estimator, X_source[test], y_source[test])
    return score, fit_time, time.perf_counter() - start - fit_time


def _rank(mean_scores):
    """Ranks of the mean scores, best first, ties sharing the smallest rank, as in
    ``GridSearchCV``'s ``rank_test_score``: a NaN mean (a scorer that failed on some
    split) ranks with the worst, and all ranks are 1 if every mean is NaN."""
    if np.isnan(mean_scores).all():
        return np.ones(len(mean_scores), dtype=np.int32)
    # Written out rather than imported: GridSearchCV does it inside a private method.
    filled = np.where(np.isnan(mean_scores), np.nanmin(mean_scores) - 1, mean_scores)
    return rankdata(-filled, method="min").astype(np.int32)


def _needs_refit(method):
    """``available_if`` check: ``method`` exists only with ``refit=True``, so that
    ``hasattr`` says False otherwise, as for :class:`~sklearn.model_selection.GridSearchCV`."""

    def check(search):
        search._check_refit(method)
        return True

    return check


class SupremeClustererCV(ClusterMixin, TransformerMixin, BaseEstimator):
    """SUPREME transfer clustering with ``tau`` chosen by cross-validation on the source.

    The temperature ``tau`` of the pair confidences (Eq. 4) is best at different
    values on different datasets, and target labels are not available to choose
    it. As the paper suggests, it is chosen on the source instead: each split of
    ``cv`` holds out a few whole source classes, and for every candidate ``tau`` a
    clone of ``estimator`` clusters the held-out classes' samples (unlabelled,
    ``n_clusters`` set to the number of held-out classes) with the remaining
    classes as its source. The score of a fit is, by default, the
    :func:`~sklearn_supreme.metrics.cluster_accuracy` of its ``labels_`` on the
    held-out classes (see ``scoring``); the ``tau`` with the best mean score over the
    splits is then refitted on the real target with all the source classes.

    Parameters
    ----------
    estimator : SupremeClusterer, default=None
        The model to tune: every fit, cross-validation and refit alike, is a clone
        of it with only ``tau`` (and, in cross-validation, ``n_clusters``)
        changed. None means ``SupremeClusterer()``. Its training settings
        (epochs, batch size, device) decide what a cross-validation fit costs.
    taus : array-like of float, default=(0.05, 0.1, 0.25, 0.5, 1.0)
        Candidate temperatures, all > 0. Among equally scored ones the first wins.
    cv : int, cross-validation generator or iterable, default=5
        How to hold out source classes. An int is the number of splits of
        ``NovelClassSplit(cv, n_novel_classes=2, random_state=0)``: the same
        splits on every call, as an int ``cv`` gives in scikit-learn. A splitter
        receives ``split(X_source, y_source)``, and a splitter of groups
        (``GroupKFold``, ``LeavePGroupsOut``...) the classes as ``groups``, so that
        it holds out whole classes. Any splitter or
        iterable of ``(train, test)`` index arrays must hold out whole classes
        (checked). None means 5.
    scoring : str, callable or None, default=None
        How a fit on held-out classes is scored against their labels. None is
        the cluster accuracy (:data:`~sklearn_supreme.metrics.cluster_accuracy_scorer`,
        read off ``labels_``); a string names a scikit-learn scorer, such as
        ``"adjusted_rand_score"`` or ``"normalized_mutual_info_score"``; a callable
        is a scorer ``scoring(estimator, X_held_out, y_held_out)``, as for
        :class:`~sklearn.model_selection.GridSearchCV`. Greater is better. As
        there, a ``tau`` whose mean score is NaN (a scorer that returned NaN on
        some split) ranks last, with a warning.
    n_jobs : int, default=None
        Number of cross-validation fits run in parallel by :class:`joblib.Parallel`
        (one per ``tau`` and split), through scikit-learn's wrapper, which hands
        the caller's :func:`sklearn.get_config` to the workers. None means 1 unless
        in a :func:`joblib.parallel_config` context; -1 means all processors.
        Within one process, fits train one at a time (torch's random generators
        are global to a process, and each fit seeds them): joblib's default,
        process-based backend runs them in parallel; its threading backend keeps
        the results reproducible but gains nothing.
    refit : bool, default=True
        Refit the best ``tau`` on the target ``X``; without it only the
        cross-validation results are kept, and ``labels_``, ``predict``,
        ``predict_proba`` and ``transform`` are not available: as for
        :class:`~sklearn.model_selection.GridSearchCV`, ``hasattr`` says False
        for ``predict``, ``predict_proba`` and ``fit_predict``; ``transform`` and
        ``fit_transform`` (which scikit-learn's ``set_output`` wraps) raise
        ``AttributeError`` when called.
    verbose : int, default=0
        Verbosity of :class:`joblib.Parallel`.

    Attributes
    ----------
    cv_results_ : dict of ndarray
        One entry per candidate ``tau``, in the order of ``taus``, laid out as in
        :class:`~sklearn.model_selection.GridSearchCV` (``pandas.DataFrame``
        reads it): ``"params"``, ``"param_tau"``, ``"split{i}_test_score"``,
        ``"mean_test_score"``, ``"std_test_score"``, ``"rank_test_score"``,
        ``"mean_fit_time"``, ``"std_fit_time"``, ``"mean_score_time"``,
        ``"std_score_time"``.
    best_index_ : int
        Index of the best candidate in ``cv_results_``.
    best_score_ : float
        Its mean cross-validated score (by default, the cluster accuracy).
    best_params_ : dict
        ``{"tau": best_tau_}``.
    best_tau_ : float
        The chosen temperature.
    scorer_ : callable
        The scorer of ``scoring``: ``scorer_(estimator, X, y)``.
    held_out_classes_ : list of ndarray
        The source classes held out in each split.
    n_splits_ : int
        Number of cross-validation splits.
    best_estimator_ : SupremeClusterer
        The estimator refitted on ``X`` with ``best_tau_``; only with
        ``refit=True``.
    refit_time_ : float
        Seconds the refit of ``best_estimator_`` took, as ``GridSearchCV``
        reports it; only with ``refit=True``.
    labels_ : ndarray of shape (n_samples,)
        ``best_estimator_.labels_``; only with ``refit=True``.
    n_clusters_ : int
        ``best_estimator_.n_clusters_``; only with ``refit=True``.
    n_features_in_ : int
        ``best_estimator_.n_features_in_``; only with ``refit=True``.
    feature_names_in_ : ndarray of str
        ``best_estimator_.feature_names_in_``; only with ``refit=True`` and a ``X``
        with string column names.

    See Also
    --------
    NovelClassSplit : The class-disjoint splitter used by default.
    sklearn.model_selection.GridSearchCV : Search scored with labels of the data
        being clustered, i.e. with target labels (benchmarks only).

    Notes
    -----
    ``GridSearchCV(SupremeClusterer(), {"tau": taus}, cv=NovelClassSplit())`` on
    the source would not do this: it fits the training fold and scores
    ``predict`` on the test fold, whereas here each fit *clusters* the test fold
    and takes the training fold as its ``source``, and ``n_clusters`` must follow
    the number of held-out classes. This class is that special search, offered
    the way :class:`~sklearn.linear_model.LogisticRegressionCV` offers a built-in
    search over ``C``. Use :class:`~sklearn.model_selection.GridSearchCV` when
    target labels exist, with
    :data:`~sklearn_supreme.metrics.cluster_accuracy_scorer` as ``scoring`` and
    ``source=(X_source, y_source)`` passed to its ``fit``.

    The search costs ``len(taus) * n_splits`` fits on the source plus the refit.
    Every fit uses the ``random_state`` of ``estimator``: with an integer one,
    candidates differ by ``tau`` and not by their random draws (with None, the
    default, each fit draws its own, and the scores are noisier). With an integer
    ``random_state``, the fits of one split also share their pretraining and
    initial K-means through the estimator's ``memory`` (a temporary directory,
    deleted after the search, if it has none): only ``n_splits`` pretrainings
    run, and ``mean_fit_time`` of the first ``tau`` includes them. The first
    ``tau``'s fits run before the others, so that this holds with any ``n_jobs``.

    A fit that fails stops the search with its error (there is no ``error_score``):
    a ``tau`` that fails on one split would fail on the target too. Before any fit
    runs, the target is checked as the refit will check it.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_supreme import SupremeClusterer
    >>> from sklearn_supreme.model_selection import NovelClassSplit, SupremeClustererCV
    >>> X, y = load_digits(return_X_y=True)
    >>> X_source, y_source, X_target = X[y < 5][:400], y[y < 5][:400], X[y >= 5][:200]
    >>> search = SupremeClustererCV(
    ...     SupremeClusterer(n_clusters=5, pretrain_epochs=1, max_epochs=5,
    ...                      batch_size=64, random_state=0),
    ...     taus=(0.1, 1.0), cv=NovelClassSplit(2, n_novel_classes=2, random_state=0),
    ... )
    >>> labels = search.fit_predict(X_target, source=(X_source, y_source))
    >>> search.cv_results_["mean_test_score"].shape, sorted(search.best_params_)
    ((2,), ['tau'])
    >>> labels.shape, search.best_estimator_.tau == search.best_tau_
    ((200,), True)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "get_params", "set_params"]), None],
        "taus": ["array-like"],
        # cv=1 is meaningful here (one held-out class set); "cv_object" starts at 2.
        "cv": [Interval(Integral, 1, None, closed="left"), "cv_object"],
        "scoring": [StrOptions(set(get_scorer_names())), callable, None],
        "n_jobs": [Integral, None],
        "refit": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        taus=(0.05, 0.1, 0.25, 0.5, 1.0),
        cv=5,
        scoring=None,
        n_jobs=None,
        refit=True,
        verbose=0,
    ):
        self.estimator = estimator
        self.taus = taus
        self.cv = cv
        self.scoring = scoring
        self.n_jobs = n_jobs
        self.refit = refit
        self.verbose = verbose

    def _validate_params(self):
        super()._validate_params()
        _refuse_bools(self)  # cv=True: one split, and an error that blamed the data

    # The nested estimator's parameters are validated in its own fit.
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, source=None, *, X_source=None, y_source=None):
        """Choose ``tau`` on the source classes, then cluster ``X`` with it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or image array
            Target samples, as for :meth:`~sklearn_supreme.SupremeClusterer.fit`.
        y : None
            Ignored; present for API consistency.
        source : tuple (X_source, y_source)
            Labelled source samples; required, since ``tau`` is chosen on them.
            Needs enough classes for ``cv`` (with an int ``cv``, at least 4).
        X_source, y_source : array-like, default=None
            The source as two arguments instead of ``source``, for
            :class:`~sklearn.pipeline.Pipeline` routing (see
            :meth:`~sklearn_supreme.SupremeClusterer.fit`).

        Returns
        -------
        self : SupremeClustererCV
            The fitted search.
        """
        _check_y_is_not_the_source(y)
        # As SupremeClusterer.fit: on any error the search returns to the state it had
        # before this call, never a mix of this search's results and an older refit.
        previous_state = self.__dict__.copy()
        try:
            self._fit(X, source, X_source, y_source)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(previous_state)
            raise
        return self

    @available_if(_needs_refit("fit_predict"))
    def fit_predict(self, X, y=None, **kwargs):
        """Fit the search and return the refitted best estimator's ``labels_``.

        Parameters
        ----------
        X, y, **kwargs
            As for :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        self._check_refit("fit_predict")
        self.fit(X, y, **kwargs)
        return self.labels_

    @available_if(_needs_refit("fit_transform"))
    def fit_transform(self, X, y=None, **kwargs):
        """Fit the search and return the factor-space representation of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or image array
            Target samples, as for :meth:`fit`.
        y : None
            Ignored, as for :meth:`fit`.
        **kwargs : dict
            The source and the other arguments of :meth:`fit`.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_factors)
            The refitted best estimator's codes of ``X``, in [0, 1].
        """
        self._check_refit("fit_transform")
        return self.fit(X, y, **kwargs).transform(X)

    def _check_refit(self, method):
        # Before the search, not after its len(taus) * n_splits fits.
        if not self.refit:
            raise AttributeError(
                f"{method} needs refit=True: with refit=False the search fits no model on X. "
                "Call fit, and read cv_results_ and best_tau_."
            )

    def _fit(self, X, source, X_source, y_source):
        for name in [name for name in vars(self) if name.endswith("_")]:
            delattr(self, name)  # the results of a previous fit
        pair = _source_pair(source, X_source, y_source)
        if pair is None:
            raise ValueError(
                f"{type(self).__name__} chooses tau on the source classes: pass "
                "source=(X_source, y_source)."
            )
        taus = self._check_taus()
        estimator = self._check_estimator()
        # The refit gets the data as given (a DataFrame's column names included).
        X_given, X_source_given = X, pair[0]
        # Checked once, here: a column vector's warning is given once.
        y_source = _check_source_labels(pair[1])
        # The target is only used by the refit, after the whole search: the refit's own
        # checks of the data (shapes, values, enough samples for n_clusters) run now.
        if isinstance(estimator, SupremeClusterer):
            checker = clone(estimator)
            checker._validate_params()  # its parameters first: the checks below use them
            checker._validate_fit_data(X, (pair[0], y_source))
        _check_source_columns(getattr(X, "columns", None), pair[0])
        X_source = _check_named_array(pair[0], "X_source", allow_nd=True, dtype=None)
        check_consistent_length(X_source, y_source)
        if not isinstance(estimator, SupremeClusterer):  # what the checks above did
            X = _check_named_array(X, "X", allow_nd=True, dtype=None)
            if X.shape[1:] != X_source.shape[1:]:
                raise ValueError(
                    f"X has samples of shape {X.shape[1:]} but X_source of shape "
                    f"{X_source.shape[1:]}; source and target must be alike."
                )
        splits = self._splits(X_source, y_source)
        # None: cluster accuracy, read off labels_ (no predict pass) in _fit_held_out.
        scorer = None if self.scoring is None else check_scoring(estimator, self.scoring)

        # The fits of one split differ only in tau, so they share the pretraining and
        # initial K-means through the estimator's memory; a temporary one if it has none.
        # Two waves: the first tau on every split fills the memory, the other taus read
        # it. In one wave, with more workers than splits, fits of one split that ran at
        # once would each miss the memory and pretrain.
        with _search_memory(estimator) as search_estimator:
            def wave(wave_taus):
                return Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
                    delayed(_fit_held_out)(
                        clone(search_estimator), X_source, y_source, train, test, tau,
                        scorer,
                    )
                    for tau in wave_taus for train, test in splits
                )

            results = wave(taus[:1])
            if len(taus) > 1:
                results += wave(taus[1:])
        # (score, fit time, score time) of each job -> three (n_taus, n_splits) arrays
        scores, fit_times, score_times = np.moveaxis(
            np.array(results).reshape(len(taus), len(splits), 3), -1, 0
        )

        mean = scores.mean(axis=1)
        if not np.isfinite(mean).all():
            # GridSearchCV's warning: a scorer gave NaN or inf on some split.
            warnings.warn(
                f"One or more of the test scores are non-finite: {mean}", UserWarning,
                stacklevel=_user_stacklevel(),
            )
        self.cv_results_ = {
            "params": [{"tau": float(tau)} for tau in taus],  # not np.float64 scalars
            # A masked array, as GridSearchCV's param_* columns are.
            "param_tau": np.ma.MaskedArray(taus, mask=False),
            **{f"split{i}_test_score": scores[:, i] for i in range(len(splits))},
            "mean_test_score": mean,
            "std_test_score": scores.std(axis=1),
            "rank_test_score": _rank(mean),
            "mean_fit_time": fit_times.mean(axis=1),
            "std_fit_time": fit_times.std(axis=1),
            "mean_score_time": score_times.mean(axis=1),
            "std_score_time": score_times.std(axis=1),
        }
        # The first of the best-ranked, as GridSearchCV chooses (a NaN mean ranks last).
        self.best_index_ = int(np.argmin(self.cv_results_["rank_test_score"]))
        self.best_score_ = float(mean[self.best_index_])
        self.scorer_ = cluster_accuracy_scorer if scorer is None else scorer
        self.best_tau_ = float(taus[self.best_index_])
        self.best_params_ = {"tau": self.best_tau_}
        self.held_out_classes_ = [np.unique(y_source[test]) for _, test in splits]
        self.n_splits_ = len(splits)

        if self.refit:
            best = clone(estimator).set_params(tau=self.best_tau_)
            start = time.perf_counter()
            self.best_estimator_ = best.fit(X_given, source=(X_source_given, y_source))
            self.refit_time_ = time.perf_counter() - start
            self.labels_ = best.labels_
            self.n_clusters_ = getattr(best, "n_clusters_", best.get_params()["n_clusters"])
            # An estimator other than SupremeClusterer may not set them.
            for name in ("n_features_in_", "feature_names_in_"):
                if hasattr(best, name):
                    setattr(self, name, getattr(best, name))

    def get_feature_names_out(self, input_features=None):
        """Get the names of the factor-space features, by the refitted best estimator.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored beyond scikit-learn's consistency check.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per factor: the estimator's lowercase class name and the
            factor's index.
        """
        return self._refitted("get_feature_names_out").get_feature_names_out(input_features)

    def _check_taus(self):
        try:
            taus = np.asarray(self.taus, dtype=float)
        except (TypeError, ValueError):  # a set, strings...
            taus = np.array([np.nan])
        if taus.ndim != 1 or taus.size == 0 or not np.all(np.isfinite(taus) & (taus > 0)):
            raise ValueError(
                f"taus must be a non-empty 1-D list of finite floats > 0, got {self.taus!r}."
            )
        return taus

    def _check_estimator(self):
        estimator = SupremeClusterer() if self.estimator is None else self.estimator
        missing = {"tau", "n_clusters"} - set(estimator.get_params(deep=False))
        if missing:
            raise ValueError(
                f"estimator must have the parameters tau and n_clusters (a "
                f"SupremeClusterer); {type(estimator).__name__} lacks {sorted(missing)}."
            )
        return estimator

    def _splits(self, X_source, y_source):
        cv = 5 if self.cv is None else self.cv
        if isinstance(cv, numbers.Integral):
            try:
                splits = list(
                    NovelClassSplit(cv, n_novel_classes=2, random_state=0).split(X_source, y_source)
                )
            except ValueError as exc:
                raise ValueError(
                    f"cv={cv} holds out 2 source classes in each of {cv} splits "
                    f"(NovelClassSplit({cv}, n_novel_classes=2)), which y_source's "
                    f"{len(np.unique(y_source))} classes do not allow: {exc}"
                ) from exc
        else:
            splitter = check_cv(cv)
            # The classes are the groups of a splitter that takes groups (GroupKFold,
            # LeavePGroupsOut...), so that it holds out whole classes; the others warn
            # that they ignore groups, and a splitter of the user's may lack them. A
            # request under another name (an alias, with metadata routing) asks too.
            request = get_routing_for_object(splitter).split.requests.get("groups")
            wants = request is True or (
                isinstance(request, str) and request not in (UNUSED, WARN, UNCHANGED)
            )
            kwargs = {"groups": y_source} if wants else {}
            splits = list(splitter.split(X_source, y_source, **kwargs))
        if not splits:
            # Else every score is the mean of nothing, and tau is chosen from NaNs.
            raise ValueError(
                f"cv gave no splits (an empty list, or a generator already used up by an "
                f"earlier fit): got cv={cv!r}. Pass a splitter such as NovelClassSplit, or "
                "a list of (train, test) index pairs."
            )
        for i, (train, test) in enumerate(splits):
            shared = np.intersect1d(y_source[train], y_source[test])
            if shared.size:
                raise ValueError(
                    "cv must hold out whole classes (see NovelClassSplit), but a split has "
                    f"the classes {shared.tolist()} on both sides."
                )
            # One held-out class is one cluster, which every tau clusters perfectly:
            # the search would rank nothing. The remaining classes are the fit's source.
            for side, indices in (("holds out", test), ("trains on", train)):
                n_side = len(np.unique(y_source[indices]))
                if n_side < 2:
                    raise ValueError(
                        f"Split {i} of cv {side} {n_side} source class; each split must hold "
                        "out at least 2 classes and train on at least 2 (with one held-out "
                        "class every tau scores 1.0). Use NovelClassSplit(n_novel_classes=2)."
                    )
        return splits

    def _refitted(self, method):
        check_is_fitted(self)
        if not hasattr(self, "best_estimator_"):
            raise AttributeError(
                f"This {type(self).__name__} was fitted with refit=False; {method} is "
                "available only after refitting on the best tau."
            )
        return self.best_estimator_

    @available_if(_needs_refit("predict"))
    def predict(self, X):
        """Cluster of each sample of ``X``, by the refitted best estimator.

        Parameters
        ----------
        X : array-like of the shape seen in ``fit``

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._refitted("predict").predict(X)

    @available_if(_needs_refit("predict_proba"))
    def predict_proba(self, X):
        """Soft cluster assignment of each sample of ``X``, by the refitted best estimator.

        Parameters
        ----------
        X : array-like of the shape seen in ``fit``

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
        """
        return self._refitted("predict_proba").predict_proba(X)

    @available_if(_needs_refit("transform"))
    def transform(self, X):
        """Factor-space representation of ``X``, by the refitted best estimator.

        Parameters
        ----------
        X : array-like of the shape seen in ``fit``
            Samples of the kind the search was fitted on.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_factors)
            The refitted best estimator's codes of ``X``, in [0, 1].
        """
        return self._refitted("transform").transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Images are 4-D. scikit-learn has no tag for that; three_d_array (input of
        # more than 2 dimensions) is the nearest, although 3-D arrays are refused.
        tags.input_tags.three_d_array = True
        if self.estimator is None or isinstance(self.estimator, SupremeClusterer):
            # transform is the refitted SupremeClusterer's: float32 codes.
            tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
