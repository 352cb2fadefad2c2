"""Arguments and checks shared by the command lines (``python -m sklearn_supreme demo``
and ``benchmark``, and the scripts of ``benchmarks/``).

Each check runs before a command loads its data or starts a fit, so that a wrong
setting is a usage error within a second, not a traceback minutes later.
"""

import argparse
import ast
import contextlib
from numbers import Integral

import numpy as np
import torch

from ._estimator import SupremeClusterer
from ._input import _as_network_input
from ._networks import make_backbone

def check_settings(params, input_shape, in_channels=None):
    """The SupremeClusterer of a command line's settings ``params``, checked before
    its data is loaded rather than at the first fit: the parameters' types and ranges,
    the device, the backbone built once for samples of ``input_shape`` (images when
    ``in_channels`` is given), the ``freeze`` patterns on the network it makes, and
    ``checkpoint_dir`` and ``memory`` writable (raises ValueError or TypeError).
    Checks that need the data (``n_clusters`` against the number of target samples)
    are ``model._validate_fit_data``'s, once the data is loaded.

    Examples
    --------
    >>> check_settings({"tau": 0.5}, (64,)).tau
    0.5
    >>> check_settings({"backbone": "cnn"}, (64,))
    Traceback (most recent call last):
    ...
    ValueError: backbone='cnn' is an image backbone ...
    """
    model = SupremeClusterer(**params)
    model._validate_params()
    make_backbone(model.backbone, input_shape, model.backbone_params, in_channels)
    model._resolve_device()
    if model.freeze is not None:
        # Parameter names depend on the architecture only: two blank samples (and two
        # source classes, as both commands have a source) make the network to match.
        dtype = np.float32 if in_channels is None else np.uint8  # uint8 images: (N, H, W, C)
        X, kind = _as_network_input(np.zeros((2, *input_shape), dtype=dtype), "X")
        n_clusters = model.n_clusters if isinstance(model.n_clusters, Integral) else 2
        model._frozen_names(model._build_network(X, kind, X, np.arange(2), 0, n_clusters))
    model._check_checkpoint_dir()
    model._check_memory_dir()
    return model


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
        value = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        value = value.strip()
    if key == "callbacks" and value not in ([], None):
        # A literal can only give names or numbers, never the callback objects skorch
        # needs: refused here, rather than by skorch at the first fit.
        raise argparse.ArgumentTypeError(
            f"callbacks={value!r}: callbacks are skorch callback objects, which a command "
            "line cannot give (only [] or None); pass them to SupremeClusterer in Python"
        )
    return key, value


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
