"""Model selection for transfer clustering.

Transfer clustering is fitted on labelled source classes and evaluated on
target data of *other*, novel classes. Ordinary cross-validation splits
samples, so every class would appear on both sides of a split; to select
hyper-parameters on the source data alone, the tools here instead hold out
whole classes, which then play the role of the novel target classes.

* :class:`NovelClassSplit` is such a class-disjoint cross-validator: each
  split holds out all samples of a few source classes as pseudo-novel test
  data.
* :class:`SupremeClustererCV` chooses the temperature ``tau`` of a
  :class:`~sklearn_supreme.SupremeClusterer` with it: each candidate is fitted
  with the held-out classes as an unlabelled target and scored by
  :func:`~sklearn_supreme.metrics.cluster_accuracy` on them.
* :func:`estimate_n_clusters` estimates the number of novel classes in the
  target with held-out *probe* classes mixed into it, as DTC does; it is what
  ``SupremeClusterer(n_clusters="auto")`` runs.

When target labels are available (benchmarks), plain
:class:`~sklearn.model_selection.GridSearchCV` with
:data:`~sklearn_supreme.metrics.cluster_accuracy_scorer` also works, with
the source passed through ``fit`` as ``source=(X_source, y_source)``.
"""

import contextlib
import itertools
import math
import numbers
import tempfile
import time
import warnings
from numbers import Integral

import numpy as np
from joblib import Memory
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, _fit_context, clone
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import silhouette_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.model_selection import BaseCrossValidator, check_cv
from sklearn.utils import Bunch, check_random_state, indexable
from sklearn.utils._param_validation import (
    HasMethods, Interval, InvalidParameterError, StrOptions, validate_params,
)
# scikit-learn's Parallel, not joblib's: it carries the caller's scikit-learn config
# (and, from scikit-learn 1.7, warning filters) into the worker processes.
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from ._estimator import SupremeClusterer, _empty_clusters_ignored
from ._input import (
    _check_named_array, _check_source_columns, _check_source_labels,
    _integer_images_as_uint8, _source_pair,
)
from .metrics import _check_labels, cluster_accuracy

__all__ = ["NovelClassSplit", "SupremeClustererCV", "estimate_n_clusters"]

# Up to this many candidate class sets (or twice n_splits, if more) are listed
# and sampled without replacement; beyond it, listing every combination could
# exhaust memory, so distinct sets are drawn by rejection instead, which needs
# at most about two draws per split once there are twice as many sets as splits.
_MAX_ENUMERATED_CLASS_SETS = 10_000


def _check_n_splits(n_splits):
    # bool is an Integral, but n_splits=True is surely a mistake.
    if not isinstance(n_splits, numbers.Integral) or isinstance(n_splits, bool):
        raise ValueError(
            f"n_splits must be an integer >= 1, got {n_splits!r} of type "
            f"{type(n_splits).__name__}."
        )
    if n_splits < 1:
        raise ValueError(f"n_splits must be an integer >= 1, got n_splits={n_splits}.")


def _check_n_novel_classes(n_novel_classes):
    if isinstance(n_novel_classes, bool) or not isinstance(n_novel_classes, numbers.Real):
        raise ValueError(
            "n_novel_classes must be an integer >= 1 or a float in (0, 1), got "
            f"{n_novel_classes!r} of type {type(n_novel_classes).__name__}."
        )
    if isinstance(n_novel_classes, numbers.Integral):
        if n_novel_classes < 1:
            raise ValueError(
                "n_novel_classes must be an integer >= 1 or a float in (0, 1), "
                f"got n_novel_classes={n_novel_classes}."
            )
    elif not 0 < n_novel_classes < 1:
        raise ValueError(
            "n_novel_classes must be an integer >= 1 or a float in (0, 1), "
            f"got n_novel_classes={n_novel_classes}."
        )


class NovelClassSplit(BaseCrossValidator):
    """Class-disjoint cross-validator holding out whole classes as novel ones.

    Each split holds out all samples of ``n_novel_classes`` classes of the
    labelled source data as the test set, and keeps all samples of the other
    classes as the training set, so that a transfer-clustering model can be
    scored, as on real target data, on classes it never saw. The held-out
    class sets of different splits are distinct combinations drawn at random
    without replacement; they may overlap, but no two are equal.

    Parameters
    ----------
    n_splits : int, default=5
        Number of splits, i.e. of distinct held-out class sets. Must be at
        least 1 and at most the number of distinct sets, ``C(n_classes,
        n_novel)``.

    n_novel_classes : int or float, default=2
        Number of classes held out in each split. An int must be at least 1;
        a float in ``(0, 1)`` is a fraction of the classes in ``y``, rounded
        up (to 1 at least) as ``test_size`` is in
        :func:`~sklearn.model_selection.train_test_split`.
        At least 2 classes must remain for training.

    random_state : int, RandomState instance or None, default=None
        Controls which class sets are held out and their order. Pass an int
        for the same splits across calls to :meth:`split`.
        See :term:`Glossary <random_state>`.

    See Also
    --------
    sklearn.model_selection.GroupKFold : Splits by groups rather than classes.
    sklearn.model_selection.LeavePGroupsOut : Holds out every combination of
        ``p`` groups, given as ``groups`` rather than ``y``.

    Notes
    -----
    Classes are identified by their distinct values in ``y`` (sorted as by
    :func:`numpy.unique`); the class sizes play no part in the draw, so test
    sets of different splits may differ in size.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_supreme.model_selection import NovelClassSplit
    >>> X = np.arange(16).reshape(8, 2)
    >>> y = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    >>> cv = NovelClassSplit(n_splits=3, n_novel_classes=2, random_state=0)
    >>> cv
    NovelClassSplit(n_novel_classes=2, n_splits=3, random_state=0)
    >>> cv.get_n_splits()
    3
    >>> for train_index, test_index in cv.split(X, y):
    ...     print("held out:", np.unique(y[test_index]),
    ...           "train:", train_index, "test:", test_index)
    held out: ['c' 'd'] train: [0 1 2 3] test: [4 5 6 7]
    held out: ['a' 'd'] train: [2 3 4 5] test: [0 1 6 7]
    held out: ['a' 'c'] train: [2 3 6 7] test: [0 1 4 5]
    """

    def __init__(self, n_splits=5, *, n_novel_classes=2, random_state=None):
        # Like scikit-learn's KFold, check what needs no data right away;
        # checks against the classes of y happen in split.
        _check_n_splits(n_splits)
        _check_n_novel_classes(n_novel_classes)
        self.n_splits = n_splits
        self.n_novel_classes = n_novel_classes
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        """Generate indices to split data into training and test set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; only its number of samples is used.

        y : array-like of shape (n_samples,) or (n_samples, 1)
            Class labels, of any hashable type. Required, despite the
            default, which only keeps the scikit-learn signature.

        groups : object
            Always ignored, exists for API compatibility.

        Yields
        ------
        train : ndarray
            The training set indices for that split: all samples of the
            classes that are not held out.

        test : ndarray
            The testing set indices for that split: all samples of the held
            out classes.

        Raises
        ------
        ValueError
            If ``y`` is missing or does not fit the parameters: it leaves
            fewer than 2 training classes, or has fewer than ``n_splits``
            distinct held-out class sets. Raised on the call itself, before
            the first split is generated.
        """
        self._check_y_given(y)
        # Only the number of samples of X matters, and it must match y.
        X, y = indexable(X, y)
        y_encoded, _, class_sets = self._draw_class_sets(y)
        # Validation above is eager; only the index arrays are generated lazily.
        return self._iter_splits(y_encoded, class_sets)

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splitting iterations in the cross-validator.

        Parameters
        ----------
        X : object
            Always ignored, exists for API compatibility.

        y : object
            Always ignored, exists for API compatibility.

        groups : object
            Always ignored, exists for API compatibility.

        Returns
        -------
        n_splits : int
            Returns the number of splitting iterations in the cross-validator.
        """
        return self.n_splits

    def get_held_out_classes(self, y):
        """Return the classes that each split holds out.

        With an int ``random_state`` these are the classes of the test sets
        that :meth:`split` yields for the same ``y``, in the same
        order; a model to be scored on a split can thus be told how many
        and which novel classes to expect.

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, 1)
            Class labels, of any hashable type.

        Returns
        -------
        held_out_classes : list of ndarray
            One sorted array of class labels per split, ``n_splits`` in all.

        Examples
        --------
        >>> from sklearn_supreme.model_selection import NovelClassSplit
        >>> y = ["a", "a", "b", "b", "c", "c", "d", "d"]
        >>> cv = NovelClassSplit(n_splits=3, n_novel_classes=2, random_state=0)
        >>> cv.get_held_out_classes(y)
        [array(['c', 'd'], ...), array(['a', 'd'], ...), array(['a', 'c'], ...)]
        """
        self._check_y_given(y)
        _, classes, class_sets = self._draw_class_sets(y)
        return [classes[class_set] for class_set in class_sets]

    @staticmethod
    def _check_y_given(y):
        if y is None:
            raise ValueError(
                "The 'y' parameter should not be None: NovelClassSplit holds "
                "out whole classes, so it needs the class labels."
            )

    def _draw_class_sets(self, y):
        """Validate ``y`` and draw the held-out class sets of all splits.

        Returns ``y`` encoded as class indices, the sorted classes and one
        sorted array of class indices per split.
        """
        # A column vector (a one-column DataFrame) is read as its labels, silently, as
        # scikit-learn's StratifiedKFold reads it.
        if np.ndim(y) == 2 and np.shape(y)[1] == 1:
            y = y.iloc[:, 0] if hasattr(y, "iloc") else np.asarray(y).ravel()
        # 1-D, present and sortable labels of any type (strings and objects kept).
        y = _check_labels(y, "y")
        classes, y_encoded = np.unique(y, return_inverse=True)

        n_classes = classes.shape[0]
        n_novel = self._resolve_n_novel_classes(n_classes)
        n_sets = math.comb(n_classes, n_novel)
        if self.n_splits > n_sets:
            raise ValueError(
                f"Cannot have n_splits={self.n_splits} greater than the number of "
                f"distinct sets of {n_novel} held-out classes among the "
                f"{n_classes} classes in y, which is {n_sets}."
            )

        rng = check_random_state(self.random_state)
        if n_sets <= max(_MAX_ENUMERATED_CLASS_SETS, 2 * self.n_splits):
            all_sets = list(itertools.combinations(range(n_classes), n_novel))
            chosen = rng.choice(n_sets, size=self.n_splits, replace=False)
            class_sets = [np.array(all_sets[i]) for i in chosen]
        else:
            seen = set()
            class_sets = []
            while len(class_sets) < self.n_splits:
                class_set = tuple(np.sort(rng.choice(n_classes, n_novel, replace=False)))
                if class_set not in seen:
                    seen.add(class_set)
                    class_sets.append(np.array(class_set))
        return y_encoded, classes, class_sets

    def _resolve_n_novel_classes(self, n_classes):
        """Return the number of held-out classes, checking 2 remain to train on."""
        if isinstance(self.n_novel_classes, numbers.Integral):
            n_novel = int(self.n_novel_classes)
        else:
            # Rounding first stops float error from rounding up an exact
            # product, e.g. 0.07 * 100 == 7.000000000000001; but a split always
            # holds out a class, as train_test_split's test set always has a sample.
            n_novel = max(1, math.ceil(round(self.n_novel_classes * n_classes, 10)))
        n_train = n_classes - n_novel
        if n_train < 2:
            raise ValueError(
                f"n_novel_classes={self.n_novel_classes} holds out {n_novel} of "
                f"the {n_classes} classes in y, leaving {max(n_train, 0)} to train "
                "on; at least 2 training classes are required."
            )
        return n_novel

    @staticmethod
    def _iter_splits(y_encoded, class_sets):
        for class_set in class_sets:
            test_mask = np.isin(y_encoded, class_set)
            yield np.flatnonzero(~test_mask), np.flatnonzero(test_mask)


# ----------------------------------------------------------------------- source
# ------------------------------------------------------------ tau by source CV
@contextlib.contextmanager
def _search_memory(estimator):
    """``estimator`` with a temporary ``memory`` for the duration of a search, unless
    it caches already, has no ``memory`` parameter, or could not share its start
    between fits: without an integer ``random_state`` each fit draws its own seed,
    and parameters joblib cannot hash (a lambda ``augment``) cannot key a cache."""
    params = estimator.get_params(deep=False)
    if (
        "memory" not in params or params["memory"] is not None
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


def _fit_held_out(estimator, X_source, y_source, train, test, tau):
    """Cluster the held-out classes ``test`` with the classes ``train`` as source."""
    estimator.set_params(tau=tau, n_clusters=len(np.unique(y_source[test])))
    start = time.perf_counter()
    # An empty cluster is already in the fit's score, and its advice (lower
    # n_clusters) is not the user's to follow here: the search sets n_clusters.
    # Left on, it would fail the whole search under warnings-as-errors.
    with _empty_clusters_ignored():
        estimator.fit(X_source[test], source=(X_source[train], y_source[train]))
    fit_time = time.perf_counter() - start
    score = cluster_accuracy(y_source[test], estimator.labels_)
    return score, fit_time, time.perf_counter() - start - fit_time


class SupremeClustererCV(ClusterMixin, TransformerMixin, BaseEstimator):
    """SUPREME transfer clustering with ``tau`` chosen by cross-validation on the source.

    The temperature ``tau`` of the pair confidences (Eq. 4) is best at different
    values on different datasets, and target labels are not available to choose
    it. As the paper suggests, it is chosen on the source instead: each split of
    ``cv`` holds out a few whole source classes, and for every candidate ``tau`` a
    clone of ``estimator`` clusters the held-out classes' samples (unlabelled,
    ``n_clusters`` set to the number of held-out classes) with the remaining
    classes as its source. The score of a fit is the
    :func:`~sklearn_supreme.metrics.cluster_accuracy` of its ``labels_`` on the
    held-out classes; the ``tau`` with the best mean score over the splits is
    then refitted on the real target with all the source classes.

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
        receives ``split(X_source, y_source)``; any splitter or iterable of
        ``(train, test)`` index arrays must hold out whole classes (checked).
        None means 5.
    n_jobs : int, default=None
        Number of cross-validation fits run in parallel by :class:`joblib.Parallel`
        (one per ``tau`` and split), through scikit-learn's wrapper, which hands
        the caller's :func:`sklearn.get_config` to the workers. None means 1 unless
        in a :func:`joblib.parallel_config` context; -1 means all processors.
    refit : bool, default=True
        Refit the best ``tau`` on the target ``X``; without it only the
        cross-validation results are kept, and ``labels_``, ``predict``,
        ``predict_proba`` and ``transform`` are not available.
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
        Its mean cross-validated cluster accuracy.
    best_params_ : dict
        ``{"tau": best_tau_}``.
    best_tau_ : float
        The chosen temperature.
    held_out_classes_ : list of ndarray
        The source classes held out in each split.
    n_splits_ : int
        Number of cross-validation splits.
    best_estimator_ : SupremeClusterer
        The estimator refitted on ``X`` with ``best_tau_``; only with
        ``refit=True``.
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
    run, and ``mean_fit_time`` of the first ``tau`` includes them.

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
    ...     SupremeClusterer(n_clusters=5, pretrain_epochs=1, max_epochs=1,
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
        n_jobs=None,
        refit=True,
        verbose=0,
    ):
        self.estimator = estimator
        self.taus = taus
        self.cv = cv
        self.n_jobs = n_jobs
        self.refit = refit
        self.verbose = verbose

    # The nested estimator's parameters are validated in its own fit.
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, source=None, *, X_source=None, y_source=None):
        """Choose ``tau`` on the source classes, then cluster ``X`` with it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or image array
            Target samples, as for :meth:`SupremeClusterer.fit`.
        y : None
            Ignored; present for API consistency.
        source : tuple (X_source, y_source)
            Labelled source samples; required, since ``tau`` is chosen on them.
            Needs enough classes for ``cv`` (with an int ``cv``, at least 4).
        X_source, y_source : array-like, default=None
            The source as two arguments instead of ``source``, for
            :class:`~sklearn.pipeline.Pipeline` routing (see
            :meth:`SupremeClusterer.fit`).

        Returns
        -------
        self : SupremeClustererCV
            The fitted search.
        """
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

    def fit_transform(self, X, y=None, **kwargs):
        """Fit the search and return the factor-space representation of ``X``.

        Parameters
        ----------
        X, y, **kwargs
            As for :meth:`fit`.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_factors)
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

        # The fits of one split differ only in tau, so they share the pretraining and
        # initial K-means through the estimator's memory; a temporary one if it has none.
        # Ordered tau-major, parallel workers start on different splits.
        jobs = [(tau, train, test) for tau in taus for train, test in splits]
        with _search_memory(estimator) as search_estimator:
            results = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
                delayed(_fit_held_out)(clone(search_estimator), X_source, y_source, train, test, tau)
                for tau, train, test in jobs
            )
        # (score, fit time, score time) of each job -> three (n_taus, n_splits) arrays
        scores, fit_times, score_times = np.moveaxis(
            np.array(results).reshape(len(taus), len(splits), 3), -1, 0
        )

        mean = scores.mean(axis=1)
        self.cv_results_ = {
            "params": [{"tau": float(tau)} for tau in taus],  # not np.float64 scalars
            # A masked array, as GridSearchCV's param_* columns are.
            "param_tau": np.ma.MaskedArray(taus, mask=False),
            **{f"split{i}_test_score": scores[:, i] for i in range(len(splits))},
            "mean_test_score": mean,
            "std_test_score": scores.std(axis=1),
            "rank_test_score": rankdata(-mean, method="min").astype(np.int32),
            "mean_fit_time": fit_times.mean(axis=1),
            "std_fit_time": fit_times.std(axis=1),
            "mean_score_time": score_times.mean(axis=1),
            "std_score_time": score_times.std(axis=1),
        }
        # argmax takes the first of equal scores, as GridSearchCV does.
        self.best_index_ = int(np.argmax(mean))
        self.best_score_ = float(mean[self.best_index_])
        self.best_tau_ = float(taus[self.best_index_])
        self.best_params_ = {"tau": self.best_tau_}
        self.held_out_classes_ = [np.unique(y_source[test]) for _, test in splits]
        self.n_splits_ = len(splits)

        if self.refit:
            best = clone(estimator).set_params(tau=self.best_tau_)
            self.best_estimator_ = best.fit(X_given, source=(X_source_given, y_source))
            self.labels_ = best.labels_
            self.n_clusters_ = getattr(best, "n_clusters_", best.get_params()["n_clusters"])
            self.n_features_in_ = best.n_features_in_
            if hasattr(best, "feature_names_in_"):
                self.feature_names_in_ = best.feature_names_in_

    def get_feature_names_out(self, input_features=None):
        """Names of the factor-space features, by the refitted best estimator.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored beyond scikit-learn's consistency check.

        Returns
        -------
        feature_names_out : ndarray of str objects
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
            splits = list(check_cv(cv).split(X_source, y_source))
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

    def transform(self, X):
        """Factor-space representation of ``X``, by the refitted best estimator.

        Parameters
        ----------
        X : array-like of the shape seen in ``fit``

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_factors)
        """
        return self._refitted("transform").transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        if self.estimator is None or isinstance(self.estimator, SupremeClusterer):
            # transform is the refitted SupremeClusterer's: float32 codes.
            tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


# ------------------------------------------------------- number of novel classes
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
        Source labels, any hashable values; at least 3 classes.
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
        Maps an array of samples to feature rows, e.g. the ``transform`` of a
        fitted model or a pretrained network's embedding; it should not have
        been trained on the probe classes' labels. None uses the samples
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
        (n_draws, n_candidates): ``probe_accuracy`` and ``validity`` (of
        ``"accuracy_silhouette"``), ``probe_f1`` and ``target_clusters`` (of
        ``"probe_cut"``); ``score`` (ndarray of shape (n_candidates,): the mean
        of ``probe_accuracy`` and ``validity`` over the draws) and
        ``cut_counts`` (ndarray of shape (n_draws,): the target clusters at each
        draw's probe cut).

    See Also
    --------
    SupremeClusterer : With ``n_clusters="auto"`` it calls this function on the
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
    dtypes = [np.float64, np.float32, np.uint8]
    _check_source_columns(getattr(X_target, "columns", None), X_source)
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
            f"n_probe_classes={n_probe} holds out {n_probe} of the {n_classes} source "
            f"classes, leaving {n_classes - n_probe}; at least 2 must remain. Use "
            f"n_probe_classes <= {n_classes - 2}."
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
        X_target = X_target[np.sort(rng.choice(len(X_target), max_samples, replace=False))]
    X_train, y_train = X_source, y_source
    if len(X_source) > n_source:
        keep = _class_sample(y_source, n_source / len(X_source), rng)
        X_source, y_source = X_source[keep], y_source[keep]
    if criterion == "probe_cut" and n_probe < 2:
        # One probe class only shows at which cut a class comes out whole, not how
        # finely the representation splits classes: on 7 novel digits (3 source
        # classes, 1 probe) it gave 4, 4, 4 (benchmarks page).
        warnings.warn(
            f"criterion='probe_cut' with {n_probe} probe class per draw: the probe cut "
            "says little about how finely classes are split, and the estimate is "
            "unreliable. Use more source classes, n_probe_classes >= 2, or "
            "criterion='accuracy_silhouette'.",
            UserWarning,
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
        Z_target = _features(transformer, X_target)
        Z_source = _features(transformer, X_source)
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
