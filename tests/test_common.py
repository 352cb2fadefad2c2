"""scikit-learn's common estimator checks over every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_supreme import SupremeClusterer

# Small networks and few epochs: the checks fit dozens of times on tiny data.
FAST = dict(pretrain_epochs=1, max_epochs=15, batch_size=64, random_state=0)

EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    [SupremeClusterer(**FAST)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
