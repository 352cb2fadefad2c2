"""Arguments and checks shared by the command lines (``python -m sklearn_supreme demo``
and ``benchmark``, and the scripts of ``benchmarks/``).

Each check runs before a command loads its data or starts a fit, so that a wrong
setting is a usage error within a second, not a traceback minutes later.
"""

import argparse
import ast
import contextlib
import os
import tempfile

import torch

from ._estimator import SupremeClusterer
from ._networks import make_backbone

def check_backbone(model, input_shape, in_channels=None):
    """Build ``model``'s backbone for samples of ``input_shape`` once, so that a wrong
    ``backbone`` or ``backbone_params`` of a command line fails before its data is
    loaded, not at the first fit (raises ValueError or TypeError)."""
    make_backbone(model.backbone, input_shape, model.backbone_params, in_channels)


def check_output_path(path):
    """Raise ValueError naming ``path`` if :func:`write_json` could not write it.

    For a run's output file, checked before the run rather than found out after it:
    ``path`` must not be a folder, and its folder must exist or be creatable (its
    nearest existing folder accepts new files). Nothing is left behind.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     check_output_path(f"{folder}/new/results.json")  # the folder is created later
    ...     check_output_path(folder)
    Traceback (most recent call last):
    ...
    ValueError: cannot write ...: it is a folder; give a file path, such as .../results.json.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise ValueError(
            f"cannot write {path}: it is a folder; give a file path, such as "
            f"{os.path.join(path, 'results.json')}."
        )
    existing = os.path.dirname(path)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"cannot write {path}: {existing} is not a folder.")
    # Creating a file there is the only test that holds for every file system
    # (os.access says yes to root on read-only and virtual ones such as /proc).
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".", suffix=".probe")
    except OSError as exc:
        raise ValueError(
            f"cannot write {path}: no file can be created in {existing} "
            f"({exc.strerror or exc}); give a path in a writable folder."
        ) from None
    os.close(fd)
    os.unlink(probe)


def add_threads_argument(parser, default_help):
    parser.add_argument(
        "--threads", type=positive_int, metavar="N",
        help=f"torch threads on the CPU (default: {default_help})",
    )


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run with ``n_threads`` torch threads (None: unchanged), restoring the number after."""
    before = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def parse_override(text):
    """One ``--set key=value``: a SupremeClusterer parameter and a Python literal.

    A value that is not a literal is kept as a string, so ``backbone=cnn`` works
    without quotes.

    Examples
    --------
    >>> parse_override("tau=0.1"), parse_override("backbone=cnn")
    (('tau', 0.1), ('backbone', 'cnn'))
    >>> parse_override("backbone_params={'width': 8}")
    ('backbone_params', {'width': 8})
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    if key == "random_state":
        raise argparse.ArgumentTypeError("random_state is set by --seeds")
    known = set(SupremeClusterer().get_params()) - {"random_state"}
    if key not in known:
        raise argparse.ArgumentTypeError(
            f"{key!r} is not a SupremeClusterer parameter; choose from {', '.join(sorted(known))}"
        )
    try:
        return key, ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return key, value.strip()


def add_override_argument(parser):
    parser.add_argument(
        "--set", dest="overrides", metavar="KEY=VALUE", type=parse_override, action="append",
        default=[],
        help="override a SupremeClusterer setting (a Python literal, e.g. tau=0.1, "
        "backbone_params=\"{'width': 16}\"); repeatable",
    )


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
