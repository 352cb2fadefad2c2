"""Checkpoints, resuming, warm start and interruption: a fit is never left half-done."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from sklearn_supreme import SupremeClusterer
from sklearn_supreme._checkpoint import CHECKPOINT_NAME, load_checkpoint

PARAMS = dict(n_clusters=5, pretrain_epochs=3, max_epochs=4, batch_size=64, random_state=0)


class FailAt(Callback):
    """Raises ``error`` at the end of epoch ``epoch`` of ``phase`` (fault injection)."""

    def __init__(self, phase, epoch, error=RuntimeError):
        self.phase = phase
        self.epoch = epoch
        self.error = error

    def on_epoch_end(self, net, **kwargs):
        if net.phase.lower().startswith(self.phase) and len(net.history) == self.epoch:
            raise self.error(f"injected failure at {self.phase} epoch {self.epoch}")


@pytest.fixture(scope="module")
def uninterrupted(digits_split):
    Xs, ys, Xt, _ = digits_split
    return SupremeClusterer(**PARAMS).fit(Xt, source=(Xs, ys))


def _states_equal(a, b):
    sa, sb = a.net_.module_.state_dict(), b.net_.module_.state_dict()
    return all(torch.allclose(sa[k].float(), sb[k].float(), atol=1e-6) for k in sa)


@pytest.mark.parametrize("phase, epoch", [("clustering", 2), ("source", 2)])
def test_resume_after_failure_matches_uninterrupted_fit(digits_split, uninterrupted, tmp_path, phase, epoch):
    Xs, ys, Xt, _ = digits_split
    failing = SupremeClusterer(**PARAMS, checkpoint_dir=tmp_path, callbacks=[FailAt(phase, epoch)])
    with pytest.raises(RuntimeError, match="injected failure"):
        failing.fit(Xt, source=(Xs, ys))
    with pytest.raises(NotFittedError):
        check_is_fitted(failing)
    state = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    # the checkpoint callback runs after the user's: the failing epoch was not saved
    assert state["epoch"] == epoch - 1 and state["phase"] == ("cluster" if phase == "clustering" else "pretrain")

    resumed = SupremeClusterer(**PARAMS, checkpoint_dir=tmp_path).fit(Xt, source=(Xs, ys))
    # same seed on the CPU: the resumed run continues exactly where the first stopped
    np.testing.assert_array_equal(resumed.labels_, uninterrupted.labels_)
    np.testing.assert_allclose(resumed.history_["loss"], uninterrupted.history_["loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed.pretrain_history_["loss"], uninterrupted.pretrain_history_["loss"], rtol=1e-5)
    assert _states_equal(resumed, uninterrupted)


def test_checkpoint_of_other_fit_is_refused(digits_split, tmp_path):
    Xs, ys, Xt, _ = digits_split
    SupremeClusterer(**PARAMS, checkpoint_dir=tmp_path).fit(Xt, source=(Xs, ys))
    with pytest.raises(ValueError, match="checkpoint of a different fit"):
        SupremeClusterer(**{**PARAMS, "tau": 0.1}, checkpoint_dir=tmp_path).fit(Xt, source=(Xs, ys))


def test_ctrl_c_leaves_previous_state_and_valid_checkpoint(digits_split, uninterrupted, tmp_path):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(
        **PARAMS, checkpoint_dir=tmp_path, callbacks=[FailAt("clustering", 3, KeyboardInterrupt)]
    )
    # skorch alone would swallow Ctrl-C and return a half-trained net as fitted
    with pytest.raises(KeyboardInterrupt):
        model.fit(Xt, source=(Xs, ys))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["epoch"] == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_warm_start_continues_training(digits_split):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**{**PARAMS, "max_epochs": 2}).fit(Xt, source=(Xs, ys))
    first_losses = list(model.history_["loss"])
    initial = model.initial_proba_.copy()
    before = {k: v.clone() for k, v in model.net_.module_.state_dict().items()}
    model.set_params(warm_start=True, max_epochs=3)
    model.fit(Xt, source=(Xs, ys))
    assert model.n_iter_ == 5
    assert model.history_["loss"][:2] == first_losses
    np.testing.assert_array_equal(model.initial_proba_, initial)
    after = model.net_.module_.state_dict()
    assert not torch.equal(before["target_head.weight"], after["target_head.weight"])
    np.testing.assert_array_equal(model.predict(Xt), model.labels_)


def test_warm_start_needs_same_data_and_network(digits_split):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**{**PARAMS, "max_epochs": 1}).fit(Xt, source=(Xs, ys))
    labels, state = model.labels_.copy(), dict(vars(model))
    model.set_params(warm_start=True)
    other_target = Xt[::-1]  # same length and shape: only the data tells them apart
    for data in [(Xt[:100], (Xs, ys)), (other_target, (Xs, ys)), (Xt, (Xs[:-1], ys[:-1])),
                 (Xt, (Xs, (ys + 1) % 5)), (Xt[:, :32], (Xs[:, :32], ys))]:
        with pytest.raises(ValueError, match="same data"):
            model.fit(data[0], source=data[1])
    # what shapes the fitted network or its initial clusters cannot change
    for change, named in [(dict(n_factors=4), "n_factors=4 \\(was 64\\)"),
                          (dict(n_clusters=3), "n_clusters=3 \\(was 5\\)"),
                          (dict(standardize=False), "standardize=False"),
                          (dict(backbone_params={"hidden_layer_sizes": (8,)}), "backbone_params")]:
        with pytest.raises(ValueError, match=f"warm_start=True continues .* changes {named}"):
            model.set_params(**change).fit(Xt, source=(Xs, ys))
        model.set_params(**{name: state[name] for name in change})
    assert vars(model).keys() == state.keys()
    np.testing.assert_array_equal(model.labels_, labels)
    # the clustering phase's parameters can change, and "auto" keeps the fitted clusters
    model.set_params(tau=0.5, balance_weight=1.0, n_clusters="auto").fit(Xt, source=(Xs, ys))
    assert model.n_clusters_ == 5 and model.n_iter_ == 2


def test_warm_start_failure_keeps_previous_model(digits_split):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**{**PARAMS, "max_epochs": 1}).fit(Xt, source=(Xs, ys))
    before = {k: v.clone() for k, v in model.net_.module_.state_dict().items()}
    model.set_params(warm_start=True, max_epochs=3, callbacks=[FailAt("clustering", 2)])
    with pytest.raises(RuntimeError, match="injected"):
        model.fit(Xt, source=(Xs, ys))
    # the failed continuation trained a copy: the fitted network is untouched
    after = model.net_.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.n_iter_ == 1


def test_out_of_memory_names_batch_size(digits_split):
    Xs, ys, Xt, _ = digits_split
    # stands in for a CUDA allocation failure during the clustering phase
    model = SupremeClusterer(**PARAMS, callbacks=[FailAt("clustering", 1, torch.OutOfMemoryError)])
    with pytest.raises(MemoryError, match="lower batch_size"):
        model.fit(Xt, source=(Xs, ys))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
