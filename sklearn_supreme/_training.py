"""skorch nets that train a :class:`~sklearn_supreme._networks.SupremeNetwork`.

Two :class:`skorch.NeuralNet` subclasses override ``train_step_single`` (as
skorch's customisation guide recommends): :class:`SourcePretrainNet` for the
supervised source phase and :class:`SupremeNet` for the clustering phase. Their
shared base also replaces skorch's epoch loop, only to move its per-batch
``loss.item()`` (a host sync per step on a GPU) to the end of the epoch. Both read
mini-batches from tensors that already live on the training device through
:class:`DeviceBatchIterator`, so no batch crosses from the host during training.
"""

import contextlib
import math
import signal
import threading
from fnmatch import fnmatch

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback

from ._objective import source_cross_entropy, supreme_loss

__all__ = [
    "DeviceBatchIterator", "SourcePretrainNet", "SupremeNet", "TrainingInterrupted", "LOSS_TERMS",
    "CosineAnnealing", "frozen", "match_frozen",
]

LOSS_TERMS = ("self", "pair", "balance", "factor", "source")

#: The dtype autocast computes in for each resolved ``precision``; None: no autocast.
#: ``benchmarks/profile_step.py``'s ``eager_fp16`` variant patches it to time fp16.
AUTOCAST_DTYPES = {"float32": None, "bfloat16": torch.bfloat16}


def resolve_precision(precision, device):
    """The precision, ``"float32"`` or ``"bfloat16"``, that ``precision`` means on ``device``.

    ``"auto"`` is bf16 on CUDA devices that compute it natively (compute capability
    8.0 and newer: Ampere, Hopper...) and float32 elsewhere: older GPUs and most CPUs
    emulate bf16 (a T4 or a V100 has no bf16 tensor cores). ``"float32"`` and
    ``"bfloat16"`` are taken as they are, on any device.

    Examples
    --------
    >>> resolve_precision("auto", "cpu"), resolve_precision("bfloat16", "cpu")
    ('float32', 'bfloat16')
    """
    if precision != "auto":
        return precision
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8:
        return "bfloat16"
    return "float32"


def autocast(device, precision):
    """Autocast on ``device`` to the dtype of the resolved ``precision``
    (:data:`AUTOCAST_DTYPES`); a context that does nothing for ``"float32"``.

    Examples
    --------
    >>> isinstance(autocast("cpu", "float32"), torch.autocast)
    False
    >>> autocast("cpu", "bfloat16").fast_dtype
    torch.bfloat16
    """
    dtype = AUTOCAST_DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


class TrainingInterrupted(Exception):
    """Ctrl-C during training, carried past skorch (which would swallow it)."""


@contextlib.contextmanager
def interrupts_recorded():
    """Record the SIGINTs (Ctrl-C) received in the block; yields their list.

    skorch callbacks end training by raising ``KeyboardInterrupt``
    (:class:`skorch.callbacks.EarlyStopping` does), the exception Ctrl-C raises too;
    only the signal tells them apart. The handler in place is wrapped, not
    replaced: it still raises ``KeyboardInterrupt``. Only the main thread receives
    signals and may set handlers; in other threads nothing is recorded (no Ctrl-C
    reaches them), nor where Ctrl-C raises nothing (``SIG_IGN``, ``SIG_DFL``).

    Examples
    --------
    >>> import signal
    >>> # Python's own handler (a process started in the background ignores SIGINT)
    >>> previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    >>> with interrupts_recorded() as received:
    ...     try:
    ...         signal.raise_signal(signal.SIGINT)
    ...     except KeyboardInterrupt:
    ...         pass
    >>> received
    [<Signals.SIGINT: 2>]
    >>> _ = signal.signal(signal.SIGINT, previous)
    """
    received = []
    previous = (
        signal.getsignal(signal.SIGINT)
        if threading.current_thread() is threading.main_thread() else None
    )
    if not callable(previous):
        yield received
        return

    def handler(signum, frame):
        try:
            previous(signum, frame)
        except KeyboardInterrupt:
            # Only a signal that interrupts is one: a handler that chose not to raise
            # (a graceful shutdown flag) leaves a callback's stop a stop.
            received.append(signal.Signals(signum))
            raise

    signal.signal(signal.SIGINT, handler)
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)


class DeviceBatchIterator:
    """Mini-batches of ``(X, y)`` sliced from tensors on the training device.

    Replaces torch's ``DataLoader`` (skorch's ``iterator_train``): a DataLoader
    indexes and collates sample by sample in Python, which is the bottleneck once
    the network runs on a GPU.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset
        Holds the tensors ``X`` and ``y`` (``y`` may be None).
    batch_size : int
    shuffle : bool, default=False
        Draw a new permutation every epoch (from torch's global generator).
    drop_last : bool, default=False
        Skip the last incomplete batch, unless it is the only one: a batch of one
        sample cannot be normalised by batch norm.

    Examples
    --------
    >>> import torch
    >>> from skorch.dataset import Dataset
    >>> batches = DeviceBatchIterator(Dataset(torch.arange(5), None), batch_size=2)
    >>> [x.tolist() for x, _ in batches]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, drop_last=False):
        self.X = dataset.X
        self.y = dataset.y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last

    def _n_batches(self):
        n = len(self.X)
        full, rest = divmod(n, self.batch_size)
        if self.drop_last and full > 0:
            return full
        return full + bool(rest)

    def __len__(self):
        return self._n_batches()

    def __iter__(self):
        n = len(self.X)
        order = torch.randperm(n, device=self.X.device) if self.shuffle else None
        for b in range(self._n_batches()):
            sl = slice(b * self.batch_size, min((b + 1) * self.batch_size, n))
            idx = order[sl] if order is not None else sl
            yield self.X[idx], (self.y[idx] if self.y is not None else None)


class _FittedModule:
    """Marks, in a pickled :class:`_DeviceNet`, a ``module`` that was ``module_``."""


class _DeviceNet(NeuralNet):
    """Shared set-up of both phases: device batches, no internal validation split,
    autocast to the resolved ``precision`` (:func:`resolve_precision`), and pickles
    that load with any module class.

    bf16 needs no loss scaler; fp16 would need one, so it is not offered, only
    measured (``benchmarks/profile_step.py``'s ``eager_fp16`` variant), because
    PyTorch hands fp16 batch norm to cuDNN but never bf16.
    """

    def __init__(self, module, *args, augment=None, precision="float32", **kwargs):
        self.augment = augment
        self.precision = precision
        kwargs.setdefault("criterion", torch.nn.Identity)  # the loss is computed in the step
        kwargs.setdefault("optimizer", torch.optim.Adam)
        on_cpu = torch.device(kwargs.get("device", "cpu")).type == "cpu"
        if kwargs["optimizer"] is torch.optim.Adam and on_cpu:
            # torch's Adam takes its multi-tensor (foreach) path by default only on
            # CUDA-like devices and loops over the parameters in Python on the CPU. On
            # the CPU the foreach path computes the same update in less time (the fits
            # are identical, tests/test_estimator.py; the demo's fit: 1-2 % faster).
            kwargs.setdefault("optimizer__foreach", True)
        kwargs.setdefault("iterator_train", DeviceBatchIterator)
        kwargs.setdefault("iterator_train__shuffle", True)
        kwargs.setdefault("iterator_train__drop_last", True)
        kwargs.setdefault("iterator_valid", DeviceBatchIterator)
        kwargs.setdefault("train_split", None)
        # The module is one of our own classes, not a tensor: torch's weights-only
        # loader would refuse it, so pickles are loaded like any other pickle.
        kwargs.setdefault("torch_load_kwargs", {"weights_only": False})
        super().__init__(module, *args, **kwargs)

    def __getstate__(self):
        state = super().__getstate__()
        # The estimator hands skorch its network as an instance, so the ``module``
        # parameter is ``module_``. skorch pickles ``module_`` apart, mapped to the
        # device of the loading machine; ``module`` would be a second copy of the
        # weights, pickled as it is: tensors of a net fitted on CUDA that no CPU-only
        # machine can load. It is restored as ``module_`` itself.
        if "module_" in self.__dict__ and state.get("module") is self.module_:
            state["module"] = _FittedModule
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if self.__dict__.get("module") is _FittedModule:
            self.module = self.module_

    def get_default_callbacks(self):
        callbacks = super().get_default_callbacks()
        if self.verbose:
            return callbacks
        # skorch's PrintLog formats the epoch table at every epoch end and only then
        # leaves it unprinted under verbose=0: about 1 % of the demo's fit.
        return [(name, cb) for name, cb in callbacks if name != "print_log"]

    def initialize_module(self):
        super().initialize_module()
        # On a GPU, convolutions over channels-last weights and inputs run on tensor
        # cores without layout conversions; the adapter already emits channels-last images.
        if str(self.device).startswith("cuda") and self.module_.adapter.kind != "vector":
            self.module_.to(memory_format=torch.channels_last)
        return self

    def autocast(self):
        """Autocast to the dtype of ``precision`` (:func:`autocast`)."""
        return autocast(self.device, self.precision)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        if self.verbose:
            # skorch prints an epoch table per net; the title says which phase it is.
            print(f"{self.phase}:", flush=True)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        with interrupts_recorded() as interrupts:
            try:
                return super().fit_loop(X, y, epochs=epochs, **fit_params)
            except KeyboardInterrupt as exc:
                if not interrupts:
                    # A callback ended training (skorch's EarlyStopping raises
                    # KeyboardInterrupt to stop): as in skorch, the phase ends here and
                    # partial_fit goes on to on_train_end. An epoch it ended before
                    # any step (in on_epoch_begin) did not run: skorch leaves its row
                    # in the history, which n_iter_ and a warm start's resume read.
                    if len(self.history) and not self.history[-1]["batches"]:
                        self.history.pop()
                    return self
                # On Ctrl-C, skorch's partial_fit would also return the half-trained
                # net as if training had finished; the estimator must not keep it.
                raise TrainingInterrupted(
                    f"{self.phase} interrupted during epoch {len(self.history)}"
                ) from exc

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch loop, without its host sync after every step.

        skorch records each batch's loss with ``loss.item()``, which on a GPU makes
        the host wait for every step before it may queue the next one, so kernel
        launches never overlap the GPU's work. Here each batch records its loss as a
        detached device scalar (a callback that reads it mid-epoch still can), and
        all of them become floats in one transfer at the end of the epoch, before
        ``on_epoch_end`` and the callbacks that average them.
        """
        if iterator is None:
            return
        key = prefix + "_loss"
        batches, losses = [], []
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            loss = step["loss"].detach()
            self.history.record_batch(key, loss)
            self.history.record_batch(prefix + "_batch_size", len(batch[0]))
            batches.append(self.history[-1]["batches"][-1])
            losses.append(loss)
            self.notify("on_batch_end", batch=batch, training=training, **step)
        if losses:
            for row, value in zip(batches, torch.stack(losses).float().tolist()):
                row[key] = value
        self.history.record(prefix + "_batch_count", len(batches))

    def perturb(self, x):
        if self.augment is None:
            return x
        out = self.augment(x)
        # Checked here: a batch of another shape would fail deep in the network, with
        # an error about matrix shapes that names neither augment nor the batch.
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"augment={self.augment!r} returned a {type(out).__name__}; it must return "
                f"a torch tensor of the batch's shape {tuple(x.shape)}."
            )
        if out.shape != x.shape:
            raise ValueError(
                f"augment={self.augment!r} returned a batch of shape {tuple(out.shape)} for "
                f"one of shape {tuple(x.shape)}; it must keep the batch's shape."
            )
        return out

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        # skorch records each batch's loss; a non-finite one stops training here, with
        # the epoch named, rather than leaving NaN weights behind.
        losses = self.history[-1, "batches", :, "train_loss"]
        if not all(map(_isfinite, losses)):
            raise FloatingPointError(
                f"{self.phase} loss became non-finite at epoch {len(self.history)}. "
                "Lower lr, or check the input for extreme values (and tau and the loss "
                "weights, if extreme)."
            )


class SourcePretrainNet(_DeviceNet):
    """Supervised pretraining of backbone, factor space and source head (Eq. 8).

    ``fit(X_source, y_source)`` with both as tensors on ``device``.
    """

    phase = "Source pretraining"

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        xb, yb = batch
        net = self.module_
        with self.autocast():
            x = self.perturb(net.adapter(xb))
            logits = net.source_head(net.encode(x))
        loss = source_cross_entropy(logits, yb)
        loss.backward()
        return {"loss": loss, "y_pred": logits}


class SupremeNet(_DeviceNet):
    """The SUPREME clustering phase: one step is a target batch with its perturbation
    through the backbone, a source batch through it in a second pass (batch norm
    statistics of each domain apart), then :func:`supreme_loss`.

    ``fit(X_target, p_init)``: the initial assignments travel as the "targets" of
    the batches, both as tensors on ``device``.

    Parameters
    ----------
    module : SupremeNetwork
    source_X, source_y : torch.Tensor or None
        Source data on the device; source batches are drawn from it at random.
    source_batch_size : int or None
        Source samples per step; None: as many as the target batch.
    loss_params : dict
        Keyword arguments of :func:`supreme_loss` (``tau``, the weights,
        ``pair_weighting``).
    **kwargs
        Passed to :class:`skorch.NeuralNet`.
    """

    phase = "Clustering (SUPREME)"

    def __init__(
        self, module, *args, source_X=None, source_y=None, source_batch_size=None,
        loss_params=None, **kwargs,
    ):
        self.source_X = source_X
        self.source_y = source_y
        self.source_batch_size = source_batch_size
        self.loss_params = loss_params
        super().__init__(module, *args, **kwargs)

    def on_epoch_begin(self, net, **kwargs):
        super().on_epoch_begin(net, **kwargs)
        self._epoch_terms = []

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        xb, p_init = batch
        net = self.module_
        n = xb.shape[0]
        use_source = self.source_X is not None and (self.loss_params or {}).get("source_weight", 1.0) > 0
        with self.autocast():
            x = net.adapter(xb)
            # Target and source go through the backbone in separate passes, so batch
            # norm normalises each domain with its own statistics.
            a = net.encode(torch.cat([x, self.perturb(x)]))
            target_logits = net.target_head(a)
            if use_source:
                n_source = self.source_batch_size or n
                idx = torch.randint(len(self.source_X), (n_source,), device=self.source_X.device)
                a_source = net.encode(net.adapter(self.source_X[idx]))
                source_logits = net.source_head(a_source)
                a = torch.cat([a, a_source])
            else:
                source_logits = None
        p, p_perturbed = torch.softmax(target_logits.float(), dim=1).split(n)
        loss, terms = supreme_loss(
            p, p_perturbed, p_init, a.float(),
            source_logits=source_logits,
            y_source=self.source_y[idx] if use_source else None,
            **(self.loss_params or {}),
        )
        loss.backward()
        # Kept on the device and averaged once per epoch: no host sync per term and step.
        self._epoch_terms.append(torch.stack([terms[name] for name in LOSS_TERMS]))
        return {"loss": loss, "y_pred": target_logits}

    def on_epoch_end(self, net, **kwargs):
        if self._epoch_terms:
            means = torch.stack(self._epoch_terms).float().mean(dim=0).tolist()
            for name, value in zip(LOSS_TERMS, means):
                self.history.record(f"{name}_loss", value)
            self._epoch_terms = []
        super().on_epoch_end(net, **kwargs)


class CosineAnnealing(Callback):
    """Anneals the learning rate from the net's ``lr`` to 0 along a cosine over a
    whole training phase, step by step (Loshchilov & Hutter, SGDR, without restarts):
    ``lr_t = lr * (1 + cos(pi * t / T)) / 2`` at step ``t`` of ``T``.

    Written here rather than with skorch's ``LRScheduler`` around torch's
    ``CosineAnnealingLR``: those count the steps themselves, and a fit resumed from a
    checkpoint would start the count again; here ``t`` follows from the net's history.

    Parameters
    ----------
    total_epochs : int
        Epochs of the whole phase, a resumed continuation included.
    """

    def __init__(self, total_epochs):
        self.total_epochs = total_epochs

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.steps_per_epoch_ = len(net.get_iterator(net.get_dataset(X, y), training=True))

    def on_epoch_begin(self, net, **kwargs):
        # The net has opened this epoch's history row already.
        self.step_ = (len(net.history) - 1) * self.steps_per_epoch_

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training:
            return
        total = self.total_epochs * self.steps_per_epoch_
        lr = net.lr * (1 + math.cos(math.pi * self.step_ / total)) / 2
        for group in net.optimizer_.param_groups:
            group["lr"] = lr
        self.step_ += 1


def match_frozen(module, patterns):
    """Names of the parameters of ``module`` that ``patterns`` match.

    Parameters
    ----------
    module : torch.nn.Module
    patterns : str or sequence of str
        :func:`fnmatch.fnmatch` patterns of parameter names, as in
        ``module.named_parameters()`` (what :class:`skorch.callbacks.Freezer` matches).

    Returns
    -------
    names : list of str
        The matched names, in the module's order.

    Raises
    ------
    ValueError
        If a pattern matches no parameter (a misspelt name would silently freeze
        nothing), or the patterns match every parameter (nothing would train).

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> match_frozen(net, "0.*")
    ['0.weight', '0.bias']
    """
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    names = [name for name, _ in module.named_parameters()]
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"freeze patterns must be strings, got {pattern!r}.")
        if not any(fnmatch(name, pattern) for name in names):
            # The modules two levels down name the parts without listing every layer.
            parts = dict.fromkeys(".".join(n.split(".")[:-1][:2]) for n in names)
            raise ValueError(
                f"freeze pattern {pattern!r} matches no parameter of the network; its "
                f"parameters are in {', '.join(map(repr, parts))} (each parameter's name "
                "is in net_.module_.named_parameters())."
            )
    matched = [name for name in names if any(fnmatch(name, p) for p in patterns)]
    if len(matched) == len(names):
        raise ValueError(
            f"freeze={patterns!r} matches every parameter of the network: the clustering "
            "phase would train nothing. Leave the factor layer and target head out of it."
        )
    return matched


@contextlib.contextmanager
def frozen(module, names):
    """Hold the parameters ``names`` of ``module`` fixed inside the block.

    Their ``requires_grad`` is off, so autograd neither computes their gradients nor,
    for a frozen stem of a network, back-propagates through it at all, and the
    optimiser skips them (they get no gradient). Every parameter's flag is restored
    on exit, so the fitted network is left as it was given.

    Written here rather than with :class:`skorch.callbacks.Freezer`: that callback
    fires at one epoch number, which a resumed or warm-started fit (starting past
    that epoch) would skip, and it leaves the flags off after training.
    """
    params = dict(module.named_parameters())
    before = {name: p.requires_grad for name, p in params.items()}
    try:
        for name in names:
            params[name].requires_grad_(False)
        yield module
    finally:
        for name, flag in before.items():
            params[name].requires_grad_(flag)


def _isfinite(value):
    return value == value and abs(value) != float("inf")
