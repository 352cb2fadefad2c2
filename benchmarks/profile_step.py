r"""Where a SUPREME clustering step's time goes: GPU kernels, or the host launching them.

The benchmark's clustering phase runs at 18,000-21,000 target images/s on an H200
(``docs/benchmarks.rst``), and the target is 30,000. What helps depends on what bounds
a step: if the GPU's kernels fill the step's wall time, only fewer or faster kernels
help (smaller source batches, fused kernels); if they leave it idle, the host's
launching is the bound, and CUDA graphs or larger batches help. This script measures
that, per training variant (eager; a doubled batch; a source batch of a quarter of the
target batch; the backbone frozen but for its last stage, or frozen whole, in the
clustering phase (``freeze``); compiled; compiled with CUDA graphs, unfrozen and
frozen but for the last stage; fp16 autocast instead of bf16, ``AUTOCAST_PATCHES``), on
the benchmark's shapes (a CIFAR ResNet-18, 25,000 source and 25,000 target 32x32
images; random pixels, since the time of a step does not depend on what the images
show):

1. a short fit (1 pretraining epoch, ``--epochs`` clustering epochs) whose clustering
   phase is timed by a skorch callback: ``--skip`` steps of warm-up (cuDNN autotuning,
   compiling), then ``--steps`` steps timed between two device synchronisations;
2. the next ``--steps`` steps under :mod:`torch.profiler`: the device's busy time (the
   sum of its kernels' times) and the host's time per step, and the top operators.

Each variant also reports the backbone's arithmetic rate: its GFLOP per image forward
and backward, with the variant's frozen parameters frozen (counted by
:class:`torch.utils.flop_counter.FlopCounterMode`; printed alone by
``--count-flops-only``, on any machine) times the images a step sends through it
(target, perturbation and source batches) per second of wall time.

A step is GPU-bound when the kernel time per step is close to the timed wall time per
step. Results go to ``OUT/profile.json`` after each variant (what a killed run had
written comes back) and the operator tables to ``OUT/profile_<variant>.txt``.

On a GPU (about 20 s per eager variant, a minute or more per compiled one)::

    python benchmarks/profile_step.py --out $OUT

(with the device session's ``pip install`` and ``PYTHONPATH`` of
``benchmarks/gpu_session.py`` before it).

Rehearse it on the CPU (a small CNN on a few hundred images; the test suite does)::

    python benchmarks/profile_step.py --out /tmp/profile --smoke
"""

import argparse
import os
import sys
import time
from unittest import mock

import numpy as np
import torch
from skorch.callbacks import Callback
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from sklearn_supreme import SupremeClusterer, _training
from sklearn_supreme._estimator import _empty_clusters_ignored
from sklearn_supreme._networks import InputAdapter, SupremeNetwork, feature_dim_of, make_backbone
from sklearn_supreme._training import SupremeNet, frozen, match_frozen
from sklearn_supreme._reporting import environment_info, write_json
from sklearn_supreme.benchmark import CIFAR10_PARAMS, SMOKE_PARAMS

#: ``freeze`` patterns that leave only the last stage of each built-in image backbone
#: to train in the clustering phase: the CIFAR ResNet-18's fourth stage (blocks 6-7),
#: the small CNN's last convolution (``layers.6``).
FREEZE_ALL_BUT_LAST_STAGE = {
    "resnet18": ["backbone.stem.*", "backbone.blocks.[0-5].*"],
    "cnn": ["backbone.layers.[0-4].*"],
}

#: Training variants: a function of the base settings giving the settings it changes.
VARIANTS = {
    "eager": lambda base: {},
    "eager_batch2x": lambda base: {"batch_size": 2 * base["batch_size"]},
    "eager_source_quarter": lambda base: {"source_batch_size": base["batch_size"] // 4},
    "eager_freeze_early": lambda base: {"freeze": FREEZE_ALL_BUT_LAST_STAGE[base["backbone"]]},
    "eager_freeze_backbone": lambda base: {"freeze": "backbone.*"},
    "compile": lambda base: {"compile": True},
    "compile_cudagraphs": lambda base: {"compile": {"mode": "reduce-overhead"}},
    # Frozen, the H200's kernels were half the step and the host's launching the rest
    # (docs/benchmarks.rst): CUDA graphs remove the launching.
    "compile_cudagraphs_freeze_early": lambda base: {
        "compile": {"mode": "reduce-overhead"},
        "freeze": FREEZE_ALL_BUT_LAST_STAGE[base["backbone"]],
    },
    "eager_fp16": lambda base: {},
}

#: What a variant changes in the dtype autocast computes in for each precision
#: (``_training.AUTOCAST_DTYPES``) rather than in the estimator's settings. Batch norm
#: took 93 of the 236 ms of an eager step's kernels on the H200, in PyTorch's own
#: kernels: PyTorch hands fp16 batch norm to cuDNN, never bf16. fp16 training needs a
#: loss scaler, which the package does not have: this variant runs
#: without one, so it times the kernels of fp16 (an upper bound on its gain; a small
#: gradient may underflow to 0, which does not change a step's time), not a way to
#: train. Where ``precision="auto"`` means float32 (the CPU, GPUs older than Ampere)
#: there is no autocast, and it is the eager step.
AUTOCAST_PATCHES = {"eager_fp16": {"bfloat16": torch.float16}}


class StepTimer(Callback):
    """Times and then profiles training steps of the clustering phase.

    Steps ``skip + 1 .. skip + steps`` are timed between device synchronisations; the
    ``steps`` after them run under :func:`torch.profiler.profile`. Steps are counted
    across epochs; the source pretraining phase is ignored.
    """

    def __init__(self, skip=10, steps=10):
        self.skip = skip
        self.steps = steps
        self.seen = 0
        self.wall_seconds = None
        self.profiler = None
        self.profiled_steps = 0
        self.on_cuda = False

    def _sync(self, net):
        if str(net.device).startswith("cuda"):
            torch.cuda.synchronize(net.device)

    def on_batch_begin(self, net, training=False, **kwargs):
        if not (training and isinstance(net, SupremeNet)):
            return
        self.seen += 1
        if self.seen == self.skip + 1:
            self._sync(net)
            self._start = time.perf_counter()
        elif self.seen == self.skip + self.steps + 1:
            # The timed steps' queued kernels finish before the profiled window opens.
            self._sync(net)
            activities = [ProfilerActivity.CPU]
            self.on_cuda = str(net.device).startswith("cuda")
            if self.on_cuda:
                activities.append(ProfilerActivity.CUDA)
            self.profiler = profile(activities=activities)
            self.profiler.start()

    def on_batch_end(self, net, training=False, **kwargs):
        if not (training and isinstance(net, SupremeNet)):
            return
        if self.seen == self.skip + self.steps:
            self._sync(net)
            self.wall_seconds = time.perf_counter() - self._start
        elif self.profiler is not None and self.profiled_steps < self.steps:
            self.profiled_steps += 1
            if self.profiled_steps == self.steps:
                self._sync(net)
                self.profiler.stop()


def backbone_gflop_per_image(params, n=8):
    """GFLOP of one 32x32 RGB image through the backbone of ``params``, forward and
    backward (matrix products and convolutions, counted by torch's FlopCounterMode).

    The backbone sits in a :class:`SupremeNetwork`, frozen by ``params["freeze"]``
    the way a clustering step freezes it (the estimator's own matching and freezing):
    autograd skips the frozen parameters' gradients, and the backward pass stops at
    the first trainable layer.
    """
    backbone = make_backbone(params["backbone"], (32, 32, 3), params.get("backbone_params"), 3)
    adapter = InputAdapter(np.zeros(3), np.ones(3), "float_nchw")
    x = torch.randn(n, 3, 32, 32)
    network = SupremeNetwork(
        adapter, backbone, feature_dim_of(backbone, adapter, x[:2]), n_factors=1,
        n_source_classes=0, n_clusters=1,
    )
    names = match_frozen(network, params["freeze"]) if params.get("freeze") else []
    with frozen(network, names), FlopCounterMode(display=False) as counter:
        out = network.backbone(x).sum()
        if out.requires_grad:  # nothing to back-propagate through a backbone frozen whole
            out.backward()
    return counter.get_total_flops() / n / 1e9


def summarize(timer, batch_size, images_per_step, gflop_per_image):
    """Per-step figures of a finished :class:`StepTimer`, in milliseconds; and the
    backbone's arithmetic rate (``images_per_step`` through it, forward and backward)."""
    if timer.wall_seconds is None or timer.profiled_steps < timer.steps:
        raise RuntimeError(
            f"the fit ran {timer.seen} clustering steps; {timer.skip + 2 * timer.steps} are "
            "needed: raise --epochs or lower --skip/--steps."
        )
    events = timer.profiler.key_averages()
    wall_ms = 1e3 * timer.wall_seconds / timer.steps
    # The kineto profiler lists each kernel twice, as a device event of its own and in
    # the self device time of the CPU operator that launched it; the device events
    # alone, less user annotations (spans, not kernels), count it once, as torch's own
    # table total does. None without a GPU.
    host_events = [e for e in events if e.device_type == DeviceType.CPU]
    kernels = [
        e for e in events
        if e.device_type != DeviceType.CPU and not getattr(e, "is_user_annotation", False)
    ]
    device_ms = (
        sum(e.self_device_time_total for e in kernels) / 1e3 / timer.steps
        if timer.on_cuda else None
    )
    return {
        "steps_timed": timer.steps,
        "wall_ms_per_step": wall_ms,
        "target_images_per_second": 1e3 * batch_size / wall_ms,
        "backbone_tflop_per_second": gflop_per_image * images_per_step / wall_ms,
        "device_kernel_ms_per_step": device_ms,
        "device_busy_fraction": None if device_ms is None else device_ms / wall_ms,
        # Measured under the profiler, which adds its own overhead to the host's time.
        "host_ms_per_step_profiled": (
            sum(e.self_cpu_time_total for e in host_events) / 1e3 / timer.steps
        ),
        # Host operators, nested calls included (a convolution and the ones it dispatches
        # to), as on a CPU rehearsal; not the kernels.
        "operator_calls_per_step": sum(e.count for e in host_events) / timer.steps,
    }


def run_variant(name, base, data, gflop_per_image, args):
    overrides = VARIANTS[name](base)
    params = {**base, **overrides, "pretrain_epochs": 1, "max_epochs": args.epochs}
    # The target batch, its perturbation and the source batch.
    batch = params["batch_size"]
    images_per_step = 2 * batch + (params.get("source_batch_size") or batch)
    timer = StepTimer(args.skip, args.steps)
    model = SupremeClusterer(**params, random_state=0, callbacks=[timer])
    X_target, X_source, y_source = data
    start = time.perf_counter()
    # Random pixels and a couple of epochs: empty clusters are expected here and say
    # nothing about a step's time.
    patches = AUTOCAST_PATCHES.get(name, {})
    with _empty_clusters_ignored(), mock.patch.dict(_training.AUTOCAST_DTYPES, patches):
        model.fit(X_target, source=(X_source, y_source))
    result = {"variant": name, "overrides": overrides,
              "autocast_patches": {key: str(value) for key, value in patches.items()},
              "fit_seconds": time.perf_counter() - start,
              "backbone_gflop_per_image": gflop_per_image,
              **summarize(timer, batch, images_per_step, gflop_per_image)}
    sort_key = "self_device_time_total" if model.device_.startswith("cuda") else "self_cpu_time_total"
    table = timer.profiler.key_averages().table(sort_by=sort_key, row_limit=args.rows)
    return result, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for profile.json and the tables")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="training variants, in this order (default: all)")
    parser.add_argument("--n", type=int, help="images per domain (default: 25000; smoke 384)")
    parser.add_argument("--epochs", type=int, help="clustering epochs (default: 2; smoke 8)")
    parser.add_argument("--skip", type=int, default=10, help="warm-up steps (default: 10)")
    parser.add_argument("--steps", type=int, default=10, help="steps timed, then profiled")
    parser.add_argument("--rows", type=int, default=25, help="rows of each operator table")
    parser.add_argument("--smoke", action="store_true", help="CPU rehearsal: small CNN and data")
    parser.add_argument("--count-flops-only", action="store_true",
                        help="only count the backbone's GFLOP per image (runs on a CPU)")
    args = parser.parse_args(argv)
    if args.smoke:
        base = {**SMOKE_PARAMS, "batch_size": 32}
        args.n, args.epochs = args.n or 384, args.epochs or 8
        args.skip, args.steps = min(args.skip, 3), min(args.steps, 3)
    else:
        base = dict(CIFAR10_PARAMS)
        args.n, args.epochs = args.n or 25000, args.epochs or 2
    os.makedirs(args.out, exist_ok=True)

    command = " ".join([os.path.basename(sys.executable), *sys.argv])
    gflop = {
        name: backbone_gflop_per_image({**base, **VARIANTS[name](base)}) for name in args.variants
    }
    for name, value in gflop.items():
        print(f"{name}: {base['backbone']} backbone {value:.3f} GFLOP per 32x32 image, forward "
              "and backward", flush=True)
    report = {
        "environment": environment_info(SupremeClusterer()._resolve_device(), command),
        "base_params": base, "n_per_domain": args.n, "backbone_gflop_per_image": gflop,
        "variants": [], "failures": [],
    }
    if args.count_flops_only:
        write_json(os.path.join(args.out, "profile.json"), report)
        return 0

    rng = np.random.default_rng(0)
    data = (
        rng.integers(0, 256, (args.n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 256, (args.n, 32, 32, 3), dtype=np.uint8),
        np.arange(args.n) % 5,
    )
    for name in args.variants:
        try:
            result, table = run_variant(name, base, data, gflop[name], args)
        except Exception as exc:  # one failed variant (a compile error) must not cost the rest
            report["failures"].append({"variant": name, "error": f"{type(exc).__name__}: {exc}"})
            print(f"{name}: FAILED: {type(exc).__name__}: {exc}", flush=True)
        else:
            report["variants"].append(result)
            with open(os.path.join(args.out, f"profile_{name}.txt"), "w") as f:
                f.write(table)
            kernels = (
                f"kernels {result['device_kernel_ms_per_step']:.1f} ms/step (GPU busy "
                f"{result['device_busy_fraction']:.0%})"
                if result["device_kernel_ms_per_step"] is not None else "no GPU"
            )
            print(
                f"{name}: {result['wall_ms_per_step']:.1f} ms/step "
                f"({result['target_images_per_second']:.0f} target images/s, backbone "
                f"{result['backbone_tflop_per_second']:.1f} TFLOP/s), {kernels}, "
                f"{result['operator_calls_per_step']:.0f} operator calls/step; "
                f"fit {result['fit_seconds']:.1f} s",
                flush=True,
            )
        write_json(os.path.join(args.out, "profile.json"), report)
    return 0 if report["variants"] else 1


if __name__ == "__main__":
    sys.exit(main())
