"""Initial clustering of the target: features -> (PCA) -> K-means -> Student-t (Eq. 1)."""

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from ._objective import student_t_assignment

__all__ = ["initial_assignment"]


def initial_assignment(features, n_clusters, *, alpha=1.0, pca=True, n_init=20, random_state=None):
    """Soft initial assignment of target samples from their pretrained features.

    Parameters
    ----------
    features : ndarray of shape (n_samples, n_dims)
        Target features from the source-pretrained backbone (or the input itself).
    n_clusters : int
    alpha : float, default=1.0
        Student-t degrees of freedom (Eq. 1).
    pca : bool, default=True
        Project to ``n_clusters`` dimensions with PCA before K-means, as DTC does;
        skipped when the features have no more dimensions than that.
    n_init : int, default=20
        K-means restarts.
    random_state : int, RandomState or None

    Returns
    -------
    p_init : ndarray of shape (n_samples, n_clusters), float32
        Rows sum to one.
    kmeans : KMeans
        The fitted K-means (in the PCA space when ``pca``).
    pca : PCA or None

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_blobs
    >>> X, _ = make_blobs(60, centers=3, random_state=0)
    >>> p, km, _ = initial_assignment(X, 3, random_state=0)
    >>> p.shape, bool(np.allclose(p.sum(axis=1), 1.0))
    ((60, 3), True)
    """
    z = np.asarray(features, dtype=np.float64)
    projector = None
    if pca and z.shape[1] > n_clusters:
        # Arrays whatever the caller's sklearn.set_config(transform_output=...).
        projector = PCA(n_components=n_clusters, random_state=random_state).set_output(
            transform="default"
        )
        z = projector.fit_transform(z)
    kmeans = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=random_state).fit(z)
    p = student_t_assignment(
        torch.as_tensor(z), torch.as_tensor(kmeans.cluster_centers_), alpha=alpha
    )
    return p.numpy().astype(np.float32), kmeans, projector
