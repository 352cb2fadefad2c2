"""Properties of the SUPREME loss terms that must hold for every valid input.

Hypothesis draws batches of 1 to 12 samples over 1 to 6 clusters, with assignment rows
that are softmaxes of bounded logits or normalised non-negative arrays (exact zeros and
one-hot rows included), factor codes in [0, 1] (exact 0 and 1 included) and tau in
[0.01, 10]. The hand-computed values live in ``test_objective.py``.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import rel_entr, xlogy

from sklearn_supreme._objective import (
    balance_loss,
    factor_binary_loss,
    literal_clustering_loss,
    pair_confidence,
    pair_probabilities,
    pair_targets,
    self_supervised_loss,
    student_t_assignment,
    supreme_loss,
    transferred_pair_loss,
)

# Float32 rounding of sums of a few probabilities stays far below this.
SLACK = 1e-6
# Sized so that the whole file runs in about 10 s on 2 busy CPU cores.
FAST = settings(max_examples=60, deadline=None)

n_samples = st.integers(1, 12)
n_clusters = st.integers(1, 6)
taus = st.floats(0.01, 10.0)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Tensors of at most 12 x 12: extra threads only add contention (conftest restores the count).
    torch.set_num_threads(1)


@st.composite
def simplex_rows(draw, n, k, max_logit=30.0):
    """An (n, k) float64 array whose rows are probability vectors.

    Either a softmax of bounded logits, or a normalised non-negative array in which
    exact zeros are likely and an all-zero row becomes one-hot.
    """
    if draw(st.booleans()):
        logits = draw(arrays(np.float64, (n, k), elements=st.floats(-max_logit, max_logit)))
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    elements = st.one_of(st.just(0.0), st.floats(0.0, 1.0))
    weights = draw(arrays(np.float64, (n, k), elements=elements))
    for i in np.flatnonzero(weights.sum(axis=1) == 0):
        weights[i, draw(st.integers(0, k - 1))] = 1.0
    return weights / weights.sum(axis=1, keepdims=True)


@st.composite
def batches(draw, min_samples=1):
    """``(p, p_perturbed, p_init)`` of one batch as float64 tensors of the same shape."""
    n, k = draw(st.integers(min_samples, 12)), draw(n_clusters)
    return tuple(torch.from_numpy(draw(simplex_rows(n, k))) for _ in range(3))


def factor_codes(max_rows=12):
    """An (m, n_factors) float64 array in [0, 1] where 0, 0.5 and 1 are frequent."""
    elements = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0))
    shapes = st.tuples(st.integers(1, max_rows), st.integers(1, 8))
    return shapes.flatmap(lambda shape: arrays(np.float64, shape, elements=elements))


def reference_pair_confidence(p_init, tau, include_diagonal):
    """Eq. 4 written out over the (n, n, K) tensor of joint probabilities, in numpy."""
    n, k = p_init.shape
    joint = p_init[:, None, :] * p_init[None, :, :]
    entropy = -xlogy(joint, joint).sum(axis=2)
    h_max = 2.0 * math.log(k) if k > 1 else 1.0
    logits = (h_max - entropy) / (h_max * tau)
    if not include_diagonal:
        logits[np.eye(n, dtype=bool)] = -np.inf
    logits = logits - logits.max()
    weights = np.exp(logits)
    return weights / weights.sum()


@FAST
@given(batches())
def test_pair_probabilities_and_targets_are_probabilities(batch):
    p, p_perturbed, p_init = batch
    for r in (pair_probabilities(p, p_perturbed), pair_targets(p_init)):
        assert r.shape == (p.shape[0], p.shape[0])
        assert r.min() >= -SLACK and r.max() <= 1.0 + SLACK
    assert torch.allclose(pair_targets(p_init), pair_targets(p_init).T)


@FAST
@given(batches(min_samples=2), taus, st.booleans())
def test_pair_confidence_is_a_distribution_over_pairs(batch, tau, include_diagonal):
    p_init = batch[2]
    w = pair_confidence(p_init, tau, include_diagonal=include_diagonal)
    assert torch.isfinite(w).all()
    assert w.min() >= 0.0
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-9)
    # H_ij is symmetric in i and j, so the weight of a pair does not depend on its order.
    assert torch.allclose(w, w.T)
    if include_diagonal:
        # Every pair has logit in (-inf, 1 / tau], so none is squeezed out to exactly 0.
        assert w.diagonal().min() > 0.0
    else:
        assert (w.diagonal() == 0.0).all()
    expected = reference_pair_confidence(p_init.numpy(), tau, include_diagonal)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-5, atol=1e-12)


@FAST
@given(n_clusters.flatmap(lambda k: simplex_rows(1, k)), taus)
def test_pair_confidence_of_a_single_sample(p_init, tau):
    p_init = torch.from_numpy(p_init)
    # With one sample there is no off-diagonal pair: every weight is zero, not NaN,
    # so the transferred-pair term of a batch of one vanishes instead of poisoning the step.
    assert (pair_confidence(p_init, tau) == 0.0).all()
    # With the diagonal, the single pair (0, 0) takes all of the weight.
    assert pair_confidence(p_init, tau, include_diagonal=True).tolist() == [[1.0]]


@FAST
@given(batches())
def test_balance_loss_is_the_divergence_of_sizes_from_uniform(batch):
    p = batch[0]
    k = p.shape[1]
    loss = float(balance_loss(p))
    sizes = p.mean(dim=0).numpy()
    uniform = np.full(k, 1.0 / k)
    assert -SLACK <= loss <= math.log(k) + SLACK
    assert loss == pytest.approx(rel_entr(sizes, uniform).sum(), abs=1e-6)
    # Pinsker: a small loss forces the sizes close to equal, so it is 0 only for equal sizes.
    assert loss >= 0.5 * np.abs(sizes - uniform).sum() ** 2 - SLACK


@FAST
@given(n_clusters.flatmap(lambda k: st.tuples(simplex_rows(1, k), st.integers(1, 12 // k))))
def test_balance_loss_is_zero_for_equal_sizes(row_and_repeats):
    row, repeats = row_and_repeats
    k = row.shape[1]
    # Every cyclic shift of one row, each repeated: every cluster gets the same mass.
    p = np.concatenate([np.roll(row, shift, axis=1) for shift in range(k)] * repeats)
    assert abs(float(balance_loss(torch.from_numpy(p)))) <= 1e-5


@FAST
@given(n_samples, n_clusters.flatmap(lambda k: st.tuples(st.just(k), st.integers(0, k - 1))))
def test_balance_loss_is_log_k_for_a_collapsed_batch(n, k_and_cluster):
    k, cluster = k_and_cluster
    p = torch.zeros(n, k, dtype=torch.float64)
    p[:, cluster] = 1.0
    assert float(balance_loss(p)) == pytest.approx(math.log(k), abs=1e-6)


@FAST
@given(factor_codes())
def test_factor_binary_loss_is_between_zero_and_log_two(factors):
    loss = float(factor_binary_loss(torch.from_numpy(factors)))
    assert -SLACK <= loss <= math.log(2.0) + SLACK
    if np.isin(factors, (0.0, 1.0)).all():
        assert loss <= 1e-5


def every_loss(p, p_perturbed, p_init, factors, tau):
    """Each loss term of the package, and both totals, as floats keyed by name."""
    weights = pair_confidence(p_init, tau)
    losses = {
        "self": self_supervised_loss(p, p_perturbed),
        "pair": transferred_pair_loss(
            pair_probabilities(p, p_perturbed), pair_targets(p_init), weights
        ),
        "literal": literal_clustering_loss(p, p_perturbed, p_init, tau),
        "balance": balance_loss(p),
        "factor": factor_binary_loss(factors),
    }
    for mode in ("separate", "literal"):
        losses[f"total_{mode}"], _ = supreme_loss(
            p, p_perturbed, p_init, factors, tau=tau, pair_weighting=mode
        )
    return {name: float(value) for name, value in losses.items()}


@FAST
@given(batches(), taus, factor_codes(), st.data())
def test_losses_do_not_depend_on_cluster_ids(batch, tau, factors, data):
    perm = list(data.draw(st.permutations(range(batch[0].shape[1]))))
    factors = torch.from_numpy(factors)
    original = every_loss(*batch, factors, tau)
    permuted = every_loss(*(p[:, perm] for p in batch), factors, tau)
    for name, value in original.items():
        assert permuted[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


@FAST
@given(batches(), taus, factor_codes(), st.data())
def test_losses_do_not_depend_on_sample_order(batch, tau, factors, data):
    # Sample i keeps its own perturbation and initial assignment, so the pairs are the same set.
    perm = list(data.draw(st.permutations(range(batch[0].shape[0]))))
    factors = torch.from_numpy(factors)
    original = every_loss(*batch, factors, tau)
    shuffled = every_loss(*(p[perm] for p in batch), factors.flip(0), tau)
    for name, value in original.items():
        assert shuffled[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


@st.composite
def extreme_logits(draw, n, k):
    """Logits in [-80, 80] where the bounds themselves are frequent."""
    elements = st.one_of(st.sampled_from([-80.0, 0.0, 80.0]), st.floats(-80.0, 80.0))
    return torch.from_numpy(draw(arrays(np.float64, (n, k), elements=elements)))


@settings(max_examples=50, deadline=None)
@given(
    st.tuples(n_samples, n_clusters, st.integers(1, 8)).flatmap(
        lambda s: st.tuples(
            extreme_logits(*s[:2]),
            extreme_logits(*s[:2]),
            st.one_of(
                extreme_logits(*s[:2]).map(lambda z: torch.softmax(z, dim=1)),
                simplex_rows(*s[:2]),
            ),
            extreme_logits(s[0], s[2]),
            extreme_logits(s[0], 3),
            st.lists(st.integers(0, 2), min_size=s[0], max_size=s[0]),
        )
    ),
    taus,
    st.sampled_from(["separate", "literal"]),
    st.sampled_from([torch.float32, torch.float64]),
)
def test_finite_inputs_give_finite_loss_and_gradient(inputs, tau, pair_weighting, dtype):
    logits, perturbed_logits, p_init, factor_logits, source_logits, y_source = inputs
    # The network's outputs are leaves here; p~ is a fixed target, as in training.
    leaves = [
        t.to(dtype).requires_grad_()
        for t in (logits, perturbed_logits, factor_logits, source_logits)
    ]
    logits, perturbed_logits, factor_logits, source_logits = leaves
    total, terms = supreme_loss(
        torch.softmax(logits, dim=1),
        torch.softmax(perturbed_logits, dim=1),
        torch.as_tensor(p_init, dtype=dtype),
        torch.sigmoid(factor_logits),
        tau=tau,
        source_logits=source_logits,
        y_source=torch.tensor(y_source),
        pair_weighting=pair_weighting,
    )
    assert torch.isfinite(total)
    for name, value in terms.items():
        assert torch.isfinite(value), name
        # Every term is a cross-entropy or a divergence of probabilities.
        assert value >= -SLACK, name
    total.backward()
    for leaf in leaves:
        assert torch.isfinite(leaf.grad).all()


@FAST
@given(
    st.tuples(n_samples, n_clusters, st.integers(1, 4)).flatmap(
        lambda s: st.tuples(
            arrays(np.float64, (s[0], s[2]), elements=st.floats(-50.0, 50.0)),
            arrays(np.float64, (s[1], s[2]), elements=st.floats(-50.0, 50.0)),
            arrays(np.float64, (1, s[2]), elements=st.floats(-100.0, 100.0)),
        )
    ),
    st.floats(0.1, 10.0),
)
def test_student_t_assignment_is_a_distribution_invariant_to_translation(points, alpha):
    z, centers, shift = (torch.from_numpy(a) for a in points)
    p = student_t_assignment(z, centers, alpha=alpha)
    assert p.shape == (z.shape[0], centers.shape[0])
    assert p.min() >= 0.0
    assert torch.allclose(p.sum(dim=1), torch.ones(z.shape[0], dtype=torch.float64))
    moved = student_t_assignment(z + shift, centers + shift, alpha=alpha)
    assert torch.allclose(moved, p, rtol=1e-6, atol=1e-9)
    # The kernel decreases with distance: a strictly nearer centre never gets less mass.
    dist = torch.cdist(z, centers)
    nearer = dist[:, :, None] < dist[:, None, :] - 1e-6
    assert (p[:, :, None] >= p[:, None, :])[nearer].all()
