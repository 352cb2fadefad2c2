"""The SUPREME objective as pure torch functions, one per equation of the paper.

Huang & Gong, "Unsupervised Transfer Learning with Self-Supervised Remedy", section 3.
Every function takes probabilities (rows summing to one) or codes and returns a tensor;
none of them holds state, so each is tested alone against values computed by hand.

Notation: ``p_init`` is the initial soft assignment p~ of Eq. 1 (fixed during training),
``p`` the current assignment of the target head and ``p_perturbed`` the assignment of a
random perturbation g(x) of the same samples.
"""

import math

import torch
import torch.nn.functional as F

__all__ = [
    "student_t_assignment",
    "pair_targets",
    "pair_probabilities",
    "pair_confidence",
    "transferred_pair_loss",
    "self_supervised_loss",
    "literal_clustering_loss",
    "balance_loss",
    "factor_binary_loss",
    "source_cross_entropy",
    "supreme_loss",
]

# Probabilities are clamped away from 0 before a log: log(0) would give inf/NaN gradients.
EPS = 1e-7


def _log_agreement(r):
    """``log r`` of pair probabilities, finite for ``r = 0``, with its gradient kept
    for every ``r`` the dtype holds as a normal number.

    Clamped at the dtype's smallest normal number (about 1e-38 in float32), not at
    :data:`EPS`: a clamp passes no gradient, and ``r < 1e-7`` is reached by a sample
    and its copy assigned to different clusters with a logit gap of only about 16,
    exactly the disagreement the loss is there to correct.
    """
    return torch.log(r.clamp_min(torch.finfo(r.dtype).tiny))


def _at_least_float32(t):
    """``t`` in float32, or in its own dtype if wider (float64 stays float64).

    In bf16 or fp16, ``1 - EPS`` rounds to 1 and a clamp no longer keeps a log finite.
    """
    return t.to(torch.promote_types(t.dtype, torch.float32))


def student_t_assignment(z, centers, alpha=1.0):
    """Initial soft assignment of samples to cluster centres (Eq. 1).

    ``p~_ik`` is proportional to ``(1 + ||z_i - c_k||^2 / alpha) ** (-(alpha + 1) / 2)``.
    The paper states ``alpha = 0``, which divides by zero; DTC, which it follows,
    uses ``alpha = 1``.

    Parameters
    ----------
    z : torch.Tensor of shape (n_samples, n_dims)
        Pretrained features of the target samples.
    centers : torch.Tensor of shape (n_clusters, n_dims)
        K-means centres.
    alpha : float, default=1.0
        Degrees of freedom of the Student-t kernel, > 0.

    Returns
    -------
    torch.Tensor of shape (n_samples, n_clusters)
        Rows sum to one.

    Examples
    --------
    >>> import torch
    >>> z = torch.tensor([[0.0], [2.0]])
    >>> student_t_assignment(z, torch.tensor([[0.0], [2.0]]))
    tensor([[0.8333, 0.1667],
            [0.1667, 0.8333]])
    """
    # Computed directly: cdist's default for more than 25 rows, |z|^2 - 2 z.c + |c|^2,
    # cancels catastrophically for features far from the origin (init_pca=False).
    sq_dist = torch.cdist(z, centers, compute_mode="donot_use_mm_for_euclid_dist").pow(2)
    # Working in log space keeps large distances from underflowing to all-zero rows.
    log_kernel = -(alpha + 1.0) / 2.0 * torch.log1p(sq_dist / alpha)
    return torch.softmax(log_kernel, dim=1)


def pair_targets(p_init):
    """Soft pairwise constraints from the initial assignment (Eq. 2).

    ``r~_ij = p~_i . p~_j``: close to one when both samples sit near the same centre.

    Parameters
    ----------
    p_init : torch.Tensor of shape (n, n_clusters)

    Returns
    -------
    torch.Tensor of shape (n, n)

    Examples
    --------
    >>> import torch
    >>> pair_targets(torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    tensor([[1.0000, 0.5000],
            [0.5000, 0.5000]])
    """
    p_init = p_init.detach()  # a fixed target: no gradient flows into it
    return p_init @ p_init.T


def pair_probabilities(p, p_perturbed):
    """Current probability that two samples share a cluster (Eq. 3 with the remedy).

    ``r_ij = p_i . g(p_j)``: sample i against the perturbed copy of sample j, so the
    diagonal ``r_ii`` is the agreement of a sample with its own perturbation.

    Parameters
    ----------
    p, p_perturbed : torch.Tensor of shape (n, n_clusters)

    Returns
    -------
    torch.Tensor of shape (n, n)

    Examples
    --------
    >>> import torch
    >>> pair_probabilities(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.25, 0.75]]))
    tensor([[0.2500]])
    """
    return p @ p_perturbed.T


def pair_confidence(p_init, tau, *, include_diagonal=False):
    """Normalised confidence of each soft constraint from the joint entropy (Eq. 4).

    ``H_ij = -sum_k p~_ik p~_jk log(p~_ik p~_jk)``, ``H_max = log(K^2)`` and
    ``w = softmax((H_max - H) / (H_max * tau))`` over the pairs of the batch.

    Parameters
    ----------
    p_init : torch.Tensor of shape (n, n_clusters)
        Initial assignments of the batch.
    tau : float
        Temperature, > 0: small values concentrate the weight on the most
        confident pairs, large values spread it evenly.
    include_diagonal : bool, default=False
        Whether the pairs (i, i) take part in the normalisation. The package's
        default objective normalises over the off-diagonal pairs only and treats
        the diagonal as its own self-supervised term.

    Returns
    -------
    torch.Tensor of shape (n, n)
        Non-negative weights summing to one (zero on the diagonal unless
        ``include_diagonal``).

    Examples
    --------
    >>> import torch
    >>> w = pair_confidence(torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]), tau=1.0)
    >>> round(float(w.sum()), 6)
    1.0
    """
    p_init = p_init.detach()  # a fixed target: no gradient flows into it
    n, n_clusters = p_init.shape
    if n == 1 and not include_diagonal:
        return torch.zeros_like(p_init[:, :1])  # no pair at all: nothing to weight
    log_p = torch.log(p_init.clamp_min(EPS))
    plogp = p_init * log_p
    # log(p_ik p_jk) = log p_ik + log p_jk, so H is two matrix products instead of an
    # (n, n, K) tensor.
    joint_entropy = -(plogp @ p_init.T + p_init @ plogp.T)
    h_max = 2.0 * math.log(n_clusters) if n_clusters > 1 else 1.0
    logits = (h_max - joint_entropy) / (h_max * tau)
    if not include_diagonal:
        logits = logits.masked_fill(torch.eye(n, dtype=torch.bool, device=p_init.device), -torch.inf)
    return torch.softmax(logits.reshape(-1), dim=0).reshape(n, n)


def transferred_pair_loss(r, r_init, weights):
    """Confidence-weighted soft-constraint loss over pairs (Eq. 5).

    ``L = -sum_ij w_ij r~_ij log r_ij``.

    Parameters
    ----------
    r : torch.Tensor of shape (n, n)
        Current pair probabilities (:func:`pair_probabilities`).
    r_init : torch.Tensor of shape (n, n)
        Pair targets (:func:`pair_targets`).
    weights : torch.Tensor of shape (n, n)
        Normalised confidences (:func:`pair_confidence`).

    Returns
    -------
    torch.Tensor
        Scalar.

    Examples
    --------
    >>> import torch
    >>> r = torch.tensor([[0.5]])
    >>> float(transferred_pair_loss(r, torch.ones(1, 1), torch.ones(1, 1)))  # -log(0.5)
    0.6931...
    """
    return -(weights * r_init * _log_agreement(r)).sum()


def self_supervised_loss(p, p_perturbed):
    """Self-supervised remedy: each sample agrees with its own perturbation (Sec. 3.1).

    The diagonal of Eq. 5 with ``r~_ii = w_ii = 1``, taken as its own mean:
    ``L = -(1/n) sum_i log(p_i . g(p_i))``.

    Parameters
    ----------
    p, p_perturbed : torch.Tensor of shape (n, n_clusters)

    Returns
    -------
    torch.Tensor
        Scalar.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> abs(float(self_supervised_loss(p, p)))
    0.0
    """
    agreement = (p * p_perturbed).sum(dim=1)
    return -_log_agreement(agreement).mean()


def literal_clustering_loss(p, p_perturbed, p_init, tau):
    """Eq. 5 read literally: diagonal and off-diagonal pairs in one normalisation.

    The diagonal uses ``r~_ii = 1`` and every pair, the diagonal included, takes its
    weight from one softmax over all ``n^2`` confidences. The self-supervised part then
    carries only about ``1/n`` of the weight; kept as the ablation the docs show.

    Parameters
    ----------
    p, p_perturbed, p_init : torch.Tensor of shape (n, n_clusters)
    tau : float

    Returns
    -------
    torch.Tensor
        Scalar.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> abs(float(literal_clustering_loss(p, p, p, tau=1.0)))
    0.0
    """
    r = pair_probabilities(p, p_perturbed)
    eye = torch.eye(p.shape[0], dtype=torch.bool, device=p.device)
    r_init = torch.where(eye, 1.0, pair_targets(p_init))
    weights = pair_confidence(p_init, tau, include_diagonal=True)
    return transferred_pair_loss(r, r_init, weights)


def balance_loss(p):
    """Balance regulariser on the cluster sizes of a batch (Eq. 6).

    ``L = log K + sum_k s_k log s_k`` with ``s = mean_i p_i``: zero for equal sizes,
    ``log K`` when everything falls in one cluster.

    Parameters
    ----------
    p : torch.Tensor of shape (n, n_clusters)

    Returns
    -------
    torch.Tensor
        Scalar, >= 0.

    Examples
    --------
    >>> import torch
    >>> float(balance_loss(torch.tensor([[1.0, 0.0], [0.0, 1.0]])))
    0.0
    >>> round(float(balance_loss(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))), 4)  # log 2
    0.6931
    """
    sizes = p.mean(dim=0)
    return math.log(p.shape[1]) + (sizes * torch.log(sizes.clamp_min(EPS))).sum()


def factor_binary_loss(factors):
    """Binary regulariser on the factor-space codes ``x^a = sigmoid(f_omega(x^v))`` (Eq. 7).

    The mean binary entropy of the codes: zero when every code is 0 or 1, ``log 2`` at 0.5.

    Parameters
    ----------
    factors : torch.Tensor of shape (n, n_factors)
        Values in [0, 1], of any floating dtype.

    Returns
    -------
    torch.Tensor
        Scalar, in float32 (float64 for float64 codes): in bf16 the clamp below 1
        would round to 1 and the loss to NaN.

    Examples
    --------
    >>> import torch
    >>> round(float(factor_binary_loss(torch.tensor([[0.5, 1.0]]))), 4)  # (log 2 + 0) / 2
    0.3466
    """
    a = _at_least_float32(factors).clamp(EPS, 1.0 - EPS)
    return -(a * torch.log(a) + (1.0 - a) * torch.log1p(-a)).mean()


def source_cross_entropy(source_logits, y_source):
    """Cross-entropy of the source head on labelled source samples (Eq. 8).

    Parameters
    ----------
    source_logits : torch.Tensor of shape (n, n_source_classes)
    y_source : torch.Tensor of shape (n,)
        Integer class indices.

    Returns
    -------
    torch.Tensor
        Scalar.

    Examples
    --------
    >>> import torch
    >>> round(float(source_cross_entropy(torch.zeros(1, 4), torch.tensor([2]))), 4)  # log 4
    1.3863
    """
    return F.cross_entropy(_at_least_float32(source_logits), y_source)


def supreme_loss(
    p,
    p_perturbed,
    p_init,
    factors,
    *,
    tau,
    source_logits=None,
    y_source=None,
    self_weight=1.0,
    pair_weight=1.0,
    balance_weight=1.0,
    factor_weight=1.0,
    source_weight=1.0,
    pair_weighting="separate",
):
    """The whole SUPREME objective of one step, with every term reported.

    With ``pair_weighting="separate"`` (the default),
    ``L = self_weight * L_self + pair_weight * L_pair + balance_weight * L_balance
    + factor_weight * L_factor + source_weight * L_source``, where ``L_self`` is
    :func:`self_supervised_loss` and ``L_pair`` is Eq. 5 over the off-diagonal pairs.
    With ``"literal"``, the two pair terms are replaced by
    :func:`literal_clustering_loss` (times ``pair_weight``).

    Parameters
    ----------
    p, p_perturbed, p_init : torch.Tensor of shape (n, n_clusters)
        Current, perturbed and initial assignments of the target batch.
    factors : torch.Tensor of shape (m, n_factors)
        Factor codes of the samples of the step: in training, the target batch,
        its perturbed copies and the source batch (``m = 2n + n_source``), so that
        Eq. 7 binarises the codes of every sample the step sends through the
        factor layer.
    tau : float
        Temperature of Eq. 4.
    source_logits, y_source : torch.Tensor or None
        Source head outputs and labels; the source term is dropped when None.
    self_weight, pair_weight, balance_weight, factor_weight, source_weight : float
        Weights of the terms.
    pair_weighting : {"separate", "literal"}
        How the self-supervised diagonal is weighted against transferred pairs.

    Returns
    -------
    total : torch.Tensor
        Scalar to minimise.
    terms : dict of str to torch.Tensor
        The unweighted value of each term (detached), keyed ``"self"``, ``"pair"``,
        ``"balance"``, ``"factor"``, ``"source"``.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    >>> total, terms = supreme_loss(p, p, p, torch.full((2, 3), 0.5), tau=0.5)
    >>> sorted(terms)
    ['balance', 'factor', 'pair', 'self', 'source']
    """
    terms = {}
    if pair_weighting == "separate":
        terms["self"] = self_supervised_loss(p, p_perturbed)
        r = pair_probabilities(p, p_perturbed)
        terms["pair"] = transferred_pair_loss(r, pair_targets(p_init), pair_confidence(p_init, tau))
        total = self_weight * terms["self"] + pair_weight * terms["pair"]
    elif pair_weighting == "literal":
        terms["self"] = self_supervised_loss(p, p_perturbed)  # reported, not added twice
        terms["pair"] = literal_clustering_loss(p, p_perturbed, p_init, tau)
        total = pair_weight * terms["pair"]
    else:
        raise ValueError(f"pair_weighting must be 'separate' or 'literal', got {pair_weighting!r}")
    terms["balance"] = balance_loss(p)
    terms["factor"] = factor_binary_loss(factors)
    total = total + balance_weight * terms["balance"] + factor_weight * terms["factor"]
    if source_logits is not None:
        terms["source"] = source_cross_entropy(source_logits, y_source)
        total = total + source_weight * terms["source"]
    else:
        terms["source"] = torch.zeros((), device=p.device)
    return total, {name: value.detach() for name, value in terms.items()}
