"""The perturbations g(x) of the self-supervised remedy: what each setting does."""

import pytest
import torch

from sklearn_supreme import ImagePerturbation, VectorPerturbation
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
