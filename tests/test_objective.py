"""Each loss term of the SUPREME objective against values computed by hand."""

import math

import numpy as np
import pytest
import torch

from sklearn_supreme._objective import (
    balance_loss,
    factor_binary_loss,
    literal_clustering_loss,
    pair_confidence,
    pair_probabilities,
    pair_targets,
    self_supervised_loss,
    source_cross_entropy,
    student_t_assignment,
    supreme_loss,
    transferred_pair_loss,
)

P_INIT = torch.tensor([[0.8, 0.2], [0.5, 0.5], [0.1, 0.9]], dtype=torch.float64)


def test_student_t_assignment_by_hand():
    z = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    centers = torch.tensor([[1.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    # alpha=1: kernel (1 + d^2)^-1 -> 1/2 and 1/10, normalised -> 5/6 and 1/6
    assert torch.allclose(student_t_assignment(z, centers), torch.tensor([[5 / 6, 1 / 6]], dtype=torch.float64))
    # alpha=2: (1 + d^2/2)^-1.5 -> 1.5^-1.5 and 5.5^-1.5
    a, b = 1.5**-1.5, 5.5**-1.5
    expected = torch.tensor([[a / (a + b), b / (a + b)]], dtype=torch.float64)
    assert torch.allclose(student_t_assignment(z, centers, alpha=2.0), expected)


def test_student_t_assignment_far_points_do_not_underflow():
    z = torch.tensor([[1e6, 0.0]])
    p = student_t_assignment(z, torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    assert torch.isfinite(p).all() and torch.allclose(p.sum(), torch.tensor(1.0))


def test_pair_targets_by_hand():
    r = pair_targets(P_INIT)
    assert r[0, 1].item() == pytest.approx(0.8 * 0.5 + 0.2 * 0.5)
    assert r[0, 2].item() == pytest.approx(0.8 * 0.1 + 0.2 * 0.9)
    assert r[2, 2].item() == pytest.approx(0.01 + 0.81)
    assert torch.allclose(r, r.T)


def test_pair_probabilities_pairs_sample_with_perturbed_copy():
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    g = torch.tensor([[0.7, 0.3], [0.4, 0.6]])
    r = pair_probabilities(p, g)
    # r_ij = p_i . g(p_j): row i is sample i, column j the perturbed copy of sample j
    assert torch.allclose(r, torch.tensor([[0.7, 0.4], [0.3, 0.6]]))


def _joint_entropy(pi, pj):
    q = pi * pj
    return -sum(v * math.log(v) for v in q.tolist())


def test_pair_confidence_by_hand():
    tau = 0.5
    w = pair_confidence(P_INIT, tau)
    h_max = math.log(4)
    logits = {}
    for i in range(3):
        for j in range(3):
            if i != j:
                logits[i, j] = (h_max - _joint_entropy(P_INIT[i], P_INIT[j])) / (h_max * tau)
    z = sum(math.exp(v) for v in logits.values())
    for (i, j), v in logits.items():
        assert w[i, j].item() == pytest.approx(math.exp(v) / z)
    assert torch.all(torch.diagonal(w) == 0)
    assert w.sum().item() == pytest.approx(1.0)


def test_pair_confidence_with_diagonal_normalises_all_pairs():
    w = pair_confidence(P_INIT, 1.0, include_diagonal=True)
    assert torch.all(torch.diagonal(w) > 0)
    assert w.sum().item() == pytest.approx(1.0)


def test_pair_confidence_favours_confident_pairs():
    confident = torch.tensor([[0.99, 0.01], [0.99, 0.01], [0.5, 0.5]], dtype=torch.float64)
    w = pair_confidence(confident, 0.1)
    # the pair of two near-one-hot samples outweighs any pair with the ambiguous one
    assert w[0, 1] > w[0, 2] and w[0, 1] > w[1, 2]


def test_pair_confidence_temperature_concentrates():
    sharp = pair_confidence(P_INIT, 0.05)
    flat = pair_confidence(P_INIT, 100.0)
    off = ~torch.eye(3, dtype=torch.bool)
    assert sharp[off].max() > flat[off].max()
    assert torch.allclose(flat[off], torch.full((6,), 1 / 6, dtype=torch.float64), atol=1e-2)


def test_transferred_pair_loss_by_hand():
    r = torch.tensor([[0.5, 0.25], [0.2, 0.9]])
    r_init = torch.tensor([[1.0, 0.6], [0.3, 1.0]])
    w = torch.tensor([[0.0, 0.7], [0.3, 0.0]])
    expected = -(0.7 * 0.6 * math.log(0.25) + 0.3 * 0.3 * math.log(0.2))
    assert transferred_pair_loss(r, r_init, w).item() == pytest.approx(expected, rel=1e-6)


def test_self_supervised_loss_by_hand():
    p = torch.tensor([[0.9, 0.1], [0.3, 0.7]])
    g = torch.tensor([[0.6, 0.4], [0.5, 0.5]])
    expected = -(math.log(0.9 * 0.6 + 0.1 * 0.4) + math.log(0.3 * 0.5 + 0.7 * 0.5)) / 2
    assert self_supervised_loss(p, g).item() == pytest.approx(expected, rel=1e-6)


def test_literal_loss_is_eq5_with_unit_diagonal_targets():
    p = torch.tensor([[0.9, 0.1], [0.3, 0.7]], dtype=torch.float64)
    g = torch.tensor([[0.6, 0.4], [0.5, 0.5]], dtype=torch.float64)
    w = pair_confidence(P_INIT[:2], 0.5, include_diagonal=True)
    r = p @ g.T
    r_init = P_INIT[:2] @ P_INIT[:2].T
    expected = 0.0
    for i in range(2):
        for j in range(2):
            target = 1.0 if i == j else r_init[i, j].item()
            expected -= w[i, j].item() * target * math.log(r[i, j].item())
    assert literal_clustering_loss(p, g, P_INIT[:2], 0.5).item() == pytest.approx(expected)


def test_balance_loss_by_hand():
    p = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    sizes = [0.5, 0.25, 0.25]
    expected = math.log(3) + sum(s * math.log(s) for s in sizes)
    assert balance_loss(p).item() == pytest.approx(expected, rel=1e-6)
    assert balance_loss(torch.full((4, 3), 1 / 3)).item() == pytest.approx(0.0, abs=1e-6)


def test_factor_binary_loss_by_hand():
    a = torch.tensor([[0.25, 0.5], [1.0, 0.0]])
    h = lambda x: -(x * math.log(x) + (1 - x) * math.log(1 - x))  # noqa: E731
    expected = (h(0.25) + h(0.5) + 0.0 + 0.0) / 4
    assert factor_binary_loss(a).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_factor_binary_loss_of_low_precision_codes_is_finite(dtype):
    # In bf16 or fp16, 1 - EPS rounds to 1: a code of exactly 1 would give 0 * log(0).
    # The values are exact in both dtypes, so the float32 result is the reference.
    a = torch.tensor([[1.0, 0.0, 0.5, 0.25]])
    loss = factor_binary_loss(a.to(dtype))
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(factor_binary_loss(a).item(), rel=1e-6)


def test_factor_and_source_terms_keep_float64_for_gradcheck():
    codes = torch.tensor([[0.2, 0.7], [0.4, 0.9]], dtype=torch.float64, requires_grad=True)
    logits = torch.tensor([[0.3, -1.0, 2.0], [1.5, 0.0, -0.5]], dtype=torch.float64,
                          requires_grad=True)
    assert torch.autograd.gradcheck(factor_binary_loss, (codes,))
    y = torch.tensor([2, 0])
    assert torch.autograd.gradcheck(lambda z: source_cross_entropy(z, y), (logits,))


def test_initial_assignments_are_fixed_targets():
    # p~ enters Eq. 2 and Eq. 4 as data: no gradient may flow into it, whoever calls.
    p_init = P_INIT.clone().requires_grad_(True)
    assert not pair_targets(p_init).requires_grad
    assert not pair_confidence(p_init, tau=0.5).requires_grad
    logits = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    p = torch.softmax(logits, dim=1)
    for weighting in ("separate", "literal"):
        total, _ = supreme_loss(
            p, p, p_init, torch.full((3, 4), 0.5, dtype=torch.float64), tau=0.5,
            pair_weighting=weighting,
        )
        total.backward(retain_graph=True)
        assert p_init.grad is None and logits.grad is not None


def test_source_cross_entropy_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    y = torch.tensor([0, 1])
    lse = [math.log(math.exp(2) + 2), math.log(2 + math.e)]
    expected = ((lse[0] - 2.0) + (lse[1] - 0.0)) / 2
    assert source_cross_entropy(logits, y).item() == pytest.approx(expected, rel=1e-6)


def test_supreme_loss_is_weighted_sum_of_terms():
    torch.manual_seed(0)
    p = torch.softmax(torch.randn(6, 3), 1)
    g = torch.softmax(torch.randn(6, 3), 1)
    p0 = torch.softmax(torch.randn(6, 3), 1)
    a = torch.rand(12, 4)
    logits, ys = torch.randn(6, 2), torch.tensor([0, 1, 0, 1, 1, 0])
    weights = dict(self_weight=0.3, pair_weight=2.0, balance_weight=0.7, factor_weight=0.1, source_weight=1.5)
    total, terms = supreme_loss(p, g, p0, a, tau=0.5, source_logits=logits, y_source=ys, **weights)
    expected = sum(weights[f"{name}_weight"] * terms[name] for name in terms)
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert terms["pair"].item() == pytest.approx(
        transferred_pair_loss(p @ g.T, p0 @ p0.T, pair_confidence(p0, 0.5)).item(), rel=1e-6
    )
    # each term is its own equation's function of the right inputs (the weighted sum
    # above would hold whatever they computed)
    assert terms["self"].item() == pytest.approx(self_supervised_loss(p, g).item(), rel=1e-6)
    assert terms["balance"].item() == pytest.approx(balance_loss(p).item(), rel=1e-6)
    assert terms["factor"].item() == pytest.approx(factor_binary_loss(a).item(), rel=1e-6)
    assert terms["source"].item() == pytest.approx(source_cross_entropy(logits, ys).item(), rel=1e-6)


def test_supreme_loss_literal_uses_only_the_joint_pair_term():
    torch.manual_seed(1)
    p, g, p0 = (torch.softmax(torch.randn(5, 3), 1) for _ in range(3))
    a = torch.rand(10, 4)
    total, terms = supreme_loss(
        p, g, p0, a, tau=0.5, pair_weighting="literal", balance_weight=0.0, factor_weight=0.0
    )
    assert total.item() == pytest.approx(literal_clustering_loss(p, g, p0, 0.5).item(), rel=1e-6)
    # the self term is still reported (it is part of the literal pair term, not added again)
    assert terms["self"].item() == pytest.approx(self_supervised_loss(p, g).item(), rel=1e-6)
    # pair_weight scales the joint term; self_weight has nothing left to weight
    scaled, _ = supreme_loss(
        p, g, p0, a, tau=0.5, pair_weighting="literal", pair_weight=2.5, self_weight=7.0,
        balance_weight=0.0, factor_weight=0.0,
    )
    assert scaled.item() == pytest.approx(2.5 * total.item(), rel=1e-6)


def test_supreme_loss_default_weights_are_one():
    torch.manual_seed(2)
    p, g, p0 = (torch.softmax(torch.randn(4, 3), 1) for _ in range(3))
    a = torch.rand(8, 2)
    logits, ys = torch.randn(4, 2), torch.tensor([0, 1, 1, 0])
    total, terms = supreme_loss(p, g, p0, a, tau=0.5, source_logits=logits, y_source=ys)
    # every documented weight defaults to 1: the total is the plain sum of the terms
    assert total.item() == pytest.approx(sum(value.item() for value in terms.values()), rel=1e-6)


def test_supreme_loss_reports_detached_terms():
    logits = torch.randn(4, 3, requires_grad=True)
    p = torch.softmax(logits, 1)
    total, terms = supreme_loss(p, p, p.detach(), torch.sigmoid(logits), tau=0.5,
                                source_logits=logits, y_source=torch.tensor([0, 1, 2, 0]))
    # the total carries the graph; the reported terms are values only (for logging)
    assert total.requires_grad
    assert not any(value.requires_grad for value in terms.values())


def test_source_cross_entropy_scores_low_precision_logits_in_float32():
    # bf16 logits, as a head under autocast produces, are scored in float32: the values
    # below are exact in bf16, so only the arithmetic precision could change the result
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.bfloat16)
    y = torch.tensor([0, 1])
    lse = [math.log(math.exp(2) + 2), math.log(2 + math.e)]
    expected = ((lse[0] - 2.0) + (lse[1] - 0.0)) / 2
    loss = source_cross_entropy(logits, y)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_supreme_loss_rejects_unknown_weighting():
    p = torch.full((2, 2), 0.5)
    with pytest.raises(ValueError, match="pair_weighting"):
        supreme_loss(p, p, p, p, tau=1.0, pair_weighting="both")


def test_supreme_loss_without_source_reports_zero_source_term():
    p = torch.full((3, 2), 0.5)
    total, terms = supreme_loss(p, p, p, torch.rand(3, 4), tau=1.0)
    assert terms["source"].item() == 0.0


@pytest.mark.parametrize("term", ["self", "pair"])
def test_gradients_do_not_vanish_for_confident_disagreement(term):
    # A sample and its copy (or two samples that belong together) in different
    # clusters with a logit gap of 40: r ~ 1e-17, far below EPS. -log r still pulls
    # them together, with a gradient of about 1/2 per logit, as for a gap of 4.
    def gradient(gap):
        logits = torch.tensor([[gap / 2, -gap / 2]], requires_grad=True)
        p = torch.softmax(logits, 1)
        g = torch.softmax(logits.detach().flip(1), 1)  # the copy sure of the other cluster
        if term == "self":
            loss = self_supervised_loss(p, g)
        else:
            ones = torch.ones(1, 1)
            loss = transferred_pair_loss(pair_probabilities(p, g), ones, ones)
        loss.backward()
        return logits.grad.abs().max().item(), loss.item()

    near, _ = gradient(4.0)
    far, loss = gradient(40.0)
    # r = 2 e^-40 / (1 + e^-40)^2: -log r = 40 - log 2, not capped at -log EPS ~ 16.1
    assert loss == pytest.approx(40.0 - math.log(2.0), abs=1e-4)
    assert far == pytest.approx(near, rel=0.05) and far > 0.4


def test_gradients_are_finite_for_one_hot_assignments():
    logits = torch.tensor([[50.0, -50.0], [-50.0, 50.0], [50.0, -50.0]], requires_grad=True)
    p = torch.softmax(logits, 1)
    g = torch.softmax(-logits, 1)  # the worst disagreement possible
    total, _ = supreme_loss(p, g, P_INIT.float(), torch.rand(3, 2), tau=0.1)
    total.backward()
    assert np.isfinite(total.item()) and torch.isfinite(logits.grad).all()
