"""Random perturbations g(x) for the self-supervised remedy, applied to whole batches.

They run on standardised batches on the training device, so nothing per-sample runs
in Python and nothing crosses to the host. Randomness comes from torch's global
generator, which :class:`~sklearn_supreme.SupremeClusterer` seeds in ``fit``.
"""

import math
from numbers import Integral, Real

import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator

__all__ = ["ImagePerturbation", "VectorPerturbation", "resolve_augment"]


class ImagePerturbation(BaseEstimator):
    """Random rescale, translation and horizontal flip of an image batch.

    One affine warp per image through ``affine_grid``/``grid_sample``, bilinear with
    reflected borders, on the whole batch on its device. The paper names "random
    rescale and random horizontal flip"; DTC's code shifts by whole pixels with
    reflection (up to 4) and flips, without rescaling. This warp does both rescale
    and shift, by fractions of a pixel too, so its copies are slightly smoothed.

    Parameters
    ----------
    scale : tuple of float, default=(0.8, 1.2)
        Range ``(low, high)`` of the zoom factor, ``0 < low <= high``.
    translate : float, default=0.125
        Largest shift, as a fraction of the image side, >= 0.
    flip : bool, default=True
        Whether to flip half of the images horizontally.
    image_shape : tuple of int, default=None
        ``(C, H, W)`` of images that arrive flattened as feature rows (such as
        scikit-learn's digits as 64 pixels): rows are warped as images and flattened
        back, so an MLP on pixel vectors gets geometric perturbations. Like every
        perturbation, it warps the *standardised* rows, which
        :class:`~sklearn_supreme.SupremeClusterer` centres pixel by pixel (see
        ``standardize``): the warp moves the mean image too, so in pixel units a
        copy is the warped image plus the mean image less its warp, a fixed
        pattern on top of the geometric change. The digits figures of the
        documentation were measured with this behaviour.

    Notes
    -----
    A scikit-learn estimator in its parameters (``get_params``, ``set_params``,
    :func:`~sklearn.base.clone`), so that a search reaches them through the
    estimator that uses it: ``{"augment__translate": [0.0, 0.125]}`` in
    :class:`~sklearn.model_selection.GridSearchCV`. As in scikit-learn, they are
    checked when used (each call, and ``fit`` of the estimator before it trains),
    not when set.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(4, 3, 8, 8)
    >>> ImagePerturbation()(x).shape
    torch.Size([4, 3, 8, 8])
    >>> ImagePerturbation(flip=False, image_shape=(1, 8, 8))(torch.randn(4, 64)).shape
    torch.Size([4, 64])
    """

    def __init__(self, scale=(0.8, 1.2), translate=0.125, flip=True, image_shape=None):
        self.scale = scale
        self.translate = translate
        self.flip = flip
        self.image_shape = image_shape

    def _validate(self):
        """Raise ValueError for settings that make degenerate copies: a zero or
        negative zoom, or a negative shift, would train on them without any error."""
        pair = _items(self.scale, 2, Real)
        if pair is None or not 0 < pair[0] <= pair[1] < math.inf:
            raise ValueError(
                f"ImagePerturbation: scale must be a pair (low, high) of zoom factors with "
                f"0 < low <= high; got {self.scale!r}."
            )
        _check_number("ImagePerturbation", "translate", self.translate, 0, math.inf)
        shape = _items(self.image_shape, 3, Integral)
        if self.image_shape is not None and (shape is None or min(shape) <= 0):
            raise ValueError(
                f"ImagePerturbation: image_shape must be (C, H, W), three positive "
                f"integers; got {self.image_shape!r}."
            )

    def __call__(self, x):
        self._validate()  # a few microseconds, against milliseconds for a step
        if self.image_shape is not None:
            if x.ndim != 2 or x.shape[1] != math.prod(self.image_shape):
                raise ValueError(
                    f"ImagePerturbation(image_shape={tuple(self.image_shape)}) warps feature "
                    f"rows of {math.prod(self.image_shape)} values; got a batch of shape "
                    f"{tuple(x.shape)}."
                )
            return self._warp(x.reshape(-1, *self.image_shape)).reshape(x.shape)
        if x.ndim != 4:
            raise ValueError(
                f"ImagePerturbation warps batches of images (N, C, H, W); got a batch of "
                f"shape {tuple(x.shape)}. For images given as feature rows, set "
                "image_shape=(C, H, W)."
            )
        return self._warp(x)

    def _warp(self, x):
        n = x.shape[0]
        device = x.device
        low, high = self.scale
        # grid_sample maps output to input coordinates, so zooming in by s samples 1/s.
        zoom = 1.0 / torch.empty(n, device=device).uniform_(low, high)
        sign = torch.ones(n, device=device)
        if self.flip:
            sign = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0)
        shift = torch.empty(n, 2, device=device).uniform_(-2 * self.translate, 2 * self.translate)
        theta = torch.zeros(n, 2, 3, device=device)
        theta[:, 0, 0] = zoom * sign
        theta[:, 1, 1] = zoom
        theta[:, :, 2] = shift
        # grid_sample interpolates floats: integer images (uint8) are warped as float32,
        # floating ones in their own precision, but for half precision on the CPU,
        # warped in float32 and returned in their dtype (torch 2.3's CPU grid_sample
        # has no float16 or bfloat16 kernel).
        dtype = x.dtype if x.is_floating_point() else torch.float32
        half_on_cpu = x.device.type == "cpu" and dtype in (torch.float16, torch.bfloat16)
        x = x.float() if half_on_cpu or not x.is_floating_point() else x
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection",
                            align_corners=False)
        return out.to(dtype).contiguous(memory_format=torch.channels_last)

    def __repr__(self):
        # Every setting, not scikit-learn's changed ones only: results files record
        # this repr, and must say what ran even if a default changes. (Inside an
        # estimator's repr, scikit-learn's printer shows the changed ones.)
        shape = f", image_shape={self.image_shape}" if self.image_shape is not None else ""
        return (
            f"ImagePerturbation(scale={self.scale}, translate={self.translate}, "
            f"flip={self.flip}{shape})"
        )


class VectorPerturbation(BaseEstimator):
    """Gaussian noise and random feature dropout on standardised feature vectors.

    Parameters
    ----------
    noise : float, default=0.2
        Standard deviation of the added noise, >= 0, in units of the common input scale
        (the root mean square of the feature stds; see ``standardize`` of
        :class:`~sklearn_supreme.SupremeClusterer`).
    dropout : float, default=0.1
        Fraction of features set to zero (the mean, after standardisation), in
        ``[0, 1)``.

    Notes
    -----
    A scikit-learn estimator in its parameters, checked when used, as
    :class:`ImagePerturbation`: ``{"augment__noise": [0.1, 0.2]}`` in a search.

    Examples
    --------
    >>> import torch
    >>> VectorPerturbation(noise=0.0, dropout=0.0)(torch.ones(2, 3))
    tensor([[1., 1., 1.],
            [1., 1., 1.]])
    >>> VectorPerturbation(noise=0.5)
    VectorPerturbation(noise=0.5, dropout=0.1)
    """

    def __init__(self, noise=0.2, dropout=0.1):
        self.noise = noise
        self.dropout = dropout

    def _validate(self):
        """Raise ValueError for a negative noise, or a dropout outside [0, 1)."""
        _check_number("VectorPerturbation", "noise", self.noise, 0, math.inf)
        # A dropout of 1 or more would zero every feature: each copy the mean vector.
        _check_number("VectorPerturbation", "dropout", self.dropout, 0, 1, high_closed=False)

    def __call__(self, x):
        self._validate()
        out = x
        if self.dropout > 0:
            keep = torch.rand_like(x) >= self.dropout
            out = out * keep
        if self.noise > 0:
            out = out + self.noise * torch.randn_like(x)
        return out

    def __repr__(self):
        # Every setting, as ImagePerturbation's repr.
        return f"VectorPerturbation(noise={self.noise}, dropout={self.dropout})"


def _items(value, n, kind):
    """The ``n`` items of the sequence ``value`` as a tuple if each is a ``kind`` (not a
    bool), else None; a string is no sequence here (``"12"`` is not a pair)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != n:
        return None
    items = tuple(value)
    ok = all(isinstance(v, kind) and not isinstance(v, bool) for v in items)
    return items if ok else None


def _check_number(owner, name, value, low, high, high_closed=True):
    """A ``ValueError`` naming ``owner``'s ``name`` unless ``low <= value <= high``
    (``< high`` when not ``high_closed``), a real number."""
    ok = (
        isinstance(value, Real) and not isinstance(value, bool)
        and low <= value and (value <= high if high_closed else value < high)
        and math.isfinite(value)
    )
    if not ok:
        bound = f"<= {high}" if high_closed else f"< {high}"
        if high == math.inf:
            bound = "finite"
        raise ValueError(
            f"{owner}: {name} must be a number >= {low} and {bound}; got {value!r}."
        )


def resolve_augment(augment, is_image):
    """The perturbation for ``augment``: ``"auto"`` picks by input kind, a callable is kept.

    Parameters
    ----------
    augment : "auto" or callable
        A callable takes a standardised float batch tensor and returns one of the
        same shape.
    is_image : bool

    Returns
    -------
    callable
    """
    if augment == "auto":
        return ImagePerturbation() if is_image else VectorPerturbation()
    return augment
