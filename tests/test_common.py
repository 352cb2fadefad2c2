"""scikit-learn's common estimator checks over every public estimator."""

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator
from sklearn.datasets import make_blobs
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklearn_supreme
from sklearn_supreme import (
    ImagePerturbation,
    SupremeClusterer,
    SupremeClustererCV,
    VectorPerturbation,
)

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


def _public_estimators(fit=True):
    """Every estimator class of the package that is public: listed in the ``__all__``
    of a public module, or defined in one under a public name (listed or not). With
    ``fit=False``, the public BaseEstimator classes without ``fit`` instead."""
    modules = [sklearn_supreme] + [
        importlib.import_module(f"sklearn_supreme.{info.name}")
        for info in pkgutil.iter_modules(sklearn_supreme.__path__)
        if not info.name.startswith("_")
    ]
    return {
        obj
        for module in modules
        for name, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, BaseEstimator) and hasattr(obj, "fit") == fit
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
    assert _public_estimators(fit=False) == {type(obj) for obj in PARAMETER_OBJECTS}


# Not estimators (no fit): objects whose parameters a search sets through the
# estimator that holds them (augment__translate), as scikit-learn's kernels are. The
# checks of parameters apply to them: __init__ stores, get_params, set_params, clone.
PARAMETER_OBJECTS = [ImagePerturbation(), VectorPerturbation()]
PARAMETER_CHECKS = [
    "check_no_attributes_set_in_init", "check_get_params_invariance", "check_set_params",
    "check_parameters_default_constructible", "check_estimator_repr",
    "check_estimator_cloneable",
]


@pytest.mark.parametrize("check_name", PARAMETER_CHECKS)
@pytest.mark.parametrize("obj", PARAMETER_OBJECTS, ids=lambda obj: type(obj).__name__)
def test_perturbations_pass_the_checks_of_parameters(obj, check_name):
    check = getattr(estimator_checks, check_name, None)
    if check is None:  # a check of a later scikit-learn than this one
        pytest.skip(f"scikit-learn {sklearn.__version__} has no {check_name}")
    check(type(obj).__name__, obj)
