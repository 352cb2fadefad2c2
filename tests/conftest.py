import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sklearn_supreme import SupremeClusterer


@pytest.fixture(autouse=True)
def _fixed_torch_threads():
    # Results on the CPU are bit-identical only for a fixed number of threads.
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def digits_split():
    """Digits 0-4 as source, a subset of 5-9 as target (small enough for quick fits)."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.RandomState(0)
    source = np.flatnonzero(y < 5)
    target = np.flatnonzero(y >= 5)
    source = rng.choice(source, 300, replace=False)
    target = rng.choice(target, 250, replace=False)
    return X[source], y[source], X[target], y[target]


@pytest.fixture
def fast_params():
    """Settings for fits that take about a second on 2 CPU cores."""
    return dict(n_clusters=5, pretrain_epochs=2, max_epochs=3, batch_size=64, random_state=0)


@pytest.fixture
def pretrained_on(monkeypatch):
    """The number of source samples of every source pretraining that runs."""
    sizes = []
    pretrain = SupremeClusterer._pretrain

    def counting(self, network, Xs_dev, *args, **kwargs):
        sizes.append(len(Xs_dev))
        return pretrain(self, network, Xs_dev, *args, **kwargs)

    monkeypatch.setattr(SupremeClusterer, "_pretrain", counting)
    return sizes
