"""Batch augmentations on the trial's device, tabular and image."""

from __future__ import annotations

import optuna
import pytest
import torch

from hpsearch.spaces import SpaceContext, get_space
from hpsearch.trainable import HParams, build_augmentation

SHAPE = (1, 6, 6)


def images(batch: int = 32) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(batch, 36) + 0.1  # no zeros, so blanked pixels are visible


def augment(name: str, strength: float, x: torch.Tensor) -> torch.Tensor:
    fn = build_augmentation(HParams(augmentation=name, augmentation_strength=strength), SHAPE)
    out, y_a, y_b, lam = fn(x, torch.zeros(len(x)))
    assert out.shape == x.shape and lam == 1.0 and torch.equal(y_a, y_b)
    return out


def test_flip_mirrors_whole_images() -> None:
    x = images()
    out = augment("flip", 1.0, x).view(-1, *SHAPE)
    assert torch.equal(out, x.view(-1, *SHAPE).flip(-1))
    assert torch.equal(augment("flip", 1e-9, x), x)


def test_cutout_blanks_one_square_per_image() -> None:
    out = augment("cutout", 0.5, images()).view(-1, 6, 6)
    zeros = (out == 0).sum(dim=(1, 2))
    assert torch.all(zeros == 9)  # a 3x3 square


@pytest.mark.parametrize(("name", "strength"), [("shift", 0.2), ("rotate", 20.0)])
def test_geometric_augmentations_move_pixels_differently_per_image(
    name: str, strength: float
) -> None:
    x = images()
    out = augment(name, strength, x)
    assert not torch.allclose(out, x)
    deltas = (out - x).abs().sum(dim=1)
    assert deltas.unique().numel() > 1  # each image got its own transform


def test_small_rotation_keeps_most_of_the_image() -> None:
    x = images()
    out = augment("rotate", 1.0, x)
    assert torch.allclose(out.view(-1, 6, 6)[:, 2:4, 2:4], x.view(-1, 6, 6)[:, 2:4, 2:4], atol=0.2)


def test_image_augmentations_need_an_image_shape() -> None:
    with pytest.raises(ValueError, match="needs image-shaped data"):
        build_augmentation(HParams(augmentation="flip", augmentation_strength=0.5), None)


def test_mixup_mixes_inputs_and_labels() -> None:
    fn = build_augmentation(HParams(augmentation="mixup", augmentation_strength=0.4))
    x = torch.arange(20.0).view(10, 2)
    y = torch.arange(10)
    out, y_a, y_b, lam = fn(x, y)
    assert 0.0 <= lam <= 1.0 and torch.equal(y_a, y)
    assert torch.allclose(out, lam * x + (1 - lam) * x[y_b])


def test_the_space_offers_image_augmentations_only_for_images() -> None:
    def offered(ctx: SpaceContext) -> set[str]:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        return {get_space("mlp")(study.ask(), ctx)["augmentation"] for _ in range(150)}

    assert offered(SpaceContext()) == {"none", "noise", "mixup", "feature_dropout"}
    image_ctx = SpaceContext(num_features=36, input_shape=SHAPE)
    assert {"shift", "flip", "rotate", "cutout"} <= offered(image_ctx)
