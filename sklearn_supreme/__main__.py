"""Command line: ``python -m sklearn_supreme demo | benchmark`` (also ``sklearn-supreme``).

``demo``
    SUPREME against K-means on scikit-learn's digits, 0-4 as the source and 5-9 as
    the target (see :mod:`sklearn_supreme.demo`).
``benchmark cifar10 --data PATH``
    The CIFAR-10 5 -> 5 transfer-clustering benchmark of the paper's Table 1 (see
    :mod:`sklearn_supreme.benchmark`); ``--smoke`` runs it in a minute on a CPU.

Both accept ``--set key=value`` to override a SupremeClusterer setting.
"""

import argparse
import os
import shlex
import sys

from . import __version__, benchmark, demo

__all__ = ["main"]


def build_parser(prog="python -m sklearn_supreme"):
    parser = argparse.ArgumentParser(
        prog=prog, description="SUPREME transfer clustering: demo and benchmarks."
    )
    parser.add_argument("--version", action="version", version=f"sklearn-supreme {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo_parser = commands.add_parser(
        "demo", help="K-means vs SUPREME on the digits (0-4 source, 5-9 target)",
        description="SUPREME against K-means on the digits: 0-4 are the labelled source, "
        "5-9 the target (K=5).",
    )
    demo.add_arguments(demo_parser)
    demo_parser.set_defaults(run=demo.run_from_args, parser=demo_parser)
    bench_parser = commands.add_parser(
        "benchmark", help="the paper's transfer-clustering benchmark (CIFAR-10, 5 -> 5)",
        description="Transfer clustering on CIFAR-10 as in the paper's Table 1: the train "
        "images of classes 0-4 are the labelled source, those of 5-9 the target (K=5).",
    )
    benchmark.add_arguments(bench_parser)
    bench_parser.set_defaults(run=benchmark.run_from_args, parser=bench_parser)
    return parser


def main(argv=None):
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Examples
    --------
    >>> from sklearn_supreme.__main__ import main
    >>> main(["--version"])
    sklearn-supreme ...
    0
    """
    if argv is None:
        argv = sys.argv[1:]
        console_script = os.path.basename(sys.argv[0]) == "sklearn-supreme"
        prog = "sklearn-supreme" if console_script else "python -m sklearn_supreme"
    else:
        prog = "python -m sklearn_supreme"
    argv = [str(arg) for arg in argv]
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
        # The command exactly as typed, so that a result file says how to rerun it.
        return args.run(args, args.parser, shlex.join([*prog.split(), *argv]))
    except SystemExit as exc:
        # argparse exits on bad arguments (code 2) and after --help (code 0).
        return exc.code if isinstance(exc.code, int) else 1


if __name__ == "__main__":
    sys.exit(main())
