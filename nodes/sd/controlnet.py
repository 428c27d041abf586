"""ControlNet files loaded into diffusers' ControlNetModel, the conditioning links that attach
them, and the per-step residuals the sampling loop adds to the UNet."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import torch
from diffusers import ControlNetModel, UNet2DConditionModel
from safetensors.torch import save_file

from nodes.sd.checkpoint import CheckpointKeysError, _about, _assign, _check_layout, _on_meta
from nodes.sd.controlnet_convert import (
    DIFFUSERS_MARKER,
    LDM_MARKER,
    LDM_PREFIX,
    controlnet_diffusers_to_ldm,
    controlnet_ldm_to_diffusers,
    detect_controlnet,
)
from nodes.sd.convert_ldm import add_prefix, strip_prefix, unet_diffusers_to_ldm
from nodes.sd.detect import UnsupportedModelError
from nodes.sd.resize import common_upscale
from nodes.sd.state_dict import load_folder_state_dict, load_state_dict
from nodes.types import Conditioning, ControlLink

StateDict = dict[str, torch.Tensor]
Device = str | torch.device
Residuals = tuple[list[torch.Tensor], torch.Tensor]

DIFF_MARKER = "difference"
"""ComfyUI's marker key for "diff" ControlNets (weights stored as differences to a UNet)."""
HINT_SCALE = 8
"""Hint pixels per latent pixel (SD1.x ControlNets see the image at full resolution)."""
HINT_UPSCALE = "nearest-exact"
_T2I_MARKERS = ("adapter.", "body.0.block1.weight", "conv_in.weight")


# --- loading ----------------------------------------------------------------------------------


def load_controlnet(
    path: Path | str,
    *,
    dtype: torch.dtype = torch.float32,
    device: Device = "cpu",
    unet: UNet2DConditionModel | None = None,
) -> ControlNetModel:
    """Load a ControlNet file (lllyasviel v1.0/v1.1, webui safetensors, diffusers) or diffusers
    folder. A diff ControlNet needs the `unet` its differences were taken against."""
    path = Path(path)
    with _about(path):
        if path.is_dir():
            return _load_folder(path, dtype, device)
        sd = load_state_dict(path)
        if DIFFUSERS_MARKER in sd:
            ldm = controlnet_diffusers_to_ldm(sd)
            shown = "(diffusers names) "
        elif LDM_PREFIX + LDM_MARKER in sd:
            ldm, shown = strip_prefix(sd, LDM_PREFIX), LDM_PREFIX
        elif LDM_MARKER in sd:
            ldm, shown = {k: v for k, v in sd.items() if k != DIFF_MARKER}, ""
        else:
            raise UnsupportedModelError(_not_controlnet(sd))
        if DIFF_MARKER in sd:
            if unet is None:
                raise UnsupportedModelError(
                    "a diff ControlNet (weights relative to a UNet): load it with "
                    "DiffControlNetLoader and the model it was made for"
                )
            ldm = _add_unet(ldm, unet)
        return controlnet_from_ldm(ldm, dtype=dtype, device=device, shown_prefix=shown)


def controlnet_from_ldm(
    ldm: StateDict, *, dtype: torch.dtype, device: Device, shown_prefix: str = ""
) -> ControlNetModel:
    """Build the ControlNet described by bare lllyasviel weights and load them into it."""
    config = detect_controlnet(ldm)
    model = _on_meta(lambda: ControlNetModel(**config))
    expected = controlnet_diffusers_to_ldm(model.state_dict())
    _check_layout(ldm, expected, "ControlNet", shown_prefix)
    weights = controlnet_ldm_to_diffusers(ldm, config)
    return _assign(model, weights, dtype, device, "ControlNet")


def _load_folder(root: Path, dtype: torch.dtype, device: Device) -> ControlNetModel:
    config_path = root / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{root}: not a diffusers ControlNet folder (no config.json)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("_class_name") != "ControlNetModel":
        raise UnsupportedModelError(
            f"diffusers {config.get('_class_name')} folder, not a ControlNet"
        )
    model = _on_meta(lambda: ControlNetModel.from_config(config))
    return _assign(model, load_folder_state_dict(root), dtype, device, "ControlNet")


def _add_unet(ldm: StateDict, unet: UNet2DConditionModel) -> StateDict:
    """ComfyUI's diff ControlNets: every weight the UNet also has is stored minus the UNet's."""
    base = unet_diffusers_to_ldm(unet.state_dict())
    out = {}
    for key, value in ldm.items():
        if key in base:
            if base[key].shape != value.shape:
                raise CheckpointKeysError(
                    f"diff ControlNet weight {key} {list(value.shape)} does not match the "
                    f"model's {list(base[key].shape)}: made for another model"
                )
            value = value + base[key].to(value.device, value.dtype)
        out[key] = value
    return out


def _not_controlnet(sd: StateDict) -> str:
    if any(k.startswith(_T2I_MARKERS) for k in sd):
        kind = "a T2I-Adapter or other non-ControlNet model"
    elif any(k.startswith("model.diffusion_model.") for k in sd):
        kind = "a full SD checkpoint without control_model.* weights"
    else:
        kind = "no ControlNet weights"
    keys = ", ".join(list(sd)[:5])
    return f"not a ControlNet ({kind}; expected {LDM_MARKER} or {DIFFUSERS_MARKER}; keys: {keys})"


# --- tiny file --------------------------------------------------------------------------------


def tiny_controlnet(seed: int = 0) -> ControlNetModel:
    """A ControlNet copied from the tiny UNet of `seed` (see controlnet_from_unet)."""
    from nodes.sd.tiny import tiny_components

    return controlnet_from_unet(tiny_components(seed)[0], seed)


def controlnet_from_unet(unet: UNet2DConditionModel, seed: int = 0) -> ControlNetModel:
    """A ControlNet copied from `unet`'s encoder, with small random zero-convolutions (instead
    of zeros) so it visibly changes the output; for tests and benchmarks."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 96, 256))
        zeros = [
            *net.controlnet_down_blocks,
            net.controlnet_mid_block,
            net.controlnet_cond_embedding.conv_out,
        ]
        for conv in zeros:
            torch.nn.init.normal_(conv.weight, std=0.05)
            torch.nn.init.normal_(conv.bias, std=0.01)
    return net.eval().requires_grad_(False)


def write_tiny_controlnet(path: Path | str, seed: int = 0) -> Path:
    """Write the tiny ControlNet as a webui-style safetensors file (`control_model.` keys)."""
    return write_controlnet(path, tiny_controlnet(seed))


def write_controlnet(
    path: Path | str, net: ControlNetModel, dtype: torch.dtype | None = None
) -> Path:
    """Save a diffusers ControlNet in the lllyasviel layout with `control_model.` keys, in
    `dtype` (default: the model's own)."""
    path = Path(path)
    sd = add_prefix(controlnet_diffusers_to_ldm(net.state_dict()), LDM_PREFIX)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.to(dtype or v.dtype).contiguous() for k, v in sd.items()}
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path


# --- applying ---------------------------------------------------------------------------------


def attach_control(
    conditioning: Conditioning,
    link_for: Callable[[ControlLink | None], ControlLink],
    shared: dict[int, ControlLink],
    apply_to_uncond: bool,
) -> Conditioning:
    """Every entry gets the link built onto its previous control; entries (also across
    positive and negative, via `shared`) with the same previous control share one link."""
    entries = []
    for entry in conditioning.entries:
        previous = entry.control
        key = id(previous)
        if key not in shared:
            shared[key] = link_for(previous)
        extra = {**entry.extra, "control_apply_to_uncond": apply_to_uncond}
        entries.append(replace(entry, control=shared[key], extra=extra))
    return Conditioning(tuple(entries))


def control_for_uncond(positive: Conditioning, negative: Conditioning) -> Conditioning:
    """ComfyUI's control_apply_to_uncond (ControlNetApply): when no whole-image negative entry
    has a control, the positive entries' controls are copied onto the negative ones."""
    sources = [
        e.control
        for e in positive.entries
        if e.area is None and e.control is not None and e.extra.get("control_apply_to_uncond")
    ]
    negatives = list(negative.entries)
    plain = [i for i, e in enumerate(negatives) if e.area is None and e.control is None]
    has_control = any(e.area is None and e.control is not None for e in negatives)
    if has_control or not sources or not plain:
        return negative
    for n, control in enumerate(sources):
        index = plain[n % len(plain)]
        if negatives[index].control is None:
            negatives[index] = replace(negatives[index], control=control)
        else:
            negatives.append(replace(negatives[index], control=control))
    return Conditioning(tuple(negatives))


def control_residuals(
    links: Sequence[ControlLink | None],
    x: torch.Tensor,
    timesteps: torch.Tensor,
    context: torch.Tensor,
    sigma: float,
    percent_to_sigma: Callable[[float], float],
    per_item: int,
    device: Device,
    dtype: torch.dtype,
) -> Residuals | None:
    """(down residuals, mid residual) for one UNet batch whose rows are `per_item` rows per
    conditioning item; items without an active control get zeros; None if none is active.
    Items sharing one link run through the ControlNet together."""
    if len(links) * per_item != x.shape[0]:
        raise ValueError(
            f"ControlNet: {len(links)} conditioning items x {per_item} rows do not cover the "
            f"batch of {x.shape[0]}"
        )
    groups: dict[int, list[int]] = {}
    for i, link in enumerate(links):
        if link is not None:
            groups.setdefault(id(link), []).append(i)
    found: dict[int, Residuals] = {}
    for items in groups.values():
        rows = torch.cat([torch.arange(i * per_item, (i + 1) * per_item) for i in items])
        rows = rows.to(x.device)
        out = _chain(
            links[items[0]],
            x[rows],
            timesteps[rows],
            context[rows],
            (sigma, percent_to_sigma),
            (len(items), per_item),
            (device, dtype),
        )
        if out is not None:
            for n, i in enumerate(items):
                part = slice(n * per_item, (n + 1) * per_item)
                found[i] = ([r[part] for r in out[0]], out[1][part])
    if not found:
        return None
    template = next(iter(found.values()))
    zeros = ([torch.zeros_like(r) for r in template[0]], torch.zeros_like(template[1]))
    items = [found.get(i, zeros) for i in range(len(links))]
    down = [torch.cat([item[0][j] for item in items]) for j in range(len(template[0]))]
    return down, torch.cat([item[1] for item in items])


def _chain(
    link: ControlLink | None,
    x: torch.Tensor,
    timesteps: torch.Tensor,
    context: torch.Tensor,
    when: tuple[float, Callable[[float], float]],
    batch: tuple[int, int],
    placement: tuple[Device, torch.dtype],
) -> Residuals | None:
    """Sum of the residuals of every active link in the chain, each times its strength."""
    total: Residuals | None = None
    device, dtype = placement
    while link is not None:
        if link.active(*when):
            hint = prepare_hint(link.hint, x.shape[-2], x.shape[-1], *batch)
            down, mid = link.net.model(
                x.to(device, dtype),
                timesteps.to(device),
                encoder_hidden_states=context.to(device, dtype),
                controlnet_cond=hint.to(device, dtype),
                return_dict=False,
            )
            down = [r * link.strength for r in down]
            mid = mid * link.strength
            if total is None:
                total = (down, mid)
            else:
                total = ([a + b for a, b in zip(total[0], down, strict=True)], total[1] + mid)
        link = link.previous
    return total


def prepare_hint(
    hint: torch.Tensor, height: int, width: int, items: int, per_item: int
) -> torch.Tensor:
    """[items * per_item, 3, 8h, 8w] in 0..1: resized like ComfyUI (nearest-exact after a
    centre crop to the latent's aspect), then one image per row of each item (a batch of
    hints is cycled, one image is repeated)."""
    image = common_upscale(
        hint.movedim(-1, 1), width * HINT_SCALE, height * HINT_SCALE, HINT_UPSCALE, "center"
    )
    if image.shape[0] == 1:
        rows = image.expand(per_item, -1, -1, -1)
    else:
        index = torch.arange(per_item) % min(per_item, image.shape[0])
        rows = image[index]
    return rows.repeat(items, 1, 1, 1)
