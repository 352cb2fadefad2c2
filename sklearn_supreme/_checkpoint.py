"""Checkpoints of the whole training state, written atomically by a skorch callback.

A checkpoint holds what is needed to continue a fit exactly where it stopped: the
phase, the epochs done, the network and optimiser states, the skorch history, torch's
random number generator states, the state of the user's callbacks where it is plain
values (:func:`callback_states`) and the phase-specific extras (initial assignments).
Each fit writes its own file, named by its fingerprint (a hash of its parameters and
data), so the fits of a search can share one directory.
"""

import json
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History

from ._atomic import atomic_write

__all__ = [
    "TrainingCheckpoint", "save_checkpoint", "load_checkpoint", "restore", "checkpoint_file",
]


def checkpoint_file(directory, fingerprint):
    """The file in ``directory`` that holds the checkpoint of the fit ``fingerprint``."""
    return Path(directory) / f"supreme_checkpoint_{fingerprint}.pt"


def save_checkpoint(path, state):
    """Write ``state`` with :func:`torch.save`, atomically.

    The file is written next to its destination and moved over it with
    :func:`os.replace`, so an interruption leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb", fsync=True) as f:
        torch.save(state, f)


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint` (tensors loaded to the CPU)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def cuda_index(device):
    """The index of the CUDA device ``device`` is (its current one for ``"cuda"``),
    or None for any other device."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.cuda.current_device() if device.index is None else device.index


def rng_state(device):
    """torch's CPU generator state, and that of ``device`` if it is a CUDA device.

    Only the fit's own device: the generators of other GPUs belong to the caller.
    """
    state = {"cpu": torch.get_rng_state()}
    index = cuda_index(device)
    if index is not None:
        state["cuda"] = torch.cuda.get_rng_state(index)
    return state


def set_rng_state(state, device):
    """Put back what :func:`rng_state` recorded, on ``device``'s generators."""
    torch.set_rng_state(state["cpu"])
    index = cuda_index(device)
    cuda = state.get("cuda")
    if isinstance(cuda, (list, tuple)):
        # Written by an earlier version, which recorded every GPU's state.
        cuda = cuda[index] if index is not None and index < len(cuda) else None
    if index is not None and cuda is not None:
        torch.cuda.set_rng_state(cuda, index)


def restore(net, state):
    """Put a skorch net back in the state a checkpoint recorded, ready for ``partial_fit``.

    The callbacks' states are put back when training begins (skorch callbacks reset
    their state in ``on_train_begin``), by the net's :class:`TrainingCheckpoint`.
    """
    net.initialize()
    net.module_.load_state_dict(state["module"])
    net.optimizer_.load_state_dict(state["optimizer"])
    net.history_ = History(state["history"])
    set_rng_state(state["rng"], net.device)
    for _, callback in net.callbacks_:
        if isinstance(callback, TrainingCheckpoint):
            callback.pending_states_ = state.get("callbacks", {})


#: Types of the callback attributes a checkpoint holds: what torch's weights-only
#: loader reads back. A state dict (EarlyStopping's best weights) is a dict of tensors.
_PLAIN = (type(None), bool, int, float, str, torch.Tensor)


def _plain(value):
    """``value`` as a weights-only loadable value (numpy scalars as Python ones), or
    raise TypeError."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return type(value)((k, _plain(v)) for k, v in value.items())
    if not isinstance(value, _PLAIN):
        raise TypeError(type(value).__name__)
    return value


def callback_states(net):
    """The state of the net's callbacks other than skorch's defaults: per callback, its
    fitted attributes (names ending in ``_``, as skorch's callbacks name the state they
    reset in ``on_train_begin``), such as :class:`~skorch.callbacks.EarlyStopping`'s
    count of epochs without improvement.

    All or nothing per callback: one whose state holds other values (an
    ``LRScheduler``'s torch scheduler) is left out whole, since half its state put
    back would be inconsistent; it starts afresh on resuming, as it did before.
    """
    defaults = {name for name, _ in net.get_default_callbacks()}
    states = {}
    for name, callback in net.callbacks_:
        if name in defaults or isinstance(callback, TrainingCheckpoint):
            continue
        attributes = {
            key: value for key, value in vars(callback).items()
            if key.endswith("_") and not key.startswith("_")
        }
        try:
            states[name] = {key: _plain(value) for key, value in attributes.items()}
        except TypeError:
            continue
    return states


class TrainingCheckpoint(Callback):
    """skorch callback that saves the training state every ``every`` epochs.

    Parameters
    ----------
    path : str or Path
        File to write.
    phase : str
        ``"pretrain"`` or ``"cluster"``.
    every : int
        Epoch interval; the end of a phase is always saved.
    extra : dict
        Phase-specific state saved with every checkpoint (tensors, lists, numbers).
    """

    def __init__(self, path, phase, every=1, extra=None):
        self.path = path
        self.phase = phase
        self.every = every
        self.extra = extra

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        # Last in the net's callbacks: the others have reset their state already, and
        # a resumed phase (restore) gets back the state its checkpoint recorded.
        pending, self.pending_states_ = getattr(self, "pending_states_", {}), {}
        for name, callback in net.callbacks_:
            callback.__dict__.update(pending.get(name, {}))

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) % self.every == 0:
            save_checkpoint(self.path, self.state(net))

    def on_train_end(self, net, **kwargs):
        # The phase is over, also when a callback (skorch's EarlyStopping) ended it
        # before its last epoch: a resume trains no more of it.
        save_checkpoint(self.path, {**self.state(net), "ended": True})

    def state(self, net):
        return {
            "phase": self.phase,
            "epoch": len(net.history),
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            # numpy scalars in skorch's history would not pass torch's weights-only loader
            "history": json.loads(json.dumps(net.history.to_list(), default=float)),
            "rng": rng_state(net.device),
            "callbacks": callback_states(net),
            **(self.extra or {}),
        }
