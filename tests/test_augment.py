"""The perturbations g(x) of the self-supervised remedy: what each setting does."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from sklearn_supreme import ImagePerturbation, SupremeClusterer, VectorPerturbation
from sklearn_supreme.metrics import cluster_accuracy_scorer
from sklearn_supreme._augment import resolve_augment


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


def test_vector_dropout_zeroes_that_fraction():
    out = VectorPerturbation(noise=0.0, dropout=0.3)(torch.ones(20000, 10))
    assert set(out.unique().tolist()) == {0.0, 1.0}
    assert (out == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)


def test_vector_noise_has_that_std():
    x = torch.ones(20000, 10)
    out = VectorPerturbation(noise=0.5, dropout=0.0)(x)
    assert (out - x).mean().item() == pytest.approx(0.0, abs=0.01)
    assert (out - x).std().item() == pytest.approx(0.5, rel=0.02)


def test_vector_default_noise_follows_dropout():
    # defaults noise=0.2, dropout=0.1: a dropped one becomes 0, then every feature gets
    # noise, so the mean is 0.9 and the variance 0.9 * 0.1 + 0.2 ** 2 = 0.13
    torch.manual_seed(0)
    out = VectorPerturbation()(torch.ones(20000, 10))
    assert out.mean().item() == pytest.approx(0.9, abs=0.005)
    assert out.var().item() == pytest.approx(0.13, rel=0.03)


def test_image_identity_without_zoom_shift_or_flip():
    x = torch.rand(16, 3, 8, 8)
    same = ImagePerturbation(scale=(1.0, 1.0), translate=0.0, flip=False)(x)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)


def test_image_flip_mirrors_about_half_of_the_images():
    x = torch.rand(64, 1, 8, 8)
    out = ImagePerturbation(scale=(1.0, 1.0), translate=0.0, flip=True)(x)
    flipped = torch.tensor([torch.allclose(o, xi.flip(-1), atol=1e-5) for o, xi in zip(out, x)])
    kept = torch.tensor([torch.allclose(o, xi, atol=1e-5) for o, xi in zip(out, x)])
    assert (flipped | kept).all() and flipped.any() and kept.any()


def test_image_zoom_by_hand():
    # A horizontal ramp, value = column index. Zooming in by 2 about the centre (3.5)
    # halves the slope: column j shows the input at 3.5 + (j - 3.5) / 2.
    columns = torch.arange(8, dtype=torch.float32)
    x = columns.expand(4, 1, 8, 8).clone()
    out = ImagePerturbation(scale=(2.0, 2.0), translate=0.0, flip=False)(x)
    expected = (3.5 + (columns - 3.5) / 2).expand(4, 1, 8, 8)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_image_default_zoom_shift_and_flip_ranges():
    # Channel 0 is a horizontal ramp (value = column), channel 1 a vertical one (value =
    # row). Output pixel c samples the input at 3.5 + zoom * sign * (c - 3.5) + shift * 4
    # (8 pixels span [-1, 1]), so around the centre, where no border is reached, the
    # slope between pixels 3 and 4 is the zoom (with the flip's sign) and their mean
    # minus 3.5 the shift in pixels.
    torch.manual_seed(0)
    n = 4000
    ramp = torch.arange(8.0).expand(8, 8)
    x = torch.stack([ramp, ramp.T]).expand(n, 2, 8, 8).clone()
    out = ImagePerturbation()(x)  # scale=(0.8, 1.2), translate=0.125, flip=True
    h_slope = out[:, 0, 4, 4] - out[:, 0, 4, 3]
    v_slope = out[:, 1, 4, 4] - out[:, 1, 3, 4]
    h_shift = (out[:, 0, 4, 3] + out[:, 0, 4, 4]) / 2 - 3.5
    v_shift = (out[:, 1, 3, 4] + out[:, 1, 4, 4]) / 2 - 3.5
    # one zoom for both axes, drawn over the whole of [1 / 1.2, 1 / 0.8]
    torch.testing.assert_close(h_slope.abs(), v_slope, atol=1e-4, rtol=0)
    assert v_slope.min() >= 1 / 1.2 - 1e-4 and v_slope.max() <= 1 / 0.8 + 1e-4
    assert v_slope.min() < 1 / 1.2 + 0.01 and v_slope.max() > 1 / 0.8 - 0.01
    # half of the images are mirrored, and only horizontally
    assert (h_slope < 0).float().mean().item() == pytest.approx(0.5, abs=0.05)
    # shifts of up to 0.125 of the side (1 pixel) along both axes
    for shift in (h_shift, v_shift):
        assert shift.abs().max() <= 1 + 1e-4 and shift.abs().max() > 0.95
        assert shift.mean().item() == pytest.approx(0.0, abs=0.05)


def test_image_zoom_out_reflects_at_the_border():
    # Zooming out by 2, column c samples the ramp at 3.5 + 2 * (c - 3.5); positions past
    # the edges (-0.5 and 7.5) are mirrored back in, not filled with zeros.
    columns = torch.arange(8, dtype=torch.float32)
    x = columns.expand(2, 1, 8, 8).clone()
    out = ImagePerturbation(scale=(0.5, 0.5), translate=0.0, flip=False)(x)
    expected = torch.tensor([2.5, 0.5, 0.5, 2.5, 4.5, 6.5, 6.5, 4.5]).expand(2, 1, 8, 8)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16, torch.uint8])
def test_image_warps_any_input_type(dtype):
    # Floating images keep their precision, integer ones (uint8) become float32; the
    # same draws warp them alike.
    x = (torch.rand(4, 3, 8, 8) * 255).round()
    torch.manual_seed(0)
    reference = ImagePerturbation()(x)
    torch.manual_seed(0)
    out = ImagePerturbation()(x.to(dtype))
    assert out.dtype == (dtype if dtype.is_floating_point else torch.float32)
    if dtype in (torch.float16, torch.bfloat16):
        # Integer pixels are exact in half precision, and the CPU warps them in
        # float32: the float32 warp, rounded once (torch 2.3 has no half kernel).
        assert torch.equal(out, reference.to(dtype))
    else:
        torch.testing.assert_close(out.float(), reference, atol=1e-3, rtol=0)


def test_image_translation_moves_the_image():
    x = torch.rand(32, 1, 8, 8)
    out = ImagePerturbation(scale=(1.0, 1.0), translate=0.125, flip=False)(x)
    moved = torch.tensor([not torch.allclose(o, xi, atol=1e-3) for o, xi in zip(out, x)])
    assert moved.float().mean() > 0.9


def test_image_shape_warps_feature_rows_as_images():
    x = torch.rand(32, 64)
    identity = ImagePerturbation(scale=(1.0, 1.0), translate=0.0, flip=False, image_shape=(1, 8, 8))
    torch.testing.assert_close(identity(x), x, atol=1e-5, rtol=0)
    flip = ImagePerturbation(scale=(1.0, 1.0), translate=0.0, flip=True, image_shape=(1, 8, 8))
    out = flip(x)
    assert out.shape == x.shape
    mirrored = x.reshape(-1, 8, 8).flip(-1).reshape(-1, 64)
    match = [torch.allclose(o, a, atol=1e-5) or torch.allclose(o, b, atol=1e-5)
             for o, a, b in zip(out, x, mirrored)]
    assert all(match)


def test_resolve_augment():
    assert isinstance(resolve_augment("auto", is_image=True), ImagePerturbation)
    assert isinstance(resolve_augment("auto", is_image=False), VectorPerturbation)
    custom = VectorPerturbation(noise=0.0)
    assert resolve_augment(custom, is_image=True) is custom


def test_image_perturbation_names_a_batch_it_cannot_warp():
    with pytest.raises(ValueError, match=r"batches of images \(N, C, H, W\); got a batch of "
                       r"shape \(4, 64\)\. For images given as feature rows, set image_shape"):
        ImagePerturbation()(torch.randn(4, 64))
    with pytest.raises(ValueError, match=r"image_shape=\(1, 8, 8\)\) warps feature rows of 64 "
                       r"values; got a batch of shape \(4, 63\)"):
        ImagePerturbation(image_shape=(1, 8, 8))(torch.randn(4, 63))


@pytest.mark.parametrize("shape", [(4, 64, 1), (64,)])
def test_image_shape_warps_batches_of_rows_only(shape):
    with pytest.raises(ValueError, match=r"warps feature rows of 64 values; got a batch of "
                                         rf"shape \({shape[0]},"):
        ImagePerturbation(image_shape=(1, 8, 8))(torch.zeros(shape))


@pytest.mark.parametrize("shape", [(3, 8, 8), (1, 1, 3, 8, 8)])
def test_image_perturbation_warps_4d_batches_only(shape):
    # A single (C, H, W) image, or a 5-D batch, would fail inside affine_grid.
    with pytest.raises(ValueError, match=r"warps batches of images \(N, C, H, W\)"):
        ImagePerturbation()(torch.zeros(shape))


def test_image_perturbation_repr_and_memory_layout():
    # The repr is what results files record of the setting: image_shape must be in it.
    assert repr(ImagePerturbation(image_shape=(1, 8, 8))) == (
        "ImagePerturbation(scale=(0.8, 1.2), translate=0.125, flip=True, image_shape=(1, 8, 8))"
    )
    assert repr(ImagePerturbation(flip=False)) == (
        "ImagePerturbation(scale=(0.8, 1.2), translate=0.125, flip=False)"
    )
    # Channels-last, as the adapter hands images to the convolutions.
    assert ImagePerturbation()(torch.randn(2, 3, 8, 8)).is_contiguous(
        memory_format=torch.channels_last
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: VectorPerturbation(noise=-0.1), "noise must be a number >= 0"),
        (lambda: VectorPerturbation(noise=float("inf")), "noise must be .* finite"),
        (lambda: VectorPerturbation(dropout=1.0), r"dropout must be a number >= 0 and < 1"),
        (lambda: VectorPerturbation(dropout=-0.5), "dropout must be"),
        (lambda: VectorPerturbation(noise="0.2"), "noise must be a number"),
        (lambda: ImagePerturbation(scale=(0, 0)), r"scale must be a pair .* 0 < low <= high"),
        (lambda: ImagePerturbation(scale=(-1, 2)), "scale must be a pair"),
        (lambda: ImagePerturbation(scale=(1.2, 0.8)), "scale must be a pair"),
        (lambda: ImagePerturbation(scale=1.0), "scale must be a pair"),
        (lambda: ImagePerturbation(scale="12"), "scale must be a pair"),
        (lambda: ImagePerturbation(translate=-0.1), "translate must be a number >= 0"),
        (lambda: ImagePerturbation(image_shape=(8, 8)), r"image_shape must be \(C, H, W\)"),
        (lambda: ImagePerturbation(image_shape=64), "image_shape must be"),
        (lambda: ImagePerturbation(image_shape="188"), "image_shape must be"),
        (lambda: ImagePerturbation(image_shape=(1, 0, 8)), "three positive integers"),
    ],
)
def test_perturbations_refuse_settings_that_make_degenerate_copies(
    make, message, monkeypatch
):
    perturbation = make()  # stored, as scikit-learn's __init__ does; checked when used
    batch = torch.zeros(2, 64) if isinstance(perturbation, VectorPerturbation) else (
        torch.zeros(2, 1, 8, 8)
    )
    with pytest.raises(ValueError, match=message):
        perturbation(batch)
    # Set later, as a search sets it: refused by fit, before any training.
    X, y = load_digits(return_X_y=True)
    monkeypatch.setattr(SupremeClusterer, "_pretrain", _no_training)
    name, value = next(
        (k, v) for k, v in perturbation.get_params().items()
        if v != type(perturbation)().get_params()[k]
    )
    model = SupremeClusterer(n_clusters=3, augment=type(perturbation)())
    model.set_params(**{f"augment__{name}": value})
    with pytest.raises(ValueError, match=message):
        model.fit(X[y >= 5], source=(X[y < 5], y[y < 5]))
    assert not hasattr(model, "n_features_in_")


def _no_training(*args, **kwargs):
    raise AssertionError("training started")


def test_perturbations_are_estimators_a_search_reaches():
    image = ImagePerturbation(flip=False, image_shape=(1, 8, 8))
    assert image.get_params() == {
        "scale": (0.8, 1.2), "translate": 0.125, "flip": False, "image_shape": (1, 8, 8),
    }
    copy = clone(image)
    assert copy is not image and repr(copy) == repr(image)
    model = SupremeClusterer(augment=image).set_params(augment__translate=0.0)
    assert image.translate == 0.0 and model.get_params()["augment__translate"] == 0.0
    vector = SupremeClusterer(augment=VectorPerturbation())
    assert clone(vector).set_params(augment__noise=0.5).augment.noise == 0.5
    assert vector.augment.noise == 0.2  # the clone's perturbation is its own
    # A search over a perturbation's setting, through the estimator that uses it.
    X, y = load_digits(return_X_y=True)
    search = GridSearchCV(
        SupremeClusterer(n_clusters=5, pretrain_epochs=1, max_epochs=1, random_state=0,
                         augment=ImagePerturbation(flip=False, image_shape=(1, 8, 8))),
        {"augment__translate": [0.0, 0.125]}, scoring=cluster_accuracy_scorer, cv=2,
    )
    with warnings.catch_warnings():
        # One epoch may leave a cluster empty; the search does not depend on it.
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X[y >= 5], y[y >= 5], source=(X[y < 5], y[y < 5]))
    assert list(search.cv_results_["param_augment__translate"]) == [0.0, 0.125]
    assert search.best_estimator_.augment.translate in (0.0, 0.125)


def test_perturbations_accept_their_boundary_settings():
    # No noise, no dropout, no zoom, no shift: the identity, allowed.
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(
        ImagePerturbation(scale=(1, 1), translate=0, flip=False)(x), x
    )
    v = torch.randn(2, 6)
    torch.testing.assert_close(VectorPerturbation(noise=0, dropout=0)(v), v)
    assert ImagePerturbation(image_shape=[1, 8, 8]).image_shape == [1, 8, 8]
    rows = torch.randn(2, 64)
    torch.manual_seed(0)
    from_array = ImagePerturbation(image_shape=np.array([1, 8, 8]))(rows)
    torch.manual_seed(0)
    torch.testing.assert_close(from_array, ImagePerturbation(image_shape=(1, 8, 8))(rows))
