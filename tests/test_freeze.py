"""``SupremeClusterer(freeze=...)``: parameters held fixed in the clustering phase."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_supreme import SupremeClusterer
from sklearn_supreme._networks import CifarResNet18, InputAdapter, SupremeNetwork
from sklearn_supreme._training import SupremeNet, frozen, match_frozen


class _StartOfClustering(Callback):
    """Copies of the network's parameters when the clustering phase begins, and
    whether each got a gradient in its first step."""

    params = {}  # class attributes: the estimator may copy its callbacks
    got_grad = {}

    def on_train_begin(self, net, **kwargs):
        if isinstance(net, SupremeNet):
            type(self).params = {n: p.detach().clone() for n, p in net.module_.named_parameters()}
            type(self).got_grad = {}

    def on_grad_computed(self, net, named_parameters, **kwargs):
        if isinstance(net, SupremeNet) and not type(self).got_grad:
            type(self).got_grad = {n: p.grad is not None for n, p in named_parameters}


def _changed(before, module):
    return {n for n, p in module.named_parameters() if not torch.equal(before[n], p.detach())}


def test_frozen_parameters_stay_fixed_and_the_rest_trains(digits_split, fast_params):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(
        **fast_params, freeze="backbone.*", callbacks=[_StartOfClustering()]
    ).fit(Xt, source=(Xs, ys))
    network = model.net_.module_
    backbone = {n for n, _ in network.named_parameters() if n.startswith("backbone.")}
    assert backbone  # the MLP's linear and batch-norm parameters
    changed = _changed(_StartOfClustering.params, network)
    assert changed.isdisjoint(backbone)
    assert {"factor.weight", "target_head.weight", "source_head.weight"} <= changed
    # no gradient was even computed for the frozen ones
    assert {n for n, g in _StartOfClustering.got_grad.items() if g} == (
        set(_StartOfClustering.got_grad) - backbone
    )
    # the fitted network is left trainable, as it was given
    assert all(p.requires_grad for p in network.parameters())


def test_without_freeze_the_backbone_trains(digits_split, fast_params):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**fast_params, callbacks=[_StartOfClustering()]).fit(
        Xt, source=(Xs, ys)
    )
    assert "backbone.layers.0.weight" in _changed(_StartOfClustering.params, model.net_.module_)


def test_warm_start_keeps_frozen_parameters_fixed(digits_split, fast_params):
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**fast_params).fit(Xt, source=(Xs, ys))
    before = {n: p.detach().clone() for n, p in model.net_.module_.named_parameters()}
    model.set_params(warm_start=True, freeze=["backbone.layers.0.*"], max_epochs=2)
    model.fit(Xt, source=(Xs, ys))
    changed = _changed(before, model.net_.module_)
    assert not any(n.startswith("backbone.layers.0.") for n in changed)
    assert "backbone.layers.1.weight" in changed  # the batch norm after it still trains


def test_freeze_is_checked_before_pretraining(digits_split, fast_params, pretrained_on):
    Xs, ys, Xt, _ = digits_split
    # the message names the parts of the network that do have parameters
    match = r"'backbone\.stem\.\*' matches no parameter.*in 'backbone\.layers', 'factor',"
    with pytest.raises(ValueError, match=match):
        SupremeClusterer(**fast_params, freeze=["backbone.stem.*"]).fit(Xt, source=(Xs, ys))
    with pytest.raises(ValueError, match="matches every parameter"):
        SupremeClusterer(**fast_params, freeze="*").fit(Xt, source=(Xs, ys))
    # The target head starts the clustering at random: frozen, the clusters were random
    # (the source head still trained, so "every parameter" did not catch it).
    with pytest.raises(ValueError, match=r"matches the target head \(target_head.weight, "
                                         r"target_head.bias\).*Leave target_head out"):
        SupremeClusterer(**fast_params, freeze=["backbone.*", "target_head.*"]).fit(
            Xt, source=(Xs, ys)
        )

    with pytest.raises(TypeError, match="must be strings"):
        SupremeClusterer(**fast_params, freeze=["backbone.*", 3]).fit(Xt, source=(Xs, ys))
    with pytest.raises(ValueError, match="'freeze' parameter"):
        SupremeClusterer(**fast_params, freeze=3).fit(Xt, source=(Xs, ys))
    assert pretrained_on == []


def test_freezing_every_bias_is_allowed(digits_split, fast_params):
    # The target head's bias among them: its weights still learn the clusters.
    Xs, ys, Xt, _ = digits_split
    model = SupremeClusterer(**fast_params, freeze="*.bias").fit(Xt, source=(Xs, ys))
    assert model.n_iter_ == fast_params["max_epochs"]


def test_documented_resnet18_patterns_leave_the_last_stage():
    # The docstring's example: stem and blocks 0-5 frozen, blocks 6-7 (the last of the
    # four stages, 512 channels) and the heads trained.
    backbone = CifarResNet18()
    network = SupremeNetwork(
        InputAdapter(np.zeros(3), np.ones(3), "uint8_nhwc"), backbone, 512, 8,
        n_source_classes=5, n_clusters=5,
    )
    names = [n for n, _ in network.named_parameters()]
    matched = match_frozen(network, ["backbone.stem.*", "backbone.blocks.[0-5].*"])
    trained = [n for n in names if n not in matched]
    assert {n.split(".")[2] for n in trained if n.startswith("backbone.")} == {"6", "7"}
    assert backbone.blocks[6].conv1.out_channels == 512
    assert any(n.startswith("backbone.stem.") for n in matched)


def test_frozen_restores_every_flag_even_on_error():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    net[1].bias.requires_grad_(False)  # the caller's own choice survives
    with pytest.raises(RuntimeError, match="boom"):
        with frozen(net, match_frozen(net, "0.*")):
            assert [p.requires_grad for p in net.parameters()] == [False, False, True, False]
            raise RuntimeError("boom")
    assert [p.requires_grad for p in net.parameters()] == [True, True, True, False]
