"""Classifier-free guidance over ComfyUI conditioning: areas, masks, strengths, timestep ranges.

Follows ComfyUI's calc_cond_batch: each conditioning entry denoises its area of the latent, the
results are blended by their weights (strength x mask, area edges feathered), and the positive
and negative blends combine as uncond + (cond - uncond) * cfg. Entries of equal shape share one
UNet call (cond and uncond in one batch, as ComfyUI and diffusers do).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from nodes.types import CondEntry, Conditioning

MAX_ENTRIES_PER_CALL = 8
"""How many conditioning entries may share one UNet call (bounds activation memory)."""
AREA_FUZZ = 8
"""Latent pixels over which an area's inner edges fade in (ComfyUI's feathering)."""

UNetCall = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, Sequence["PreparedCond"], float], torch.Tensor
]
"""(scaled input, timesteps, context, entries of the batch, sigma) -> raw model output; the
entries (each covering an equal share of the batch rows) carry ControlNets to apply."""


@dataclass
class PreparedCond:
    """A conditioning entry resolved for one latent: tensors on the device, masks at latent
    size, the area clipped to the latent, percents turned into sigmas."""

    cond: torch.Tensor
    area: tuple[int, int, int, int] | None
    strength: float
    mask: torch.Tensor | None
    sigma_start: float | None
    sigma_end: float | None
    entry: CondEntry


def prepare(
    conditioning: Conditioning,
    latent_shape: Sequence[int],
    percent_to_sigma: Callable[[float], float],
    device: torch.device,
    dtype: torch.dtype,
) -> list[PreparedCond]:
    """Resolve every entry of `conditioning` for a latent of `latent_shape` [B, C, H, W]."""
    height, width = int(latent_shape[2]), int(latent_shape[3])
    prepared = []
    for entry in conditioning.entries:
        mask = None
        area = resolve_area(entry.area, height, width)
        if entry.mask is not None:
            mask = entry.mask.float()
            if mask.ndim == 2:
                mask = mask.unsqueeze(0)
            if tuple(mask.shape[1:]) != (height, width):
                mask = F.interpolate(mask.unsqueeze(1), size=(height, width), mode="bilinear")
                mask = mask.squeeze(1)
            if entry.set_area_to_bounds:
                area = _mask_bounds(mask)
            mask = (mask * entry.mask_strength).to(device)
        extra = entry.extra
        start = extra.get("start_percent")
        end = extra.get("end_percent")
        prepared.append(
            PreparedCond(
                cond=entry.cond.to(device=device, dtype=dtype),
                area=area,
                strength=float(entry.strength),
                mask=mask,
                sigma_start=None if start is None else percent_to_sigma(float(start)),
                sigma_end=None if end is None else percent_to_sigma(float(end)),
                entry=entry,
            )
        )
    return prepared


def resolve_area(area: Any, height: int, width: int) -> tuple[int, int, int, int] | None:
    """ConditioningSetAreaPercentage stores ("percentage", h, w, y, x) fractions; make them
    latent pixels of this latent (ComfyUI rounds and keeps at least one pixel)."""
    if area is None or area[0] != "percentage":
        return area  # type: ignore[no-any-return]
    _, h, w, y, x = area
    return (
        max(1, round(h * height)),
        max(1, round(w * width)),
        round(y * height),
        round(x * width),
    )


def _mask_bounds(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(h, w, y, x) of the smallest box holding every nonzero mask pixel (ComfyUI: mask bounds)."""
    nonzero = torch.nonzero(mask.amax(dim=0) > 0)
    if nonzero.numel() == 0:
        return None
    y0, x0 = (int(v) for v in nonzero.min(dim=0).values)
    y1, x1 = (int(v) for v in nonzero.max(dim=0).values)
    return (y1 - y0 + 1, x1 - x0 + 1, y0, x0)


@dataclass
class _Item:
    group: int
    x: torch.Tensor
    mult: torch.Tensor
    area: tuple[int, int, int, int] | None
    cond: PreparedCond


def _area_and_mult(c: PreparedCond, x: torch.Tensor, sigma: float, group: int) -> _Item | None:
    if c.sigma_start is not None and sigma > c.sigma_start:
        return None
    if c.sigma_end is not None and sigma < c.sigma_end:
        return None
    height, width = x.shape[2], x.shape[3]
    area = None
    sub = x
    if c.area is not None:
        h, w, y, x0 = c.area
        y = min(max(y, 0), height - 1)
        x0 = min(max(x0, 0), width - 1)
        h = max(1, min(height - y, h))
        w = max(1, min(width - x0, w))
        area = (h, w, y, x0)
        sub = x[:, :, y : y + h, x0 : x0 + w]
    if c.mask is not None:
        mask = c.mask[: sub.shape[0]]
        if area is not None:
            h, w, y, x0 = area
            mask = mask[:, y : y + h, x0 : x0 + w]
        reps = max(1, sub.shape[0] // mask.shape[0])
        mult = mask.unsqueeze(1).repeat(reps, sub.shape[1], 1, 1).to(sub.dtype)
    else:
        mult = torch.ones_like(sub)
    mult = mult * c.strength
    if c.mask is None and area is not None:
        mult = _feather(mult, area, height, width)
    return _Item(group, sub, mult, area, c)


def _feather(
    mult: torch.Tensor, area: tuple[int, int, int, int], height: int, width: int
) -> torch.Tensor:
    """Fade an area's weight in over its edges that lie inside the latent."""
    h, w, y, x0 = area
    mult = mult.clone()
    for dim, (size, start, full) in enumerate(((h, y, height), (w, x0, width))):
        axis = dim + 2
        ramp = min(AREA_FUZZ, mult.shape[axis] // 4)
        for t in range(ramp):
            factor = (t + 1) / ramp
            if start != 0:
                mult.narrow(axis, t, 1).mul_(factor)
            if size + start < full:
                mult.narrow(axis, size - 1 - t, 1).mul_(factor)
    return mult


def _repeat_to(cond: torch.Tensor, length: int) -> torch.Tensor:
    """Repeat a context along tokens; attention over k repeated copies equals attention over one."""
    return cond.repeat(1, length // cond.shape[1], 1)


def _joinable(a: _Item, b: _Item) -> bool:
    if a.x.shape != b.x.shape:
        return False
    la, lb = a.cond.cond.shape[1], b.cond.cond.shape[1]
    return math.lcm(la, lb) // min(la, lb) <= 4


class Guider:
    """Turns a UNet call into ComfyUI's CFG denoiser: `guider(x, sigma) -> denoised`."""

    def __init__(
        self,
        unet_call: UNetCall,
        sampling: Any,
        positive: list[PreparedCond],
        negative: list[PreparedCond],
        cfg: float,
    ) -> None:
        self.unet_call = unet_call
        self.sampling = sampling
        self.positive = positive
        self.negative = negative
        self.cfg = float(cfg)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        skip_uncond = math.isclose(self.cfg, 1.0)
        groups = [self.positive] if skip_uncond else [self.positive, self.negative]
        outs = self.calc_cond_batch(groups, x, sigma)
        if skip_uncond:
            return outs[0]
        cond, uncond = outs
        return uncond + (cond - uncond) * self.cfg

    def calc_cond_batch(
        self, groups: Sequence[list[PreparedCond]], x: torch.Tensor, sigma: torch.Tensor
    ) -> list[torch.Tensor]:
        """Denoised predictions of each group of conditioning, blended over their areas."""
        sigma_value = float(sigma.reshape(-1)[0])
        outs = [torch.zeros_like(x) for _ in groups]
        counts = [torch.full_like(x, 1e-37) for _ in groups]
        pending = [
            item
            for g, conds in enumerate(groups)
            for c in conds
            if (item := _area_and_mult(c, x, sigma_value, g)) is not None
        ]
        while pending:
            first = pending[0]
            batch = [first]
            rest = []
            for item in pending[1:]:
                fits = len(batch) < MAX_ENTRIES_PER_CALL
                if fits and all(_joinable(item, b) for b in batch):
                    batch.append(item)
                else:
                    rest.append(item)
            pending = rest
            denoised = self._denoise_batch(batch, sigma)
            for item, out in zip(batch, denoised.chunk(len(batch)), strict=True):
                target, count = outs[item.group], counts[item.group]
                if item.area is None:
                    target += out * item.mult
                    count += item.mult
                else:
                    h, w, y, x0 = item.area
                    target[:, :, y : y + h, x0 : x0 + w] += out * item.mult
                    count[:, :, y : y + h, x0 : x0 + w] += item.mult
        return [o / c for o, c in zip(outs, counts, strict=True)]

    def _denoise_batch(self, batch: list[_Item], sigma: torch.Tensor) -> torch.Tensor:
        length = 1
        for item in batch:
            length = math.lcm(length, item.cond.cond.shape[1])
        xs = torch.cat([item.x for item in batch])
        per = batch[0].x.shape[0]
        contexts = []
        for item in batch:
            cond = _repeat_to(item.cond.cond, length)
            contexts.append(cond.expand(per, -1, -1) if cond.shape[0] == 1 else cond)
        context = torch.cat(contexts)
        sigmas = sigma.reshape(-1)[:1].expand(xs.shape[0]).to(xs.dtype)
        model_in = self.sampling.calculate_input(sigmas, xs)
        timesteps = self.sampling.timestep(sigmas)
        conds = [item.cond for item in batch]
        raw = self.unet_call(model_in, timesteps, context, conds, float(sigmas[0]))
        return self.sampling.calculate_denoised(sigmas, raw.to(xs.dtype), xs)


class InpaintDenoiser:
    """ComfyUI's KSamplerX0Inpaint: outside the noise mask the latent is held at the original
    image (re-noised to the current sigma), so only the masked part is generated."""

    def __init__(
        self,
        inner: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        sampling: Any,
        latent_image: torch.Tensor,
        noise: torch.Tensor,
        denoise_mask: torch.Tensor,
    ) -> None:
        self.inner = inner
        self.sampling = sampling
        self.latent_image = latent_image
        self.noise = noise
        self.mask = denoise_mask

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        keep = 1.0 - self.mask
        renoised = self.sampling.noise_scaling(
            sigma.reshape(-1)[:1].expand(x.shape[0]), self.noise, self.latent_image, False
        )
        x = x * self.mask + renoised * keep
        out = self.inner(x, sigma)
        return out * self.mask + self.latent_image * keep


def prepare_noise_mask(mask: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """A LATENT noise_mask resized to the latent (bilinear) and repeated over channels/batch."""
    mask = mask.float().reshape(-1, 1, mask.shape[-2], mask.shape[-1])
    mask = F.interpolate(mask, size=(int(shape[2]), int(shape[3])), mode="bilinear")
    mask = mask.repeat(1, int(shape[1]), 1, 1)
    batch = int(shape[0])
    if mask.shape[0] < batch:
        mask = mask.repeat(math.ceil(batch / mask.shape[0]), 1, 1, 1)
    return mask[:batch]
