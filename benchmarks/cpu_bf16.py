"""The CIFAR-10 benchmark with the GPU's bf16 autocast on the CPU: what bf16 does to ACC.

On CUDA, training and inference run under bf16 autocast; on a CPU, in float32. So the
GPU's figures could owe something to bf16's 8-bit mantissa (the factor codes
``sigmoid(f_omega(x))`` of Eq. 7, for one, are computed in bf16 there), which no CPU
run shows. This runs the ``benchmark`` command, with the same arguments, under bf16
autocast on the CPU as well, so that the CPU proxy can be compared with and without
it. The results file records this script's command line.

    python benchmarks/cpu_bf16.py cifar10 --data ../shared/data/cifar10-jpeg.tar.gz \\
        --cache-dir /tmp/cifcache --per-class 300 --seeds 3 --threads 2 \\
        --set backbone=cnn --set 'backbone_params={"width": 32}' \\
        --set pretrain_epochs=15 --set max_epochs=30 --set batch_size=128 \\
        --out docs/benchmarks/cifar10_cpu_proxy_bf16.json

A CPU without native bf16 instructions (AVX-512 BF16 or AMX) emulates bf16, at a speed
not measured here; its ACC figures hold all the same.
"""

import argparse
import shlex
import sys
from unittest import mock

from sklearn_supreme import _training, benchmark


def main(argv=None):
    argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
    parser = argparse.ArgumentParser(prog="python benchmarks/cpu_bf16.py",
                                     description=__doc__.splitlines()[0])
    benchmark.add_arguments(parser)
    args = parser.parse_args(argv)
    command = shlex.join(["python", "benchmarks/cpu_bf16.py", *argv])
    with mock.patch.object(_training, "AUTOCAST_DEVICE_TYPES", ("cuda", "cpu")):
        return benchmark.run_from_args(args, parser, command)


if __name__ == "__main__":
    sys.exit(main())
