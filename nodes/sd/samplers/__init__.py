"""The sampler registry: ComfyUI's sampler names, each mapped to the loop ComfyUI runs for it."""

from __future__ import annotations

import torch
from torch import Tensor

from nodes.sd.noise import inpaint_noise
from nodes.sd.samplers import basic, dpm_solver, dpmpp, exponential, multistep, uni_pc
from nodes.sd.samplers.common import Callback, Denoiser, SamplerFunction

COMFY_SAMPLER_ORDER: tuple[str, ...] = (
    "euler",
    "euler_cfg_pp",
    "euler_ancestral",
    "euler_ancestral_cfg_pp",
    "heun",
    "heunpp2",
    "exp_heun_2_x0",
    "exp_heun_2_x0_sde",
    "dpm_2",
    "dpm_2_ancestral",
    "lms",
    "dpm_fast",
    "dpm_adaptive",
    "dpmpp_2s_ancestral",
    "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde",
    "dpmpp_sde_gpu",
    "dpmpp_2m",
    "dpmpp_2m_cfg_pp",
    "dpmpp_2m_sde",
    "dpmpp_2m_sde_gpu",
    "dpmpp_2m_sde_heun",
    "dpmpp_2m_sde_heun_gpu",
    "dpmpp_3m_sde",
    "dpmpp_3m_sde_gpu",
    "ddpm",
    "lcm",
    "ipndm",
    "ipndm_v",
    "deis",
    "cfgpp_ud10_ab",
    "res_multistep",
    "res_multistep_cfg_pp",
    "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp",
    "gradient_estimation",
    "gradient_estimation_cfg_pp",
    "er_sde",
    "seeds_2",
    "seeds_3",
    "sa_solver",
    "sa_solver_pece",
    "ddim",
    "uni_pc",
    "uni_pc_bh2",
)
"""ComfyUI's SAMPLER_NAMES (KSAMPLER_NAMES, then ddim, uni_pc, uni_pc_bh2), newest order."""

_LOOPS: dict[str, SamplerFunction] = {
    "euler": basic.euler,
    "euler_ancestral": basic.euler_ancestral,
    "heun": basic.heun,
    "heunpp2": basic.heunpp2,
    "exp_heun_2_x0": exponential.exp_heun_2_x0,
    "exp_heun_2_x0_sde": exponential.exp_heun_2_x0_sde,
    "dpm_2": basic.dpm_2,
    "dpm_2_ancestral": basic.dpm_2_ancestral,
    "lms": basic.lms,
    "dpm_fast": dpm_solver.dpm_fast,
    "dpm_adaptive": dpm_solver.dpm_adaptive,
    "dpmpp_2s_ancestral": dpmpp.dpmpp_2s_ancestral,
    "dpmpp_sde": dpmpp.dpmpp_sde,
    # The *_gpu variants differ in ComfyUI only by drawing the Brownian noise on the GPU; here
    # all noise is drawn on the CPU, which is exactly what ComfyUI does for them on a CPU.
    "dpmpp_sde_gpu": dpmpp.dpmpp_sde,
    "dpmpp_2m": dpmpp.dpmpp_2m,
    "dpmpp_2m_sde": dpmpp.dpmpp_2m_sde,
    "dpmpp_2m_sde_gpu": dpmpp.dpmpp_2m_sde,
    "dpmpp_2m_sde_heun": dpmpp.dpmpp_2m_sde_heun,
    "dpmpp_2m_sde_heun_gpu": dpmpp.dpmpp_2m_sde_heun,
    "dpmpp_3m_sde": dpmpp.dpmpp_3m_sde,
    "dpmpp_3m_sde_gpu": dpmpp.dpmpp_3m_sde,
    "ddpm": basic.ddpm,
    "lcm": basic.lcm,
    "ipndm": multistep.ipndm,
    "ipndm_v": multistep.ipndm_v,
    "res_multistep": multistep.res_multistep,
    "res_multistep_ancestral": multistep.res_multistep_ancestral,
    "gradient_estimation": multistep.gradient_estimation,
    "er_sde": exponential.er_sde,
    "seeds_2": exponential.seeds_2,
    "seeds_3": exponential.seeds_3,
    # ComfyUI's "ddim" is the euler loop; it differs only in the noise used to re-noise the
    # masked-out area when inpainting (see inpaint_noise_for).
    "ddim": basic.euler,
    "uni_pc": uni_pc.uni_pc,
    "uni_pc_bh2": uni_pc.uni_pc_bh2,
}

SAMPLERS: tuple[str, ...] = tuple(name for name in COMFY_SAMPLER_ORDER if name in _LOOPS)
"""The sampler names this engine implements, in ComfyUI's order (KSampler's combo)."""

__all__ = ["SAMPLERS", "Callback", "Denoiser", "inpaint_noise_for", "sample"]


def sample(
    sampler_name: str,
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    seed: int,
    callback: Callback = None,
) -> Tensor:
    """Run `sampler_name` from x (already noised for sigmas[0]) down the sigmas.

    model(x, sigma_batch) returns the denoised prediction. Noise drawn while sampling is seeded
    from `seed` as ComfyUI does. With fewer than two sigmas there is no step and x is returned.
    """
    loop = _LOOPS.get(sampler_name)
    if loop is None:
        raise ValueError(f"unknown sampler {sampler_name!r}; expected one of {list(SAMPLERS)}")
    if sigmas.ndim != 1:
        raise ValueError(
            f"sampler {sampler_name}: sigmas must be 1-D, got shape {tuple(sigmas.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(
            f"sampler {sampler_name}: x must be a floating point tensor, got {x.dtype}"
        )
    if len(sigmas) < 2:
        return x
    sigmas = sigmas.to(device=x.device, dtype=torch.float32)
    with torch.no_grad():
        return loop(model, x, sigmas, seed, callback)


def inpaint_noise_for(sampler_name: str, noise: Tensor, seed: int) -> Tensor:
    """The noise ComfyUI re-noises the kept (unmasked) latent with while inpainting: the initial
    noise, except for "ddim", which uses independent noise seeded from seed + 1."""
    if sampler_name == "ddim":
        return inpaint_noise(noise, seed)
    return noise
