"""ComfyUI's noise: seeded initial noise (with batch indexes) and the samplers' noise sources."""

from __future__ import annotations

import pytest
import torch
import torchsde

from nodes.sd.noise import (
    BrownianTreeNoiseSampler,
    brownian_noise_sampler,
    gaussian_noise_sampler,
    inpaint_noise,
    prepare_noise,
)


def test_prepare_noise_is_torch_cpu_randn_of_the_seed() -> None:
    latent = torch.zeros(2, 4, 8, 8, dtype=torch.float16)
    noise = prepare_noise(latent, 1234)
    expected = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1234))
    assert noise.dtype == torch.float32 and noise.device.type == "cpu"
    assert torch.equal(noise, expected)
    assert torch.equal(prepare_noise(latent, 1234), noise)
    assert not torch.equal(prepare_noise(latent, 1235), noise)


def test_prepare_noise_known_values() -> None:
    # torch's CPU generator for seed 0 (what ComfyUI's prepare_noise uses as well)
    noise = prepare_noise(torch.zeros(1, 3), 0)
    assert noise.flatten().tolist() == pytest.approx([1.5410, -0.2934, -2.1788], abs=1e-4)


def test_prepare_noise_large_seed() -> None:
    noise = prepare_noise(torch.zeros(1, 2), 2**64 - 1)
    expected = torch.randn(1, 2, generator=torch.Generator().manual_seed(2**64 - 1))
    assert torch.equal(noise, expected)


def test_batch_index_draws_per_image_noise() -> None:
    gen = torch.Generator().manual_seed(7)
    per_image = [torch.randn(1, 4, 3, 3, generator=gen) for _ in range(4)]
    picked = prepare_noise(torch.zeros(3, 4, 3, 3), 7, batch_index=[3, 1, 1])
    assert torch.equal(picked, torch.cat([per_image[3], per_image[1], per_image[1]]))
    first = prepare_noise(torch.zeros(1, 4, 3, 3), 7, batch_index=[0])
    assert torch.equal(first, per_image[0])
    with pytest.raises(ValueError, match="batch_index"):
        prepare_noise(torch.zeros(1, 4, 3, 3), 7, batch_index=[-1])


def test_gaussian_noise_sampler_uses_seed_plus_one() -> None:
    x = torch.zeros(2, 4, 5, 5)
    noise = gaussian_noise_sampler(x, 41)
    sigma = torch.tensor(1.0)
    gen = torch.Generator().manual_seed(42)
    first, second = noise(sigma, sigma), noise(sigma, sigma)
    assert torch.equal(first, torch.randn(2, 4, 5, 5, generator=gen))
    assert torch.equal(second, torch.randn(2, 4, 5, 5, generator=gen))
    assert first.dtype == x.dtype and first.device == x.device
    assert not torch.equal(first, prepare_noise(x, 41))


def test_inpaint_noise_is_independent_and_seeded() -> None:
    base = prepare_noise(torch.zeros(1, 4, 4, 4), 9)
    fresh = inpaint_noise(base, 9)
    assert torch.equal(fresh, torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(10)))
    assert not torch.equal(fresh, base)


def test_brownian_noise_follows_comfyui_sign_convention() -> None:
    x = torch.zeros(1, 4, 4, 4)
    sigmas = torch.tensor([10.0, 3.0, 1.0, 0.0])
    sampler = brownian_noise_sampler(x, sigmas, seed=5)
    tree = torchsde.BrownianTree(
        torch.tensor(1.0), torch.zeros_like(x), torch.tensor(10.0), entropy=5
    )
    expected = -tree(torch.tensor(3.0), torch.tensor(10.0)) / 7**0.5
    assert torch.allclose(sampler(sigmas[0], sigmas[1]), expected)


def test_brownian_increments_add_up_and_have_unit_variance() -> None:
    x = torch.zeros(4, 4, 16, 16)
    sampler = BrownianTreeNoiseSampler(x, torch.tensor(0.5), torch.tensor(12.0), seed=123)
    a, b, c = torch.tensor(12.0), torch.tensor(4.0), torch.tensor(0.5)
    whole = sampler(a, c) * (a - c).sqrt()
    parts = sampler(a, b) * (a - b).sqrt() + sampler(b, c) * (b - c).sqrt()
    torch.testing.assert_close(whole, parts, rtol=1e-4, atol=1e-4)
    step = sampler(a, b)
    assert abs(step.mean().item()) < 0.05 and abs(step.std().item() - 1) < 0.05
    again = BrownianTreeNoiseSampler(x, torch.tensor(0.5), torch.tensor(12.0), seed=123)
    assert torch.equal(again(a, b), step)
    other = BrownianTreeNoiseSampler(x, torch.tensor(0.5), torch.tensor(12.0), seed=124)
    assert not torch.equal(other(a, b), step)
