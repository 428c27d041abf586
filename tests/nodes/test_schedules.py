"""ModelSampling (SD1 noise levels) and ComfyUI's schedulers, checked against the published
formulas recomputed here with numpy, plus KSampler's sigma rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from nodes.sd.model_sampling import ModelSampling
from nodes.sd.schedules import SCHEDULERS, compute_sigmas, ksampler_sigmas


@pytest.fixture(scope="module")
def ms() -> ModelSampling:
    return ModelSampling.sd1()


def table() -> np.ndarray:
    """SD1's 1000 sigmas from the scaled-linear betas, in float64."""
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    alphas_cumprod = np.cumprod(1 - betas)
    return np.sqrt((1 - alphas_cumprod) / alphas_cumprod)


def interp_sigma(t: float) -> float:
    """Sigma at a fractional timestep by log-linear interpolation."""
    log_sigmas = np.log(table())
    low, high = math.floor(t), math.ceil(t)
    w = t - low
    return float(np.exp((1 - w) * log_sigmas[low] + w * log_sigmas[high]))


# ---------------------------------------------------------------- ModelSampling


def test_sd1_sigma_table(ms: ModelSampling) -> None:
    assert ms.sigmas.shape == (1000,) and ms.sigmas.dtype == torch.float32
    assert torch.all(ms.sigmas[1:] > ms.sigmas[:-1])
    np.testing.assert_allclose(ms.sigmas.numpy(), table(), rtol=1e-6)
    assert float(ms.sigma_min) == pytest.approx(0.0292, abs=1e-4)
    assert float(ms.sigma_max) == pytest.approx(14.6146, abs=1e-4)


def test_timestep_is_nearest_log_sigma(ms: ModelSampling) -> None:
    sigmas = ms.sigmas[[0, 10, 500, 999]]
    assert ms.timestep(sigmas).tolist() == [0.0, 10.0, 500.0, 999.0]
    assert ms.timestep(sigmas).dtype == torch.float32
    between = (ms.log_sigmas[300] * 0.7 + ms.log_sigmas[301] * 0.3).exp()
    assert float(ms.timestep(between)) == 300.0
    assert float(ms.timestep(torch.tensor(1000.0))) == 999.0
    assert float(ms.timestep(torch.tensor(1e-4))) == 0.0


def test_sigma_interpolates_log_linearly(ms: ModelSampling) -> None:
    at_integers = ms.sigma(torch.tensor([0.0, 42.0, 999.0]))
    torch.testing.assert_close(at_integers, ms.sigmas[[0, 42, 999]], rtol=1e-6, atol=0)
    for t in (0.25, 499.5, 998.9):
        assert float(ms.sigma(torch.tensor(t))) == pytest.approx(interp_sigma(t), rel=1e-5)
    assert torch.equal(ms.sigma(torch.tensor([-5.0, 2000.0])), ms.sigma(torch.tensor([0.0, 999.0])))


def test_percent_to_sigma(ms: ModelSampling) -> None:
    assert ms.percent_to_sigma(0.0) == 999999999.9
    assert ms.percent_to_sigma(-1.0) == 999999999.9
    assert ms.percent_to_sigma(1.0) == 0.0
    assert ms.percent_to_sigma(0.5) == pytest.approx(interp_sigma(499.5), rel=1e-5)
    assert ms.percent_to_sigma(0.2) == pytest.approx(interp_sigma(0.8 * 999), rel=1e-5)
    assert ms.percent_to_sigma(0.2) > ms.percent_to_sigma(0.8)


def test_eps_and_v_recover_the_clean_latent() -> None:
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 4, 3, 3, generator=gen)
    eps = torch.randn(2, 4, 3, 3, generator=gen)
    sigma = torch.tensor([0.5, 7.0])
    s = sigma.view(-1, 1, 1, 1)
    x = x0 + s * eps
    eps_model = ModelSampling.sd1("eps")
    torch.testing.assert_close(eps_model.calculate_denoised(sigma, eps, x), x0)
    alpha = 1 / (1 + s**2) ** 0.5
    v = alpha * eps - s * alpha * x0
    v_model = ModelSampling.sd1("v")
    torch.testing.assert_close(v_model.calculate_denoised(sigma, v, x), x0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(eps_model.calculate_input(sigma, x), x * alpha)
    scalar = eps_model.calculate_input(torch.tensor(3.0), x)
    torch.testing.assert_close(scalar, x / 10**0.5)


def test_noise_scaling(ms: ModelSampling) -> None:
    noise = torch.ones(1, 4, 2, 2)
    latent = torch.full((1, 4, 2, 2), 0.5)
    sigma = torch.tensor(2.0)
    assert torch.allclose(ms.noise_scaling(sigma, noise, latent), torch.full_like(noise, 2.5))
    top = ms.noise_scaling(sigma, noise, latent, max_denoise=True)
    assert torch.allclose(top, torch.full_like(noise, 5**0.5 + 0.5))
    assert ms.inverse_noise_scaling(sigma, latent) is latent
    assert ms.max_denoise(ms.sigma_max)
    assert ms.max_denoise(float(ms.sigma_max) * (1 + 5e-6))
    assert not ms.max_denoise(10.0)


def test_bad_prediction_type() -> None:
    with pytest.raises(ValueError, match="prediction"):
        ModelSampling.sd1("x0")  # type: ignore[arg-type]


# ---------------------------------------------------------------- schedulers


def reference(name: str, steps: int) -> np.ndarray:
    """The scheduler's published formula, computed independently in numpy."""
    sig = table().astype(np.float32).astype(np.float64)
    smin, smax = float(sig[0]), float(sig[-1])
    if name == "normal":
        return np.array([*(interp_sigma(t) for t in np.linspace(999, 0, steps)), 0.0])
    if name == "sgm_uniform":
        return np.array([*(interp_sigma(t) for t in np.linspace(999, 0, steps + 1)[:-1]), 0.0])
    if name == "karras":
        ramp = np.linspace(0, 1, steps)
        return np.append((smax ** (1 / 7) + ramp * (smin ** (1 / 7) - smax ** (1 / 7))) ** 7, 0)
    if name == "exponential":
        return np.append(np.exp(np.linspace(np.log(smax), np.log(smin), steps)), 0)
    if name == "simple":
        return np.append([sig[999 - int(i * 1000 / steps)] for i in range(steps)], 0)
    if name == "ddim_uniform":
        return np.append(sig[1 : 1000 : 1000 // steps][::-1], 0)
    if name == "beta":
        ts = np.rint(stats.beta.ppf(1 - np.arange(steps) / steps, 0.6, 0.6) * 999).astype(int)
        return np.append(sig[ts], 0)
    if name == "linear_quadratic":
        half = steps // 2
        diff = half - 0.025 * steps
        quad = [
            diff / (half * (steps - half) ** 2) * i**2
            + (0.025 / half - 2 * diff / (steps - half) ** 2) * i
            + diff / (half * (steps - half) ** 2) * half**2
            for i in range(half, steps)
        ]
        lin = [i * 0.025 / half for i in range(half)]
        return (1 - np.array([*lin, *quad, 1.0])) * smax
    if name == "kl_optimal":
        frac = np.arange(steps) / (steps - 1)
        return np.append(np.tan(frac * np.arctan(smin) + (1 - frac) * np.arctan(smax)), 0)
    raise AssertionError(name)


@pytest.mark.parametrize("name", SCHEDULERS)
@pytest.mark.parametrize("steps", [4, 10])
def test_scheduler_matches_formula(ms: ModelSampling, name: str, steps: int) -> None:
    sigmas = compute_sigmas(ms, name, steps)
    assert sigmas.dtype == torch.float32 and sigmas.device.type == "cpu"
    assert float(sigmas[-1]) == 0.0
    assert torch.all(sigmas[:-1] > sigmas[1:]), "sigmas must decrease"
    np.testing.assert_allclose(sigmas.numpy(), reference(name, steps), rtol=2e-5, atol=1e-6)


def test_known_values(ms: ModelSampling) -> None:
    karras = compute_sigmas(ms, "karras", 10)
    expected = [14.6146, 9.1029, 5.4784, 3.1686, 1.7494, 0.9141, 0.4469, 0.2014, 0.0819, 0.0292]
    assert karras[:-1].tolist() == pytest.approx(expected, abs=1e-4)
    assert compute_sigmas(ms, "normal", 10)[1].item() == pytest.approx(7.8399, abs=1e-4)
    assert compute_sigmas(ms, "ddim_uniform", 10)[0].item() == pytest.approx(float(ms.sigmas[901]))


def test_schedule_lengths_follow_comfyui(ms: ModelSampling) -> None:
    assert all(len(compute_sigmas(ms, name, 10)) == 11 for name in SCHEDULERS)
    # ddim_uniform walks the table with stride 1000 // steps, which can overshoot steps
    assert len(compute_sigmas(ms, "ddim_uniform", 7)) == 9
    # beta drops repeated timesteps at high step counts
    assert len(compute_sigmas(ms, "beta", 400)) < 401
    assert compute_sigmas(ms, "linear_quadratic", 1).tolist() == pytest.approx(
        [14.6146, 0], abs=1e-4
    )


def test_scheduler_errors(ms: ModelSampling) -> None:
    with pytest.raises(ValueError, match="unknown scheduler 'nope'"):
        compute_sigmas(ms, "nope", 10)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        compute_sigmas(ms, "karras", 0)
    with pytest.raises(ValueError, match="kl_optimal"):
        compute_sigmas(ms, "kl_optimal", 1)


# ---------------------------------------------------------------- KSampler's rules


def test_ksampler_full_denoise(ms: ModelSampling) -> None:
    assert torch.equal(
        ksampler_sigmas(ms, "karras", "euler", 10, 1.0), compute_sigmas(ms, "karras", 10)
    )
    assert torch.equal(
        ksampler_sigmas(ms, "normal", "euler", 10, 0.99995), compute_sigmas(ms, "normal", 10)
    )


@pytest.mark.parametrize("sampler", ["dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"])
def test_ksampler_drops_penultimate_sigma(ms: ModelSampling, sampler: str) -> None:
    sigmas = ksampler_sigmas(ms, "karras", sampler, 10, 1.0)
    longer = compute_sigmas(ms, "karras", 11)
    assert len(sigmas) == 11
    assert torch.equal(sigmas[:-1], longer[:-2]) and float(sigmas[-1]) == 0.0


def test_ksampler_partial_denoise(ms: ModelSampling) -> None:
    sigmas = ksampler_sigmas(ms, "normal", "euler", 10, 0.5)
    assert torch.equal(sigmas, compute_sigmas(ms, "normal", 20)[-11:])
    sigmas = ksampler_sigmas(ms, "karras", "euler", 4, 0.3)
    assert torch.equal(sigmas, compute_sigmas(ms, "karras", 13)[-5:])
    drop = ksampler_sigmas(ms, "karras", "dpm_2", 4, 0.5)
    assert torch.equal(drop[:-1], compute_sigmas(ms, "karras", 9)[-6:-2])


def test_ksampler_zero_denoise_and_errors(ms: ModelSampling) -> None:
    empty = ksampler_sigmas(ms, "normal", "euler", 10, 0.0)
    assert empty.shape == (0,) and empty.dtype == torch.float32
    assert ksampler_sigmas(ms, "normal", "euler", 10, -1.0).shape == (0,)
    with pytest.raises(ValueError, match="steps"):
        ksampler_sigmas(ms, "normal", "euler", 0, 1.0)
