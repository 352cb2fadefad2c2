"""The checks and conversions of a fit's input arrays, before any network sees them.

The source given as a pair or as ``X_source=``/``y_source=``, a DataFrame source's
columns, the source labels, arrays named in their errors, integer images read as uint8,
the layout the network reads (feature rows, uint8 ``(N, H, W, C)`` or float
``(N, C, H, W)`` images) and the input statistics it is standardised with; and the
caller's frame that warnings point to. Shared by :class:`~sklearn_supreme.SupremeClusterer`
and :mod:`sklearn_supreme.model_selection`.
"""

import collections
import contextlib
import contextvars
import inspect
import os
import warnings

import numpy as np
import scipy.sparse as sp
import sklearn
import torch
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.validation import check_array

from .metrics import _check_complete_labels

#: Where this package's and scikit-learn's code lives (see _user_stacklevel).
_LIBRARY_DIRS = tuple(os.path.dirname(path) + os.sep for path in (__file__, sklearn.__file__))

# Input statistics are estimated on at most this many samples: plenty for a mean and
# std, and it keeps fit from making a float64 copy of a large image set.
_STATS_SAMPLES = 10_000


def _source_pair(source, X_source, y_source):
    """The source as one pair, from either ``source=(X, y)`` or ``X_source=, y_source=``."""
    if X_source is None and y_source is None:
        if source is None:
            return None
        if not isinstance(source, (tuple, list)) or len(source) != 2:
            length = f" of length {len(source)}" if hasattr(source, "__len__") else ""
            raise TypeError(
                f"source must be a pair (X_source, y_source), got {type(source).__name__}{length}."
            )
        return tuple(source)
    if source is not None:
        raise ValueError(
            "Pass the source either as source=(X_source, y_source) or as X_source= and "
            "y_source=, not both."
        )
    if X_source is None or y_source is None:
        raise ValueError("X_source and y_source must be given together.")
    return X_source, y_source


def _check_y_is_not_the_source(y):
    """Raise TypeError if ``y``, which ``fit`` ignores, looks like the source pair:
    ``fit(X, (X_source, y_source))`` would otherwise fit without any source."""
    if not (isinstance(y, (tuple, list)) and len(y) == 2):
        return
    try:
        samples = np.ndim(y[0]) >= 2  # labels are 1-D; samples are rows or images
    except ValueError:  # ragged rows: samples, not labels
        samples = True
    if samples:
        raise TypeError(
            "fit got a pair (X_source, y_source) as its second argument, y, which it "
            "ignores; pass it as source=(X_source, y_source)."
        )


def _check_source_columns(feature_names, X_source):
    """A source with named columns must name the target's features, in their order.

    ``feature_names`` are the target's (its ``columns`` or ``feature_names_in_``;
    None without names); scikit-learn checks the names of ``predict``'s input
    likewise. Either side without names is not checked.
    """
    columns = getattr(X_source, "columns", None)
    if feature_names is None or columns is None:
        return
    names, columns = list(feature_names), list(columns)
    if names == columns:
        return
    counts = collections.Counter(columns)
    if counts == collections.Counter(names):
        detail = "they have the same names in another order; select X_source[X.columns]"
    else:
        # Each side of the difference is named: an empty list of "missing" names would
        # say nothing about a source with a column more, or a column twice.
        wanted = set(names)
        missing = [c for c in names if c not in counts][:5]
        extra = [c for c in counts if c not in wanted][:5]
        repeated = [c for c, n in counts.items() if n > 1][:5]
        parts = []
        if missing:
            parts.append(f"X's {missing} are missing from X_source")
        if extra:
            parts.append(f"X_source has {extra}, which X has not")
        if repeated:
            parts.append(f"X_source repeats {repeated}")
        detail = "; ".join(parts)
    raise ValueError(
        "X_source's columns must be X's, in the same order, for source and target "
        f"features to line up; {detail}."
    )


def _check_named_array(X, input_name, **kwargs):
    """:func:`~sklearn.utils.check_array` whose error for an empty array names it.

    scikit-learn's "Found array with 0 sample(s)" does not say which array, and a fit
    takes up to three (the target and the source's samples and labels).
    """
    X = check_array(X, input_name=input_name, ensure_min_samples=0, **kwargs)
    if X.shape[0] == 0:
        raise ValueError(f"{input_name} is empty (shape {X.shape}); it needs at least one sample.")
    return X


def _check_source_labels(y_source):
    """``y_source`` as a 1-D array of labels that are all present and sortable.

    A column vector (a one-column DataFrame, ``y[:, None]``) is accepted with the
    :class:`~sklearn.exceptions.DataConversionWarning` scikit-learn's classifiers give.
    """
    shape = np.shape(y_source)
    if len(shape) != 1 and shape[1:] != (1,):
        raise ValueError(f"y_source must be 1-D, got an array of shape {shape}.")
    if len(shape) == 2:
        warnings.warn(
            "A column-vector y_source was passed when a 1d array was expected. Please "
            "change the shape of y_source to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=_user_stacklevel(),
        )
    return _check_complete_labels(
        y_source, "y_source",
        " Every source sample needs its class; drop the unlabelled samples from the source.",
    )


def _describe(kind):
    return {
        "vector": "feature vectors",
        "uint8_nhwc": "uint8 images (N, H, W, C)",
        "float_nchw": "float images (N, C, H, W)",
    }[kind]


def _integer_images_as_uint8(X, name):
    """4-D integer arrays other than uint8 as uint8 images ``(N, H, W, C)``.

    ``np.array`` of pixel lists gives int64: such arrays hold pixel values as uint8
    images do, and validation would otherwise cast them to float, read as
    ``(N, C, H, W)``. Values outside 0-255 are an error, not wrapped around.
    Nested lists of integers are such arrays too. Other 4-D array-likes (a torch
    tensor) are returned as numpy arrays: their ``dtype`` may not be numpy's.
    Anything else is returned as it is, for validation to check. A torch tensor
    that requires grad (a network's output) is read detached, as numpy cannot
    read it otherwise; every input of a fit or prediction passes here first.
    """
    if isinstance(X, torch.Tensor) and X.requires_grad:
        X = X.detach()  # the same memory; nothing here differentiates through X
    if not isinstance(X, np.ndarray) and not sp.issparse(X) and not hasattr(X, "columns"):
        try:
            as_array = np.asarray(X)
        # Ragged lists, a CUDA tensor: left to validation, which names the problem.
        except (ValueError, TypeError, RuntimeError):
            return X
        if as_array.ndim == 4:
            X = as_array
    if not (
        getattr(X, "ndim", None) == 4 and hasattr(X, "dtype")
        and np.issubdtype(X.dtype, np.integer) and X.dtype != np.uint8
    ):
        return X
    X = np.asarray(X)
    if X.size and (X.min() < 0 or X.max() > 255):
        raise ValueError(
            f"{name} holds {X.dtype} images with values in [{X.min()}, {X.max()}]; integer "
            "images are read as uint8 (N, H, W, C) and must hold pixel values in 0-255. "
            "Pass other values as float images (N, C, H, W)."
        )
    return X.astype(np.uint8)


def _as_network_input(X, name, cast=True):
    """The layout of a validated array, and the array in the dtype the network reads;
    with ``cast=False``, float arrays as they are, for callers that cast them batch by
    batch (:func:`_as_float32`)."""
    # Images in the other layout than their dtype's are warned about, not refused:
    # an image may be 1 or 3 pixels wide (or high) and have many channels.
    if X.ndim == 4 and X.dtype == np.uint8:
        if X.shape[1] in (1, 3) and min(X.shape[2:]) > 4:
            warnings.warn(
                f"{name} of shape {X.shape} looks like channels-first images (N, C, H, W), "
                f"but uint8 images are read as (N, H, W, C): {X.shape[3]} channels of "
                f"{X.shape[1]}x{X.shape[2]} pixels. Pass X.transpose(0, 2, 3, 1), or float "
                "images (N, C, H, W).",
                UserWarning,
                stacklevel=_user_stacklevel(),
            )
        return np.ascontiguousarray(X), "uint8_nhwc"
    if X.ndim == 4 and X.shape[-1] in (1, 3) and min(X.shape[1:3]) > 4:
        warnings.warn(
            f"{name} of shape {X.shape} looks like channels-last images (N, H, W, C), but "
            f"float images are read as (N, C, H, W): {X.shape[1]} channels of "
            f"{X.shape[2]}x{X.shape[3]} pixels. Pass X.transpose(0, 3, 1, 2), or uint8 "
            "images (N, H, W, C).",
            UserWarning,
            stacklevel=_user_stacklevel(),
        )
    if X.ndim in (2, 4):
        return _as_float32(X, name) if cast else X, "vector" if X.ndim == 2 else "float_nchw"
    raise ValueError(
        f"{name} must be 2-D feature rows or 4-D images (uint8 (N, H, W, C) or float "
        f"(N, C, H, W)); got an array of shape {X.shape}."
    )


def _as_float32(X, name):
    """A validated float array as a C-contiguous float32 one (a copy unless it is one).

    Raises ValueError if float64 values lie beyond float32's range: the input was
    checked finite, but they are not after the cast (numpy's overflow warning is
    replaced by the error), and would surface later as a non-finite loss.
    """
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(X, dtype=np.float32)
    if X.dtype != np.float32 and not np.isfinite(out).all():
        raise ValueError(
            f"{name} has values beyond the float32 range (about 3.4e38 in absolute "
            "value); the network computes in float32. Rescale the input."
        )
    return out


def _input_statistics(data, kind, standardize, seed, check_domains=True):
    """Per-feature (vectors) or per-channel (images) mean and std of the fitting data;
    with ``check_domains``, a warning if target and source lie apart
    (:func:`_warn_if_domains_apart`)."""
    arrays = data if isinstance(data, tuple) else (data,)
    rng = np.random.default_rng(seed)
    parts = []
    for arr in arrays:
        take = min(len(arr), _STATS_SAMPLES)
        parts.append(arr[np.sort(rng.choice(len(arr), take, replace=False))])
    sample = np.concatenate(parts).astype(np.float64)
    if standardize and len(parts) == 2 and check_domains and not _DOMAINS_UNCHECKED.get():
        # Views of the float64 sample, target rows first: no copy of either.
        _warn_if_domains_apart(sample[:len(parts[0])], sample[len(parts[0]):], sample, kind)
    if kind == "vector":
        axes, n_stats = 0, sample.shape[1]
    elif kind == "uint8_nhwc":
        sample /= 255.0
        axes, n_stats = (0, 1, 2), sample.shape[3]
    else:
        axes, n_stats = (0, 2, 3), sample.shape[1]
    if not standardize:
        return np.zeros(n_stats), np.ones(n_stats)
    mean = sample.mean(axis=axes)
    std = sample.std(axis=axes)
    if kind == "vector":
        # One common scale for all features: per-feature z-scores would blow up
        # near-constant features (the border pixels of digits) and change the geometry
        # that K-means and the noise perturbation rely on.
        std = np.full_like(std, np.sqrt(np.mean(std**2)))
    # Constant input keeps its scale: dividing by ~0 would blow up the noise. Constant
    # means below float32's resolution at the input's magnitude (the network sees
    # float32), not below a fixed number: data on a scale of 1e-9 is not constant.
    # Per channel for images, whose scales are per channel; one for vectors' one scale.
    magnitude = np.abs(sample).max() if kind == "vector" else np.abs(sample).max(axis=axes)
    resolution = np.finfo(np.float32).eps * magnitude
    return mean, np.where(std > resolution, std, 1.0)


@contextlib.contextmanager
def _flag_set(flag):
    """``flag``, a boolean :class:`contextvars.ContextVar`, True in this thread
    (context) meanwhile. What silences a warning for some fits: the warning filters
    are global, and scikit-learn's Parallel saves and restores them in each worker
    thread of the threading backend, outside any lock of ours (which left an "ignore"
    in the caller's filters after a search)."""
    token = flag.set(True)
    try:
        yield
    finally:
        flag.reset(token)


#: Set by :func:`_domains_unchecked`.
_DOMAINS_UNCHECKED = contextvars.ContextVar("sklearn_supreme_domains_unchecked", default=False)


def _domains_unchecked():
    """No :func:`_warn_if_domains_apart` in this thread (context) meanwhile: for fits
    whose 'target' is not the user's, such as a search's held-out source classes, where
    the warning would name the wrong data, once per fit."""
    return _flag_set(_DOMAINS_UNCHECKED)


def _warn_if_domains_apart(target, source, pooled, kind):
    """Warn if target or source spreads over a small part of the scale of both pooled.

    Source and target are standardised together (one mean and scale): when they lie
    apart (features in other units, an offset), the pooled scale is the distance
    between them, the perturbation's noise (relative to that scale) swamps the gaps
    between the target's clusters, and a fit whose initial K-means was right can end
    in one cluster, with no other sign than empty clusters.
    """
    axes = 0 if kind == "vector" else (0, 1, 2) if kind == "uint8_nhwc" else (0, 2, 3)

    def spread(values):
        return np.sqrt(np.mean(values.var(axis=axes)))

    scale = spread(pooled)
    for name, part in (("target", target), ("source", source)):  # all in the input's units
        if len(part) > 1 and spread(part) < 0.1 * scale:
            warnings.warn(
                f"The {name} spreads over {spread(part) / scale:.1%} of the scale of source "
                "and target together: they lie apart (other units, an offset?). Both are "
                "standardised with that one scale, so the perturbation's noise can swamp "
                "the target's clusters. Bring them onto one scale first (e.g. standardise "
                "each on its own).",
                UserWarning,
                stacklevel=_user_stacklevel(),
            )
            return


def _user_stacklevel():
    """The ``stacklevel`` of the first caller outside this package and scikit-learn,
    for a warning issued by the function that calls this one.

    Written by hand, as pandas' ``find_stack_level`` is: a fixed ``stacklevel`` is
    right for one call path only, and ``fit`` is reached through ``fit_predict``,
    ``fit_transform``, a ``Pipeline`` or a search as often as directly. From Python
    3.12, ``warnings.warn(..., skip_file_prefixes=_LIBRARY_DIRS)`` does this; the
    package still supports 3.10.
    """
    frame, level = inspect.currentframe(), 0
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    return level
