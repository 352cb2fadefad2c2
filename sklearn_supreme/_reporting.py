"""What a reported figure depends on, and how it is written: shared by the demo, the
benchmark and the scripts of ``benchmarks/``.

The machine and versions a result came from (:func:`environment_info`), the mean and
standard deviation over seeds, text formatting, and results files written atomically
(:func:`write_json`).
"""

import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys

import numpy as np
import sklearn
import skorch
import torch

from . import __version__
from ._atomic import atomic_write

#: The scores of every clustering table: cluster accuracy, NMI and ARI.
METRICS = ("acc", "nmi", "ari")

def device_name(device):
    """``torch.cuda.get_device_name`` for a CUDA device, else ``"cpu (N cores)"``.

    Examples
    --------
    >>> device_name("cpu").startswith("cpu (")
    True
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({_cpu_count()} cores)"


def _cpu_count():
    # The cores this process may run on, which can be fewer than the machine has.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def _git_commit(package_dir=None):
    """The package checkout's short commit, with ``-dirty`` when the tracked files of the
    package or of the ``benchmarks`` folder beside it differ from that commit (the
    figures then come from code no commit holds); else ``$SKLEARN_SUPREME_GIT_COMMIT``
    (for a copy of the tree without its ``.git``, such as one sent to a remote GPU),
    else None.

    The checkout counts only if it tracks the package's ``__init__.py``: a package
    installed into a virtual environment inside another git project (``.venv``,
    ignored there) lies in that project's checkout, whose commit says nothing of it.
    """
    package_dir = package_dir or os.path.dirname(os.path.abspath(__file__))

    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=package_dir, capture_output=True, text=True, timeout=10,
            check=True,
        ).stdout.strip()

    try:
        git("ls-files", "--error-unmatch", "--", "__init__.py")  # fails if untracked
        commit = git("rev-parse", "--short", "HEAD")
        code = [".", os.path.join(os.pardir, "benchmarks")]
        if commit and git("status", "--porcelain", "--untracked-files=no", "--", *code):
            commit += "-dirty"
    except (OSError, subprocess.SubprocessError):
        commit = None
    return commit or os.environ.get("SKLEARN_SUPREME_GIT_COMMIT") or None


def environment_info(device, command=None):
    """What a result depends on besides the code's settings: machine, versions, command."""
    if command is None:
        command = " ".join([os.path.basename(sys.executable), *sys.argv])
    return {
        "device": device_name(device),
        "cpu_count": _cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "sklearn_supreme": __version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }


def format_environment(env):
    return (
        f"Machine: {env['device']}, {env['torch_threads']} torch threads; "
        f"sklearn-supreme {env['sklearn_supreme']} (git {env['git_commit'] or 'n/a'}), "
        f"torch {env['torch']}, scikit-learn {env['scikit-learn']}, skorch {env['skorch']}; "
        f"{env['date']}"
    )


def mean_std(values):
    """``{"mean", "std"}`` of per-seed values; the std is the population one (0 for one seed).

    Examples
    --------
    >>> mean_std([0.5, 0.7])
    {'mean': 0.6, 'std': 0.1}
    """
    values = np.asarray(values, dtype=float)
    return {"mean": round(float(values.mean()), 12), "std": round(float(values.std()), 12)}


def format_mean_std(stat, digits=3):
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def format_params(params):
    return ", ".join(f"{key}={value!r}" for key, value in params.items())


def to_jsonable(value):
    """``value`` with everything JSON cannot hold (classes, callables, callbacks) as text
    that names it (:func:`_describe_object`): the same text for the same settings in any
    process, so that a resume can compare a results file's settings with its own.

    Examples
    --------
    >>> from skorch.callbacks import EarlyStopping
    >>> to_jsonable({"callbacks": [EarlyStopping(patience=3)], "tau": np.float32(0.5)})
    {'callbacks': ["skorch.callbacks.training.EarlyStopping(...patience=3, ...)"],
     'tau': 0.5}
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    return _describe_object(value)


# The memory address in a default repr: "<Noop object at 0x7f3a...>", "<function f at 0x...>".
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _describe_object(value):
    """Text that names ``value``: its repr, unless that holds a memory address, which
    differs between processes. Then a function or class is named by ``module.qualname``,
    an object with ``get_params`` (a skorch callback, a scikit-learn estimator) by
    ``module.Class(param=value, ...)``, any other object by its repr without the
    addresses (``<module.Class object>``, ``functools.partial(<function f>, 1)``)."""
    text = repr(value)
    if not _ADDRESS.search(text):
        return text  # as earlier results files hold it (ImagePerturbation(...), a class)
    name = getattr(value, "__qualname__", None)  # functions, methods, classes
    if isinstance(name, str):
        module = getattr(value, "__module__", None)
        return f"{module}.{name}" if module else name
    try:
        params = value.get_params(deep=False)
    # No get_params, or one that fails: an __init__ that keeps no attribute of an argument.
    except (AttributeError, TypeError):
        return _ADDRESS.sub("", text)
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}(" + ", ".join(
        f"{key}={to_jsonable(param)!r}" for key, param in sorted(params.items())
    ) + ")"


def write_json(path, data):
    """Write ``data`` as JSON atomically: a reader sees the old file or the new, never half."""
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    with atomic_write(path, "w") as f:
        json.dump(to_jsonable(data), f, indent=2, allow_nan=False)
        f.write("\n")
