"""The sampling loops on an analytic denoiser: Gaussian data N(MU, SD^2) per element, whose exact
denoiser and probability-flow ODE solution are known in closed form."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torchsde
from torch import Tensor

from nodes.sd.model_sampling import ModelSampling
from nodes.sd.noise import prepare_noise
from nodes.sd.samplers import COMFY_SAMPLER_ORDER, SAMPLERS, inpaint_noise_for, sample
from nodes.sd.schedules import ksampler_sigmas

MU, SD = 0.5, 0.3

REQUIRED = {
    "euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast",
    "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m", "dpmpp_2m_sde",
    "dpmpp_3m_sde", "ddpm", "lcm", "ddim", "uni_pc", "uni_pc_bh2",
}  # fmt: skip
STOCHASTIC = {
    "euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_sde_gpu",
    "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "res_multistep_ancestral", "er_sde",
    "seeds_2", "seeds_3", "exp_heun_2_x0_sde",
}  # fmt: skip
DETERMINISTIC = sorted(set(SAMPLERS) - STOCHASTIC)
FIRST_ORDER = {"euler", "ddim", "heunpp2", "gradient_estimation"}
STEP_LOCAL = ["euler", "ddim", "heun", "dpm_2", "exp_heun_2_x0"]
"""Samplers whose steps use no history, so sampling can be split at any sigma."""


@pytest.fixture(scope="module")
def ms() -> ModelSampling:
    return ModelSampling.sd1()


def gaussian_denoiser(x: Tensor, sigma: Tensor) -> Tensor:
    """E[x0 | x0 + sigma * noise = x] for x0 ~ N(MU, SD^2)."""
    s = sigma.view(-1, 1, 1, 1)
    return (SD**2 * x + s**2 * MU) / (SD**2 + s**2)


def bent_denoiser(x: Tensor, sigma: Tensor) -> Tensor:
    """The Gaussian denoiser plus a non-linear term, so pinned values exercise every branch."""
    s = sigma.view(-1, 1, 1, 1)
    return gaussian_denoiser(x, sigma) + 0.05 * torch.tanh(x) * s / (1 + s)


def start(ms: ModelSampling, name: str, steps: int, batch: int = 2, size: int = 16):
    sigmas = ksampler_sigmas(ms, "karras", name, steps, 1.0)
    x = prepare_noise(torch.zeros(batch, 4, size, size), 3) * sigmas[0]
    return x, sigmas


def ode_solution(x: Tensor, sigma_from: Tensor, sigma_to: Tensor) -> Tensor:
    """The probability-flow ODE for Gaussian data moves x linearly towards MU."""
    return MU + (x - MU) * ((SD**2 + sigma_to**2) / (SD**2 + sigma_from**2)) ** 0.5


def test_sampler_names_follow_comfyui() -> None:
    assert set(SAMPLERS) >= REQUIRED
    positions = [COMFY_SAMPLER_ORDER.index(name) for name in SAMPLERS]
    assert positions == sorted(positions)
    assert SAMPLERS[-3:] == ("ddim", "uni_pc", "uni_pc_bh2")
    assert SAMPLERS[0] == "euler"
    assert not any("cfg_pp" in name for name in SAMPLERS)


@pytest.mark.parametrize("name", SAMPLERS)
def test_lands_on_the_data_distribution(ms: ModelSampling, name: str) -> None:
    x, sigmas = start(ms, name, 30, batch=4)
    out = sample(name, gaussian_denoiser, x, sigmas, seed=1)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert abs(out.mean().item() - MU) < 0.03
    if name == "lcm":
        # LCM jumps to the posterior mean and re-noises it, which loses the posterior's own
        # variance: with an exact (not consistency-distilled) denoiser it under-disperses.
        assert 0.15 < out.std().item() < SD
    else:
        assert abs(out.std().item() - SD) < 0.05


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_samplers_solve_the_ode(ms: ModelSampling, name: str) -> None:
    x, sigmas = start(ms, name, 30)
    out = sample(name, gaussian_denoiser, x, sigmas, seed=1)
    # dpm_fast / dpm_adaptive stop at the last non-zero sigma, as in ComfyUI
    end = sigmas[-2] if name in ("dpm_fast", "dpm_adaptive") else sigmas[-1]
    error = (out - ode_solution(x, sigmas[0], end)).abs().max().item()
    assert error < (0.1 if name in FIRST_ORDER else 0.03)


@pytest.mark.parametrize("name", SAMPLERS)
def test_repeatability(ms: ModelSampling, name: str) -> None:
    x, sigmas = start(ms, name, 6, size=8)
    first = sample(name, bent_denoiser, x, sigmas, seed=10)
    assert torch.equal(first, sample(name, bent_denoiser, x, sigmas, seed=10))
    other_seed = sample(name, bent_denoiser, x, sigmas, seed=11)
    if name in STOCHASTIC:
        assert not torch.allclose(first, other_seed)
    else:
        assert torch.equal(first, other_seed)


@pytest.mark.parametrize("name", STEP_LOCAL)
def test_split_run_equals_full_run(ms: ModelSampling, name: str) -> None:
    sigmas = ksampler_sigmas(ms, "normal", "euler", 8, 1.0)
    x = prepare_noise(torch.zeros(1, 4, 8, 8), 5) * sigmas[0]
    full = sample(name, bent_denoiser, x, sigmas, seed=0)
    half = sample(name, bent_denoiser, x, sigmas[:5], seed=0)
    assert half.std() > full.std()  # stopped early: leftover noise
    assert torch.equal(sample(name, bent_denoiser, half, sigmas[4:], seed=0), full)


def test_multistep_restarts_history_at_a_split(ms: ModelSampling) -> None:
    sigmas = ksampler_sigmas(ms, "normal", "euler", 8, 1.0)
    x = prepare_noise(torch.zeros(1, 4, 8, 8), 5) * sigmas[0]
    full = sample("dpmpp_2m", bent_denoiser, x, sigmas, seed=0)
    half = sample("dpmpp_2m", bent_denoiser, x, sigmas[:5], seed=0)
    split = sample("dpmpp_2m", bent_denoiser, half, sigmas[4:], seed=0)
    assert not torch.equal(split, full)
    assert torch.allclose(split, full, atol=0.05)


def expected_callbacks(name: str, sigmas: Tensor) -> int | None:
    steps = len(sigmas) - 1
    if name == "dpm_fast":
        return steps // 3 + 1  # one report per solver step of order 3, 2 or 1
    if name == "dpm_adaptive":
        return None  # one per attempted adaptive step
    return steps


@pytest.mark.parametrize("name", SAMPLERS)
def test_callback_reports_every_step(ms: ModelSampling, name: str) -> None:
    x, sigmas = start(ms, name, 7, size=4)
    seen: list[dict[str, Any]] = []
    sample(name, gaussian_denoiser, x, sigmas, seed=0, callback=seen.append)
    count = expected_callbacks(name, sigmas)
    if count is None:
        assert len(seen) >= 1
    else:
        assert len(seen) == count
    assert [info["i"] for info in seen] == list(range(len(seen)))
    for info in seen:
        assert {"i", "x", "sigma", "sigma_hat", "denoised"} <= info.keys()
        assert info["denoised"].shape == x.shape and info["x"].shape == x.shape


class Stop(Exception):
    pass


@pytest.mark.parametrize("name", SAMPLERS)
def test_callback_exception_propagates(ms: ModelSampling, name: str) -> None:
    x, sigmas = start(ms, name, 5, size=4)
    calls: list[int] = []

    def model(x: Tensor, sigma: Tensor) -> Tensor:
        calls.append(1)
        return gaussian_denoiser(x, sigma)

    def stop(info: dict[str, Any]) -> None:
        raise Stop(info["i"])

    with pytest.raises(Stop):
        sample(name, model, x, sigmas, seed=0, callback=stop)
    assert len(calls) <= 3  # stopped after the first step's model calls


def test_denoiser_gets_one_sigma_per_image(ms: ModelSampling) -> None:
    shapes: list[tuple[int, ...]] = []

    def model(x: Tensor, sigma: Tensor) -> Tensor:
        shapes.append(tuple(sigma.shape))
        return gaussian_denoiser(x, sigma)

    for name in ("euler", "dpm_fast", "uni_pc", "dpmpp_sde"):
        x, sigmas = start(ms, name, 4, batch=3, size=4)
        sample(name, model, x, sigmas, seed=0)
    assert set(shapes) == {(3,)}


def test_ancestral_noise_is_seeded_like_comfyui() -> None:
    """One euler_ancestral step with a zero denoiser exposes the noise: seed + 1 on the CPU."""
    s0, s1 = torch.tensor(4.0), torch.tensor(2.0)
    x = torch.ones(1, 4, 3, 3)
    out = sample(
        "euler_ancestral", lambda x, s: torch.zeros_like(x), x, torch.stack([s0, s1]), seed=20
    )
    sigma_up = (s1**2 * (s0**2 - s1**2) / s0**2) ** 0.5
    sigma_down = (s1**2 - sigma_up**2) ** 0.5
    noise = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(21))
    torch.testing.assert_close(out, x * sigma_down / s0 + noise * sigma_up)


def test_sde_noise_comes_from_the_seeded_brownian_tree() -> None:
    """One dpmpp_2m_sde step with a zero denoiser: x shrinks by (s1/s0)^2 and gains Brownian
    noise between s1 and s0 (ComfyUI's sign convention)."""
    s0, s1 = 4.0, 2.0
    x = torch.ones(1, 4, 3, 3)
    sigmas = torch.tensor([s0, s1])
    out = sample("dpmpp_2m_sde", lambda x, s: torch.zeros_like(x), x, sigmas, seed=8)
    tree = torchsde.BrownianTree(torch.tensor(s1), torch.zeros_like(x), torch.tensor(s0), entropy=8)
    noise = -tree(torch.tensor(s1), torch.tensor(s0)) / (s0 - s1) ** 0.5
    expected = (s1 / s0) ** 2 * x + noise * s1 * (1 - (s1 / s0) ** 2) ** 0.5
    torch.testing.assert_close(out, expected)


# Outputs of ComfyUI's own sampler code (comfy/k_diffusion/sampling.py and
# comfy/extra_samplers/uni_pc.py, run on the CPU) for bent_denoiser, karras sigmas (8 steps;
# 9 with the penultimate dropped for uni_pc), noise prepare_noise([1, 4, 8, 8], 11), seed 5.
COMFYUI_OUTPUTS = {
    "euler_ancestral": (131.14305394887924, [0.6021375060, 0.5075491667, 0.4748423398]),
    "dpmpp_3m_sde": (121.8512314693071, [0.2626492977, 0.4186840653, 0.5543076992]),
    "dpm_adaptive": (125.28117659501731, [0.3294951022, 0.8333406448, 0.3804854453]),
    "uni_pc": (125.17662302963436, [0.3266344369, 0.8356109858, 0.3780757487]),
    "uni_pc_bh2": (125.44707805896178, [0.3368587792, 0.8176767826, 0.3855799735]),
    "lms": (126.04461600910872, [0.3562296927, 0.7846699357, 0.4006507099]),
}


@pytest.mark.parametrize("name", sorted(COMFYUI_OUTPUTS))
def test_matches_comfyui_outputs(ms: ModelSampling, name: str) -> None:
    sigmas = ksampler_sigmas(ms, "karras", name, 8, 1.0)
    x = prepare_noise(torch.zeros(1, 4, 8, 8), 11) * sigmas[0]
    out = sample(name, bent_denoiser, x, sigmas, seed=5)
    total, first = COMFYUI_OUTPUTS[name]
    assert out.double().sum().item() == pytest.approx(total, rel=1e-5)
    assert out[0, 0, 0, :3].tolist() == pytest.approx(first, abs=1e-5)


def test_input_validation(ms: ModelSampling) -> None:
    x, sigmas = start(ms, "euler", 3, size=4)
    with pytest.raises(ValueError, match="unknown sampler 'euler_cfg_pp'"):
        sample("euler_cfg_pp", gaussian_denoiser, x, sigmas, seed=0)
    with pytest.raises(ValueError, match="1-D"):
        sample("euler", gaussian_denoiser, x, sigmas[None], seed=0)
    with pytest.raises(ValueError, match="floating point"):
        sample("euler", gaussian_denoiser, x.long(), sigmas, seed=0)
    assert sample("euler", gaussian_denoiser, x, sigmas[:1], seed=0) is x
    as_double = sample("euler", gaussian_denoiser, x, sigmas.double(), seed=0)
    assert torch.equal(as_double, sample("euler", gaussian_denoiser, x, sigmas, seed=0))


def test_inpaint_noise_for_ddim_only() -> None:
    noise = prepare_noise(torch.zeros(1, 4, 4, 4), 3)
    assert inpaint_noise_for("euler", noise, 3) is noise
    fresh = inpaint_noise_for("ddim", noise, 3)
    assert torch.equal(fresh, torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(4)))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["euler_ancestral", "dpmpp_2m_sde", "uni_pc", "dpm_adaptive"])
def test_same_seed_same_result_on_cuda(ms: ModelSampling, name: str) -> None:
    x, sigmas = start(ms, name, 8, size=8)
    on_cpu = sample(name, bent_denoiser, x, sigmas, seed=4)
    on_gpu = sample(name, bent_denoiser, x.cuda(), sigmas, seed=4)
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-4, atol=1e-4)
