"""scikit-learn's common estimator checks over every public estimator."""

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import make_blobs
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklearn_supreme
from sklearn_supreme import SupremeClusterer, SupremeClustererCV

# Small networks and few epochs: the checks fit dozens of times on tiny data.
FAST = dict(pretrain_epochs=1, max_epochs=15, batch_size=64, random_state=0)


def _source_like(X):
    """A labelled source of 4 standardised blob classes shaped like the samples of ``X``.

    The common checks call ``fit(X)`` alone, and :class:`SupremeClustererCV` cannot
    run without labelled source classes: it chooses ``tau`` on them. Where ``X`` has
    no usable sample shape (1-D, empty, sparse), a 2-feature source lets the search's
    own validation of ``X`` raise the error the check expects.
    """
    try:
        shape = np.asarray(X).shape[1:]
    except Exception:  # whatever the check's X is, its error belongs to fit
        shape = ()
    if not shape or 0 in shape:
        shape = (2,)
    Xs, ys = make_blobs(n_samples=120, n_features=int(np.prod(shape)), centers=4, random_state=0)
    # On the scale of check_clustering's standardised blobs, so that the source's
    # regulariser does not pull the target's clusters apart.
    Xs = (Xs - Xs.mean(axis=0)) / Xs.std(axis=0)
    return Xs.reshape((len(Xs), *shape)), ys


class SupremeClustererCVWithSource(SupremeClustererCV):
    """:class:`SupremeClustererCV` that makes up a source when ``fit`` gets none.

    What the checks cannot reach through it: ``fit(X)`` without a source (refused by
    design) and the metadata routing of ``source`` (this ``fit``'s ``**kwargs``
    request nothing); tests/test_pipeline.py routes the source to the real class.
    """

    def fit(self, X, y=None, **kwargs):
        if not {"source", "X_source"} & kwargs.keys():
            kwargs["source"] = _source_like(X)
        return super().fit(X, y, **kwargs)


CHECKED = [
    SupremeClusterer(**FAST),
    # batch_size 16: with a source to fit as well, one step per epoch on the checks'
    # 55 samples leaves a cluster empty after 15 epochs; 4 steps per epoch do not.
    SupremeClustererCVWithSource(
        SupremeClusterer(n_clusters=3, **{**FAST, "batch_size": 16}), taus=(0.5, 1.0), cv=1
    ),
]

EXPECTED_FAILED_CHECKS = {}


_CHECKS = parametrize_with_checks(
    CHECKED,
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
)
# scikit-learn before 1.8 (1.7.2 is the newest for Python 3.10) hands pytest a
# generator, which pytest 9 deprecates (an error under this project's filters) and
# pytest 10 refuses: the same parameters, as a list.
_NAMES, _VALUES = _CHECKS.args


@pytest.mark.parametrize(_NAMES, list(_VALUES), **_CHECKS.kwargs)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _public_estimators():
    """Every estimator class of the package that is public: listed in the ``__all__``
    of a public module, or defined in one under a public name (listed or not)."""
    modules = [sklearn_supreme] + [
        importlib.import_module(f"sklearn_supreme.{info.name}")
        for info in pkgutil.iter_modules(sklearn_supreme.__path__)
        if not info.name.startswith("_")
    ]
    return {
        obj
        for module in modules
        for name, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, BaseEstimator)
        and obj.__module__.startswith("sklearn_supreme")
        and (
            name in getattr(module, "__all__", ())
            or (obj.__module__ == module.__name__ and not name.startswith("_"))
        )
    }


def test_every_public_estimator_is_checked():
    checked = {cls for est in CHECKED for cls in type(est).__mro__}
    public = _public_estimators()
    assert {SupremeClusterer, SupremeClustererCV} <= public  # the discovery works
    assert public <= checked, f"not under the common checks: {public - checked}"
