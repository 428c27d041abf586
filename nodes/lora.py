"""LoRA loader nodes: LoraLoader (UNet + CLIP) and LoraLoaderModelOnly, as patches on payloads.

The LoRA file is parsed once per file by the model manager; the nodes only add a patch to the
MODEL/CLIP payloads, so the shared checkpoint weights change only while a patched model runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from nodegraph import Combo, Context, Float, node
from nodes import folders
from nodes.model_management import manager
from nodes.types import Clip, Model

if TYPE_CHECKING:
    from nodes.sd.lora import LoraFile

Strength = Annotated[float, Float(min=-100.0, max=100.0, step=0.01)]
LoraName = Annotated[str, Combo(lambda settings: folders.list_files(settings, "loras"))]


def _load(ctx: Context, lora_name: str, node_name: str) -> tuple[Path, LoraFile]:
    from nodes.sd.lora import load_lora

    path = folders.require(ctx.settings, "loras", lora_name, node_name, "lora_name")
    lora = manager(ctx).load("lora", path, lambda: load_lora(path), lambda f: f.nbytes())
    return path, lora


def _check_strength(node_name: str, input_name: str, value: float) -> None:
    if value != value or abs(value) == float("inf"):
        raise ValueError(f"{node_name}: {input_name} must be a finite number, got {value}")


def apply_lora(
    lora: LoraFile,
    name: str,
    model: Model | None,
    clip: Clip | None,
    strength_model: float,
    strength_clip: float,
) -> tuple[Model | None, Clip | None]:
    """Copies of `model` and `clip` with the LoRA's patch appended (none at strength 0); keys
    matching neither are logged."""
    from nodes.sd.lora import TEXT, UNET, LoraPatch, match, warn_unmatched

    unmatched: list[str] = []

    def patched(payload: Any, module: Any, prefix: str, strength: float) -> Any:
        found = match(lora, module, prefix)
        unmatched.extend(found.unmatched)
        if strength == 0 or not found.weights:
            return payload
        patch = LoraPatch(name, found.weights, strength)
        return dataclasses.replace(payload, patches=(*payload.patches, patch))

    if model is not None:
        model = patched(model, model.unet, UNET, strength_model)
    if clip is not None:
        clip = patched(clip, clip.text_model, TEXT, strength_clip)
    other = [k for k in lora.layers if not k.startswith((UNET, TEXT))]
    warn_unmatched([*unmatched, *other, *lora.unknown], name)
    return model, clip


@node("LoraLoader", category="loaders", display_name="Load LoRA")
def lora_loader(
    *,
    model: Model,
    clip: Clip,
    lora_name: LoraName,
    strength_model: Strength = 1.0,
    strength_clip: Strength = 1.0,
    ctx: Context,
) -> tuple[Model, Clip]:
    """Apply a LoRA (kohya/A1111, LoCon or diffusers/PEFT file) to the diffusion model and the
    CLIP text encoder, each at its own strength; the base weights stay shared and unchanged."""
    _check_strength("LoraLoader", "strength_model", strength_model)
    _check_strength("LoraLoader", "strength_clip", strength_clip)
    if strength_model == 0 and strength_clip == 0:
        return model, clip
    path, lora = _load(ctx, lora_name, "LoraLoader")
    new_model, new_clip = apply_lora(lora, path.name, model, clip, strength_model, strength_clip)
    assert new_model is not None and new_clip is not None
    return new_model, new_clip


@node("LoraLoaderModelOnly", category="loaders")
def lora_loader_model_only(
    *,
    model: Model,
    lora_name: LoraName,
    strength_model: Strength = 1.0,
    ctx: Context,
) -> Model:
    """Apply a LoRA to the diffusion model only (text-encoder layers in the file are ignored)."""
    _check_strength("LoraLoaderModelOnly", "strength_model", strength_model)
    if strength_model == 0:
        return model
    path, lora = _load(ctx, lora_name, "LoraLoaderModelOnly")
    new_model, _ = apply_lora(lora, path.name, model, None, strength_model, 0.0)
    assert new_model is not None
    return new_model
