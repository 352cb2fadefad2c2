"""Fits leave the caller's process as they found it: random generators, temporary files.

scikit-learn estimators seed their own randomness and never the caller's global
generators; temporary caches and folders are removed.
"""

import os
import tempfile

import numpy as np
import pytest
import torch

from sklearn_supreme import SupremeClusterer
from sklearn_supreme.model_selection import (
    NovelClassSplit, SupremeClustererCV, estimate_n_clusters,
)

SMALL = dict(pretrain_epochs=1, max_epochs=1, batch_size=64)


def _fit(Xs, ys, Xt):
    SupremeClusterer(n_clusters=5, random_state=0, **SMALL).fit(Xt, source=(Xs, ys))


def _fit_auto(Xs, ys, Xt):
    SupremeClusterer(n_clusters="auto", random_state=0, **SMALL).fit(Xt, source=(Xs, ys))


def _fit_cv(Xs, ys, Xt):
    SupremeClustererCV(
        SupremeClusterer(n_clusters=5, random_state=0, **SMALL), taus=(0.5, 1.0),
        cv=NovelClassSplit(2, random_state=0),
    ).fit(Xt, source=(Xs, ys))


def _estimate_with_estimator(Xs, ys, Xt):
    estimate_n_clusters(
        Xt, Xs, ys, candidates=range(2, 6), n_draws=2,
        estimator=SupremeClusterer(**SMALL), random_state=0,
    )


WORK = [_fit, _fit_auto, _fit_cv, _estimate_with_estimator]
IDS = ["fit", "fit n_clusters=auto", "SupremeClustererCV", "estimate_n_clusters(estimator=)"]


@pytest.fixture
def private_tempdir(tmp_path, monkeypatch):
    """``tempfile``'s folder, empty, for this test alone."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize("work", WORK, ids=IDS)
def test_the_callers_generators_and_temporary_folder_are_left_alone(
    work, digits_split, private_tempdir, monkeypatch
):
    Xs, ys, Xt, _ = digits_split
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    # What seeds a generator the fit does not use (every GPU's, MPS's) is recorded:
    # those generators are the caller's.
    seeded = []
    for module, name in [(torch.cuda, "manual_seed_all"), (torch.cuda, "manual_seed"),
                         (torch.mps, "manual_seed")]:
        monkeypatch.setattr(module, name, lambda seed, _name=name: seeded.append(_name))
    work(Xs, ys, Xt)
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]
    assert seeded == []
    # torch makes its compiler's cache folder there the first time any step runs, also
    # in plain torch (Adam's first step); it is torch's, kept for the whole process.
    left = [name for name in os.listdir(private_tempdir) if not name.startswith("torchinductor_")]
    assert left == []
