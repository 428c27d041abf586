"""CFG over conditioning entries: cfg formula, areas with feathered edges, masks, strengths,
timestep ranges, batching of different token lengths, and the inpaint wrapper."""

from __future__ import annotations

from typing import Any

import torch

from nodes.sd.guidance import (
    Guider,
    InpaintDenoiser,
    PreparedCond,
    prepare,
    prepare_noise_mask,
)
from nodes.types import CondEntry, Conditioning


class EpsSampling:
    """Identity scalings so a fake UNet's output is the denoised value itself."""

    sigma_max = 14.6

    def calculate_input(self, sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma * 10

    def calculate_denoised(
        self, sigma: torch.Tensor, out: torch.Tensor, x: torch.Tensor
    ) -> torch.Tensor:
        return out

    def noise_scaling(self, sigma: Any, noise: torch.Tensor, latent: torch.Tensor, m: bool) -> Any:
        return latent + noise * sigma.reshape(-1, 1, 1, 1)


def context_mean_unet(calls: list[int]) -> Any:
    """Output = mean of the context per batch item, broadcast: reveals which cond ran where."""

    def call(
        x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, conds: Any, sigma: float
    ) -> torch.Tensor:
        calls.append(x.shape[0])
        return context.mean(dim=(1, 2)).reshape(-1, 1, 1, 1).expand_as(x).clone()

    return call


def cond(value: float, tokens: int = 77, **kw: Any) -> CondEntry:
    return CondEntry(cond=torch.full((1, tokens, 8), value), **kw)


def prep(*entries: CondEntry, shape: tuple[int, ...] = (1, 4, 16, 16)) -> list[PreparedCond]:
    return prepare(
        Conditioning(entries), shape, lambda p: 10.0 * (1 - p), torch.device("cpu"), torch.float32
    )


def test_cfg_combines_cond_and_uncond_in_one_call() -> None:
    calls: list[int] = []
    g = Guider(context_mean_unet(calls), EpsSampling(), prep(cond(1.0)), prep(cond(0.5)), 3.0)
    out = g(torch.zeros(2, 4, 16, 16), torch.full((2,), 5.0))
    assert torch.allclose(out, torch.full_like(out, 0.5 + (1.0 - 0.5) * 3.0))
    assert calls == [4]  # positive and negative batched together


def test_cfg_one_skips_uncond() -> None:
    calls: list[int] = []
    g = Guider(context_mean_unet(calls), EpsSampling(), prep(cond(2.0)), prep(cond(-9.0)), 1.0)
    out = g(torch.zeros(1, 4, 16, 16), torch.full((1,), 5.0))
    assert torch.allclose(out, torch.full_like(out, 2.0))
    assert calls == [1]


def test_different_token_lengths_share_a_call_and_keep_values() -> None:
    calls: list[int] = []
    g = Guider(context_mean_unet(calls), EpsSampling(), prep(cond(1.0, 154)), prep(cond(0.0)), 2.0)
    out = g(torch.zeros(1, 4, 8, 8), torch.full((1,), 5.0))
    assert torch.allclose(out, torch.full_like(out, 2.0))
    assert calls == [2]


def test_area_blends_with_feathered_inner_edges() -> None:
    calls: list[int] = []
    whole = cond(0.0)
    area = cond(1.0, area=(8, 8, 8, 8), strength=1.0)  # bottom-right quarter of 16x16
    g = Guider(context_mean_unet(calls), EpsSampling(), prep(whole, area), prep(cond(0.0)), 1.0)
    out = g(torch.zeros(1, 4, 16, 16), torch.full((1,), 5.0))[0, 0]
    assert torch.allclose(out[:8, :8], torch.zeros(8, 8))  # outside the area: whole prompt only
    assert out[15, 15] > 0.49  # deep inside: equal blend of both
    # the area's top/left edges lie inside the latent, so its weight ramps up from the edge
    ramp = min(8, 8 // 4)  # ComfyUI: fuzz of 8 latent px, at most a quarter of the area
    assert out[8, 15] < out[9, 15]
    assert torch.isclose(out[9, 15], out[12, 15])
    assert torch.isclose(out[8, 15], torch.tensor((1 / ramp) / (1 + 1 / ramp)))


def test_mask_and_strength_weight_entries() -> None:
    mask = torch.zeros(1, 16, 16)
    mask[:, :, 8:] = 1.0
    masked = cond(1.0, mask=mask, strength=3.0)
    g = Guider(context_mean_unet([]), EpsSampling(), prep(cond(0.0), masked), prep(cond(0.0)), 1.0)
    out = g(torch.zeros(1, 4, 16, 16), torch.full((1,), 5.0))[0, 0]
    assert torch.allclose(out[:, :8], torch.zeros(16, 8))
    assert torch.allclose(out[:, 8:], torch.full((16, 8), 3.0 / 4.0))


def test_mask_bounds_set_area() -> None:
    mask = torch.zeros(1, 16, 16)
    mask[:, 2:6, 3:12] = 1.0
    (p,) = prep(cond(1.0, mask=mask, set_area_to_bounds=True))
    assert p.area == (4, 9, 2, 3)


def test_timestep_range_skips_entries_outside() -> None:
    late = cond(1.0, extra={"start_percent": 0.5, "end_percent": 1.0})  # sigma 5 .. 0
    g = Guider(context_mean_unet([]), EpsSampling(), prep(cond(0.0), late), prep(cond(0.0)), 1.0)
    early = g(torch.zeros(1, 4, 8, 8), torch.full((1,), 9.0))
    later = g(torch.zeros(1, 4, 8, 8), torch.full((1,), 2.0))
    assert torch.allclose(early, torch.zeros_like(early))
    assert torch.allclose(later, torch.full_like(later, 0.5))


def test_inpaint_keeps_unmasked_latent() -> None:
    latent = torch.randn(1, 4, 8, 8)
    noise = torch.randn(1, 4, 8, 8)
    mask = prepare_noise_mask(
        torch.cat([torch.zeros(8, 4), torch.ones(8, 4)], 1)[None], latent.shape
    )
    inner_calls: list[torch.Tensor] = []

    def inner(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        inner_calls.append(x)
        return torch.full_like(x, 7.0)

    wrap = InpaintDenoiser(inner, EpsSampling(), latent, noise, mask)
    out = wrap(torch.zeros(1, 4, 8, 8), torch.tensor([2.0]))
    assert torch.allclose(out[..., :4], latent[..., :4])
    assert torch.allclose(out[..., 4:], torch.full((1, 4, 8, 4), 7.0))
    # the model saw the original latent, re-noised to sigma, in the kept region
    assert torch.allclose(inner_calls[0][..., :4], (latent + noise * 2.0)[..., :4])
    assert mask.shape == (1, 4, 8, 8)


def test_percentage_area_resolves_against_the_latent() -> None:
    entry = CondEntry(cond=torch.zeros(1, 77, 8), area=("percentage", 0.5, 0.25, 0.5, 0.0))
    (p,) = prep(entry, shape=(1, 4, 16, 32))
    assert p.area == (8, 8, 8, 0)
