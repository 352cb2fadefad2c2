"""Arguments and checks shared by the command lines (``python -m sklearn_supreme demo``
and ``benchmark``, and the scripts of ``benchmarks/``).

Each check runs before a command loads its data or starts a fit, so that a wrong
setting is a usage error within a second, not a traceback minutes later.
"""

import argparse
import ast
import contextlib
import json
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import clone

from ._augment import ImagePerturbation, VectorPerturbation, resolve_augment
from ._estimator import SupremeClusterer
from ._input import _as_network_input

#: The perturbations' parameters, which ``--set augment__<name>=VALUE`` sets.
_AUGMENT_PARAMS = sorted(
    set(ImagePerturbation().get_params()) | set(VectorPerturbation().get_params())
)


def check_settings(params, input_shape, in_channels=None):
    """The SupremeClusterer of a command line's settings ``params``, checked before
    its data is loaded rather than at the first fit: the parameters' types and ranges,
    the device, the network built and run once for two blank samples of
    ``input_shape`` (images when ``in_channels`` is given), the ``freeze`` patterns on
    that network, and ``checkpoint_dir`` and ``memory`` writable (raises ValueError or
    TypeError). Checks that need the data (``n_clusters`` against the number of target
    samples) are ``model._validate_fit_data``'s, once the data is loaded.

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
    if isinstance(model.augment, (ImagePerturbation, VectorPerturbation)):
        model.augment._validate()  # its values (augment__translate=-1), checked at fit too
    network = _blank_network(model, input_shape, in_channels)
    model._resolve_device()
    model._frozen_names(network)
    model._check_checkpoint_dir()
    model._check_memory_dir()
    return model


def _blank_network(model, input_shape, in_channels):
    """The network ``model`` builds for two blank samples of ``input_shape``.

    Building it runs the backbone once, as the fit does: settings it cannot run with
    (``backbone_params={'width': 0}``) fail here rather than after the data is loaded.
    Parameter names depend on the architecture only, so the ``freeze`` patterns match
    as on the data. Two samples of the smallest kind keep it to a fraction of a second.
    """
    dtype = np.float32 if in_channels is None else np.uint8  # uint8 images: (N, H, W, C)
    X, kind = _as_network_input(np.zeros((2, *input_shape), dtype=dtype), "X")
    n_clusters = model.n_clusters if isinstance(model.n_clusters, Integral) else 2
    # Two source classes, as every command has a source.
    return model._build_network(X, kind, X, np.arange(2), 0, n_clusters, check_domains=False)


def check_seeds(seeds):
    """``seeds`` as a list of ints, checked before any data is loaded: at least one,
    each a valid ``random_state`` (an integer in [0, 2**32 - 1]; a float only if
    whole), none twice (raises ValueError).

    Examples
    --------
    >>> check_seeds(range(3)), check_seeds([4, 2.0])
    ([0, 1, 2], [4, 2])
    >>> check_seeds([0, 1, 0])
    Traceback (most recent call last):
    ...
    ValueError: seeds holds 0 more than once, ...
    """
    if isinstance(seeds, (Real, str)):
        raise ValueError(
            f"seeds must be a sequence of seeds, such as [0, 1, 2] (range(3) for three); "
            f"got {seeds!r}."
        )
    seeds = [_check_seed(seed) for seed in seeds]
    if not seeds:
        # Else the run fails after the load, with a "complete": false file left behind.
        raise ValueError("seeds must hold at least one seed.")
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise ValueError(
            f"seeds holds {', '.join(map(str, repeated))} more than once, which would fit "
            "the same run again and count it twice in the mean and std over the seeds; "
            "give each seed once."
        )
    return seeds


def _check_seed(seed):
    """One seed as an int, or a ValueError that names it."""
    whole = isinstance(seed, Integral) or (isinstance(seed, Real) and float(seed).is_integer())
    # bool is an Integral, but True as a seed is a mistake, not the seed 1.
    if isinstance(seed, bool) or not whole:
        raise ValueError(f"seeds must be integers; got {seed!r}.")
    seed = int(seed)
    if not 0 <= seed <= 2**32 - 1:
        # The range of random_state, which the fit would refuse after the data is loaded.
        raise ValueError(f"seeds must be in [0, 2**32 - 1] (random_state's range); got {seed}.")
    return seed


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
    """One ``--set key=value``: a SupremeClusterer parameter (or ``augment__<name>``, a
    parameter of the perturbation, see :func:`collapse_overrides`) and its value, a
    Python literal or JSON.

    JSON's ``null``, ``true`` and ``false`` read as None, True and False, also inside
    a dict or list (``backbone_params={"width": 16}``). A bare word that is neither is
    kept as a string, so ``backbone=cnn`` works without quotes; a value that starts
    like a literal (``{``, ``[``, ``(`` or a quote) but does not parse is an error.
    A string that reads as something else needs its quotes: ``memory="'null'"``.

    Examples
    --------
    >>> parse_override("tau=0.1"), parse_override("backbone=cnn")
    (('tau', 0.1), ('backbone', 'cnn'))
    >>> parse_override("backbone_params={'width': 8}"), parse_override("memory=null")
    (('backbone_params', {'width': 8}), ('memory', None))
    >>> parse_override("backbone_params={'width': 8")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: backbone_params: cannot read ... '{' was never closed...
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    if key == "random_state":
        raise argparse.ArgumentTypeError("random_state is set by --seeds")
    known = set(SupremeClusterer().get_params()) - {"random_state"}
    if key.startswith("augment__"):
        if key[len("augment__"):] not in _AUGMENT_PARAMS:
            raise argparse.ArgumentTypeError(
                f"{key!r}: the perturbations (ImagePerturbation, VectorPerturbation) have "
                f"no parameter {key[len('augment__'):]!r}; choose from "
                f"{', '.join(_AUGMENT_PARAMS)}"
            )
        return key, _parse_value(key, value.strip())
    if key not in known:
        raise argparse.ArgumentTypeError(
            f"{key!r} is not a SupremeClusterer parameter; choose from {', '.join(sorted(known))}"
        )
    value = _parse_value(key, value.strip())
    if key == "callbacks" and value not in ([], None):
        # A literal can only give names or numbers, never the callback objects skorch
        # needs: refused here, rather than by skorch at the first fit.
        raise argparse.ArgumentTypeError(
            f"callbacks={value!r}: callbacks are skorch callback objects, which a command "
            "line cannot give (only [] or None); pass them to SupremeClusterer in Python"
        )
    return key, value


def collapse_overrides(base, overrides, is_image):
    """The ``--set`` pairs ``overrides`` as SupremeClusterer parameters over a
    command's settings ``base``: the ``augment__<name>`` ones become one ``augment``,
    a copy of the command's perturbation (``"auto"`` resolved for its input,
    ``is_image``) with those parameters set. The others are returned as they are;
    the last of a repeated key wins.

    Examples
    --------
    >>> from sklearn_supreme import ImagePerturbation
    >>> base = {"augment": ImagePerturbation(flip=False)}
    >>> collapse_overrides(base, [("tau", 0.5), ("augment__translate", 0.0)], True)
    {'tau': 0.5, 'augment': ImagePerturbation(scale=(0.8, 1.2), translate=0.0, flip=False)}
    >>> base["augment"].translate  # the command's own is left as it was
    0.125
    """
    params = dict(overrides)
    nested = {
        key[len("augment__"):]: params.pop(key)
        for key in list(params) if key.startswith("augment__")
    }
    if not nested:
        return params
    augment = resolve_augment(params.get("augment", base.get("augment", "auto")), is_image)
    if not isinstance(augment, (ImagePerturbation, VectorPerturbation)):
        raise ValueError(
            f"--set augment__{next(iter(nested))}: augment={augment!r} is not one of the "
            "package's perturbations, whose parameters augment__<name> sets."
        )
    # set_params names the parameters of the other perturbation (noise for images).
    params["augment"] = clone(augment).set_params(**nested)
    return params


# A value that starts so is meant as a dict, list, tuple or string, never as a bare word.
_LITERAL_STARTS = ("{", "[", "(", '"', "'")


def _parse_value(key, text):
    """The value ``text`` of ``--set key=text``: a Python literal, else JSON, else a bare
    word kept as the string itself (see :func:`parse_override`)."""
    try:
        return ast.literal_eval(text)
    # TypeError: an unhashable key ({[]: 1}); the others: nesting too deep to parse.
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        literal_error = exc
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    if not text.startswith(_LITERAL_STARTS):
        return text
    raise argparse.ArgumentTypeError(
        f"{key}: cannot read {text!r} as a Python literal or JSON: "
        f"{_literal_problem(text, literal_error)}. Check its brackets and quotes (strings "
        "in quotes; None, True, False or JSON's null, true, false)"
    )


def _literal_problem(text, exc):
    """What keeps ``text`` from being a Python literal, in words; ``exc`` is the error
    of :func:`ast.literal_eval`."""
    if isinstance(exc, SyntaxError):
        return exc.msg
    if isinstance(exc, (MemoryError, RecursionError)):
        return "it is nested too deeply"
    if isinstance(exc, ValueError):
        # literal_eval names the part it refused by its repr, a memory address: a name
        # that is no literal (an unquoted string, JSON's true in a Python dict) says more.
        names = [node.id for node in ast.walk(ast.parse(text, mode="eval"))
                 if isinstance(node, ast.Name)]
        if names:
            return f"{names[0]} is a bare name, not a value"
        return "it holds an expression, not only values"
    return str(exc)  # TypeError: "unhashable type: 'list'"


def add_override_argument(parser, backbone_params="{'width': 16}", bare_word="backbone=cnn"):
    """``--set KEY=VALUE``, with examples that the command's own network accepts
    (``backbone_params=None``: no example of it, for commands of several networks)."""
    backbone = f', backbone_params="{backbone_params}"' if backbone_params else ""
    parser.add_argument(
        "--set", dest="overrides", metavar="KEY=VALUE", type=parse_override, action="append",
        default=[],
        help="override a SupremeClusterer setting with a Python literal or JSON (e.g. "
        f"tau=0.1, memory=null{backbone}); a bare word is a string ({bare_word}); "
        "augment__NAME sets a parameter of the perturbation (augment__translate=0.0); "
        "repeatable",
    )


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
