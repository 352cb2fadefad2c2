"""The class-disjoint cross-validator: whole source classes held out as novel ones."""

import itertools
import math
import numbers

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state, indexable

from ..metrics import _check_labels

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

    # It returns a generator, made after the checks so that they fail on the call;
    # its docstring has scikit-learn's Yields section, which numpydoc reads as missing
    # Returns for a function that is not itself a generator.
    def split(self, X, y=None, groups=None):  # numpydoc ignore=RT01
        """Generate indices to split data into training and test set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; only its number of samples is used.

        y : array-like of shape (n_samples,) or (n_samples, 1)
            Class labels, scalars of one sortable type (strings, integers...).
            Required, despite the default, which only keeps the scikit-learn
            signature.

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
            Class labels, scalars of one sortable type (strings, integers...).

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
