"""``SupremeClusterer(pretrain_lr_schedule=...)``: the learning rate of pretraining."""

import math

import numpy as np
import pytest
from skorch.callbacks import Callback

from sklearn_supreme import SupremeClusterer
from sklearn_supreme._training import SourcePretrainNet, SupremeNet

from test_reliability import FailAt


class _LearningRates(Callback):
    """The optimiser's learning rate at every training step, per phase."""

    seen = {}  # a class attribute: the estimator may copy its callbacks

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            phase = "pretrain" if isinstance(net, SourcePretrainNet) else "cluster"
            assert isinstance(net, (SourcePretrainNet, SupremeNet))
            self.seen.setdefault(phase, []).append(net.optimizer_.param_groups[0]["lr"])


@pytest.fixture
def learning_rates():
    _LearningRates.seen = {}
    return _LearningRates


def test_cosine_schedule_by_hand(digits_split, learning_rates):
    Xs, ys, Xt, _ = digits_split
    lr = 2e-3
    SupremeClusterer(
        n_clusters=5, pretrain_epochs=3, max_epochs=2, batch_size=64, lr=lr,
        pretrain_lr_schedule="cosine", callbacks=[learning_rates()], random_state=0,
    ).fit(Xt, source=(Xs, ys))
    steps = len(Xs) // 64  # 300 source samples: 4 full batches an epoch, the rest dropped
    total = 3 * steps
    expected = [lr * (1 + math.cos(math.pi * t / total)) / 2 for t in range(total)]
    assert learning_rates.seen["pretrain"] == pytest.approx(expected)
    assert expected[0] == lr and expected[-1] < 0.02 * lr
    # the clustering phase runs at the constant rate
    assert set(learning_rates.seen["cluster"]) == {lr}


def test_constant_schedule_keeps_lr(digits_split, learning_rates):
    Xs, ys, Xt, _ = digits_split
    SupremeClusterer(
        n_clusters=5, pretrain_epochs=2, max_epochs=1, batch_size=64, lr=5e-4,
        callbacks=[learning_rates()], random_state=0,
    ).fit(Xt, source=(Xs, ys))
    assert set(learning_rates.seen["pretrain"]) == {5e-4}


def test_cosine_schedule_resumes_where_it_stopped(digits_split, tmp_path):
    Xs, ys, Xt, _ = digits_split
    params = dict(n_clusters=5, pretrain_epochs=3, max_epochs=2, batch_size=64,
                  pretrain_lr_schedule="cosine", random_state=0)
    uninterrupted = SupremeClusterer(**params).fit(Xt, source=(Xs, ys))
    failing = SupremeClusterer(**params, checkpoint_dir=tmp_path,
                               callbacks=[FailAt("source", 2)])
    with pytest.raises(RuntimeError, match="injected failure"):
        failing.fit(Xt, source=(Xs, ys))
    resumed = SupremeClusterer(**params, checkpoint_dir=tmp_path).fit(Xt, source=(Xs, ys))
    # A schedule that restarted on resume would train epochs 2-3 at other rates.
    np.testing.assert_allclose(
        resumed.pretrain_history_["loss"], uninterrupted.pretrain_history_["loss"], rtol=1e-5
    )
    np.testing.assert_array_equal(resumed.labels_, uninterrupted.labels_)


def test_cosine_changes_pretraining_and_is_a_start_parameter(digits_split, fast_params,
                                                             tmp_path, pretrained_on):
    Xs, ys, Xt, _ = digits_split
    fits = [
        SupremeClusterer(**fast_params, pretrain_lr_schedule=schedule, memory=str(tmp_path))
        .fit(Xt, source=(Xs, ys))
        for schedule in ["constant", "cosine"]
    ]
    # both pretrained: the schedule is part of the cached start's key
    assert pretrained_on == [len(Xs), len(Xs)]
    assert fits[0].pretrain_history_["loss"][1] != fits[1].pretrain_history_["loss"][1]
    with pytest.raises(ValueError, match="pretrain_lr_schedule"):
        SupremeClusterer(pretrain_lr_schedule="step").fit(Xt, source=(Xs, ys))
