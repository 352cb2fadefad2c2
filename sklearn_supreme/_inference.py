"""Forward passes of a trained network over whole arrays, batch by batch: the target
logits and factor codes behind ``predict``, ``predict_proba`` and ``transform``, the
features of the initial K-means, and the batch-norm statistics re-estimated on the
target (AdaBN) at the end of a fit."""

import warnings

import numpy as np
import torch
from torch.optim.swa_utils import update_bn

from ._input import _as_float32
from ._training import autocast


def _as_tensor(array):
    """``torch.as_tensor``, without torch's warning for a read-only array.

    Memory-mapped arrays, which joblib hands to parallel workers (``n_jobs`` of a
    search), are read-only; torch warns that writing to a tensor sharing their memory
    is undefined. The package never writes to its inputs, and a copy would double
    their memory, so the warning says nothing here.
    """
    flags = getattr(array, "flags", None)
    if flags is None or flags.writeable:
        # catch_warnings is not thread-safe (before Python 3.14): only where needed.
        return torch.as_tensor(array)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
        return torch.as_tensor(array)


@torch.no_grad()
def _forward_batches(network, X, batch_size, device, precision, output="logits"):
    """Target logits or factor codes of ``X`` (array or device tensor), batch by batch,
    computed in the resolved ``precision`` (``"float32"`` or ``"bfloat16"``). A float
    array of another dtype or layout is cast to C-contiguous float32 batch by batch
    (:func:`~._input._as_float32`).

    Only the requested output is kept, written into one preallocated array, so memory
    is the input plus that output whatever the number of rows.
    """
    network.eval()
    width = network.target_head.out_features if output == "logits" else network.factor.out_features
    out = np.empty((len(X), width), dtype=np.float32)
    # Inference batches can be larger than training ones: no gradients are kept.
    step = max(batch_size, 1024)
    for start in range(0, len(X), step):
        xb = X[start:start + step]
        if isinstance(xb, np.ndarray) and xb.dtype != np.uint8:
            # Cast (and made contiguous, as torch needs) here, a batch at a time: a
            # float32 copy of a whole float64 input would add half its size to the
            # memory of predict. No copy of a float32 C-contiguous batch.
            xb = _as_float32(xb, "X")
        xb = _as_tensor(xb).to(device, non_blocking=True)
        with autocast(device, precision):
            logits, factors = network(xb)
        out[start:start + step] = (logits if output == "logits" else factors).float().cpu().numpy()
    return out


def _adapted_target_logits(network, X, batch_size, device, precision):
    """Target logits of the trained ``network`` on ``X`` (a tensor on ``device``), in the
    resolved ``precision``, after its batch-norm statistics are re-estimated on ``X``
    alone (AdaBN, in float32).

    Training leaves running statistics that mix the source, target and perturbed
    batches; re-estimated on the target, predictions match what the target head was
    trained on. ``network`` keeps the re-estimated statistics.
    """
    update_bn(_even_batches(X, batch_size), network, device)
    return _forward_batches(network, X, batch_size, str(device), precision)


def _batches(X, batch_size):
    return (X[start:start + batch_size] for start in range(0, len(X), batch_size))


def _even_batches(X, batch_size):
    """``X`` in the fewest batches of at most ``batch_size`` samples, their sizes as
    equal as can be, and never a batch of one (one more sample than ``batch_size`` if
    that is the only way).

    For :func:`torch.optim.swa_utils.update_bn`, which averages the statistics of
    its batches with equal weights: slicing by ``batch_size`` would leave a remainder
    that counts as much as a full batch, and a remainder of one sample is an error
    in batch norm's training mode (a target of 65 samples with ``batch_size=64``).
    """
    n_batches = max(1, min(-(-len(X) // batch_size), len(X) // 2))
    return torch.tensor_split(X, n_batches)


@torch.no_grad()
def _embed(network, X, batch_size, use_backbone):
    """Features for the initial K-means: the backbone's, or the standardised input."""
    network.eval()
    out = []
    for xb in _batches(X, max(batch_size, 1024)):
        x = network.adapter(xb)
        out.append((network.features(x) if use_backbone else x.flatten(1)).float().cpu().numpy())
    return np.concatenate(out)
