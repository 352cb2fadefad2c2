"""The initial clustering of the target (features -> PCA -> K-means -> Eq. 1), by hand."""

import numpy as np
from sklearn.datasets import make_blobs

from sklearn_supreme._initial import initial_assignment
from sklearn_supreme.metrics import cluster_accuracy


def _student_t_by_hand(z, centers, alpha):
    """Eq. 1 in numpy: rows of (1 + ||z_i - c_k||^2 / alpha) ** (-(alpha + 1) / 2), normalised."""
    sq_dist = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    kernel = (1.0 + sq_dist / alpha) ** (-(alpha + 1.0) / 2.0)
    return kernel / kernel.sum(axis=1, keepdims=True)


def test_initial_assignment_by_hand():
    # two tight blobs 5 apart along the first of 5 dimensions
    rng = np.random.RandomState(0)
    X = rng.normal(0.0, 0.3, size=(40, 5))
    X[20:, 0] += 5.0
    p, kmeans, pca = initial_assignment(X, 2, alpha=3.0, n_init=3, random_state=0)
    assert p.shape == (40, 2) and p.dtype == np.float32
    assert kmeans.n_init == 3 and kmeans.random_state == 0
    # 5 dimensions > 2 clusters: PCA to 2 dimensions, and K-means runs in that space
    assert pca is not None and pca.n_components_ == 2
    assert kmeans.cluster_centers_.shape == (2, 2)
    z = pca.transform(X)
    np.testing.assert_allclose(p, _student_t_by_hand(z, kmeans.cluster_centers_, 3.0), rtol=1e-5)
    # each blob is one cluster
    assert len(set(p[:20].argmax(1))) == len(set(p[20:].argmax(1))) == 1
    assert p[0].argmax() != p[20].argmax()

    # pca=False clusters the features themselves; alpha defaults to 1
    p, kmeans, pca = initial_assignment(X, 2, pca=False, random_state=0)
    assert pca is None and kmeans.cluster_centers_.shape == (2, 5)
    np.testing.assert_allclose(p, _student_t_by_hand(X, kmeans.cluster_centers_, 1.0), rtol=1e-5)

    # no more dimensions than clusters: PCA is skipped even when asked for
    p, kmeans, pca = initial_assignment(X[:, :2], 2, random_state=0)
    assert pca is None and kmeans.cluster_centers_.shape == (2, 2)
    expected = _student_t_by_hand(X[:, :2], kmeans.cluster_centers_, 1.0)
    np.testing.assert_allclose(p, expected, rtol=1e-5)


def test_initial_assignment_far_from_the_origin():
    # Features far from the origin (1e8) with a spread of 0.05: read in float64, and
    # their distances to the centres computed directly. cdist's matrix-product formula
    # (its default above 25 rows) cancels there, and merged the blobs (ACC 0.43).
    X, y = make_blobs(n_samples=60, centers=[[0, 0], [0, 1], [1, 0]], cluster_std=0.05,
                      random_state=0)
    p, _, _ = initial_assignment(X + 1e8, 3, random_state=0)
    assert cluster_accuracy(y, p.argmax(axis=1)) == 1.0
