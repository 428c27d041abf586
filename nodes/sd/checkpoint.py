"""Load SD1.x models (single-file checkpoints, diffusers folders, standalone parts) and save them.

Models are built on the meta device and receive the file's tensors with `assign=True`, so a
real SD1.5 file never pays for a random initialisation. Everything is local: nothing here
talks to the Hugging Face hub.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel

from nodes.sd.convert_ldm import (
    CLIP_PREFIX,
    POSITION_IDS,
    TEXT_MODEL,
    UNET_PREFIX,
    VAE_PREFIX,
    StateDict,
    add_prefix,
    clip_ldm_to_transformers,
    clip_transformers_to_ldm,
    strip_prefix,
    unet_diffusers_to_ldm,
    unet_ldm_to_diffusers,
    vae_current_attention_names,
    vae_diffusers_to_ldm,
    vae_ldm_to_diffusers,
)
from nodes.sd.detect import (
    Sd1Architecture,
    UnsupportedModelError,
    detect_checkpoint,
    detect_clip,
    detect_unet,
    detect_vae,
    refuse_other_families,
    vae_attention_is_conv,
)
from nodes.sd.safe_pickle import CheckpointFormatError
from nodes.sd.state_dict import load_folder_state_dict, load_state_dict

M = TypeVar("M", bound=torch.nn.Module)
Device = str | torch.device

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
SD1_PIPELINES = frozenset(
    {"StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline"}
)
_VAE_PARTS = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")
_TOKEN_EMBEDDING = "embeddings.token_embedding.weight"
_CLIP_EXTRAS = ("text_projection.weight", "logit_scale")
"""Stored beside the text model by some CLIP files; a text encoder does not use them."""


class CheckpointKeysError(ValueError):
    """The file's weights do not match the architecture detected from it (missing/unexpected)."""


@dataclass
class LoadedCheckpoint:
    """The three SD1.x models of one checkpoint, in eval mode with gradients off."""

    unet: UNet2DConditionModel
    text_model: CLIPTextModel
    vae: AutoencoderKL
    description: str


# --- loading ----------------------------------------------------------------------------------


def load_checkpoint(
    path: Path | str, *, dtype: torch.dtype = torch.float32, device: Device = "cpu"
) -> LoadedCheckpoint:
    """Load a single-file LDM checkpoint (.safetensors/.ckpt) or a diffusers model folder."""
    path = Path(path)
    if path.is_dir():
        return _load_diffusers_folder(path, dtype, device)
    sd = load_state_dict(path)
    with _about(path):
        arch = detect_checkpoint(sd)
        unet = unet_from_ldm(
            strip_prefix(sd, UNET_PREFIX), dtype=dtype, device=device, shown_prefix=UNET_PREFIX
        )
        vae = vae_from_ldm(
            _vae_part(strip_prefix(sd, VAE_PREFIX)),
            dtype=dtype,
            device=device,
            shown_prefix=VAE_PREFIX,
        )
        text = text_model_from_weights(
            strip_prefix(sd, CLIP_PREFIX), dtype=dtype, device=device, shown_prefix=CLIP_PREFIX
        )
    return LoadedCheckpoint(unet, text, vae, f"{path.name}: {arch.describe()}")


def load_unet(
    path: Path | str, *, dtype: torch.dtype = torch.float32, device: Device = "cpu"
) -> UNet2DConditionModel:
    """A standalone UNet: bare LDM keys, `model.diffusion_model.*` or diffusers keys."""
    path = Path(path)
    sd = load_state_dict(path)
    with _about(path):
        refuse_other_families(sd)
        if any(k.startswith(UNET_PREFIX) for k in sd):
            ldm, shown = strip_prefix(sd, UNET_PREFIX), UNET_PREFIX
        elif "input_blocks.0.0.weight" in sd:
            ldm, shown = dict(sd), ""
        elif "conv_in.weight" in sd and any(k.startswith("down_blocks.") for k in sd):
            ldm, shown = unet_diffusers_to_ldm(sd), "(diffusers names) "
        else:
            raise UnsupportedModelError(f"no SD1.x UNet weights found (keys: {_some(sd)})")
        return unet_from_ldm(ldm, dtype=dtype, device=device, shown_prefix=shown)


def load_vae(
    path: Path | str, *, dtype: torch.dtype = torch.float32, device: Device = "cpu"
) -> AutoencoderKL:
    """A standalone VAE: LDM keys (`encoder.*`, maybe under `first_stage_model.`) or diffusers
    keys; a full checkpoint works too (its VAE is used)."""
    path = Path(path)
    sd = load_state_dict(path)
    with _about(path):
        prefix = _root_of(sd, "encoder.conv_in.weight")
        if prefix is None:
            raise UnsupportedModelError(f"no VAE weights (encoder.conv_in) in keys {_some(sd)}")
        part = _vae_part(strip_prefix(sd, prefix))
        if any(k.startswith("encoder.down_blocks.") for k in part):
            part = vae_diffusers_to_ldm(part, conv_attention=False)
        return vae_from_ldm(part, dtype=dtype, device=device, shown_prefix=prefix)


def load_text_encoder(
    path: Path | str, *, dtype: torch.dtype = torch.float32, device: Device = "cpu"
) -> CLIPTextModel:
    """A standalone CLIP text encoder: Hugging Face keys with or without `text_model.`, or
    under the LDM `cond_stage_model.transformer.` prefix."""
    path = Path(path)
    sd = load_state_dict(path)
    with _about(path):
        if any(".resblocks." in k for k in sd) or "token_embedding.weight" in sd:
            raise UnsupportedModelError("OpenCLIP text encoder (SD2.x); only CLIP-L (SD1.x) works")
        prefix = _root_of(sd, _TOKEN_EMBEDDING)
        if prefix is None:
            raise UnsupportedModelError(f"no CLIP text encoder weights found (keys: {_some(sd)})")
        part = strip_prefix(sd, prefix)
        for extra in _CLIP_EXTRAS:
            part.pop(extra, None)
        return text_model_from_weights(part, dtype=dtype, device=device, shown_prefix=prefix)


def unet_from_ldm(
    ldm: StateDict, *, dtype: torch.dtype, device: Device, shown_prefix: str = ""
) -> UNet2DConditionModel:
    """Build the UNet described by bare LDM weights and load them into it."""
    config = detect_unet(ldm, prefix="")
    model = _on_meta(lambda: UNet2DConditionModel(**config))
    expected = unet_diffusers_to_ldm(model.state_dict())
    _check_layout(ldm, expected, "UNet", shown_prefix)
    return _assign(model, unet_ldm_to_diffusers(ldm, config), dtype, device, "UNet")


def vae_from_ldm(
    ldm: StateDict, *, dtype: torch.dtype, device: Device, shown_prefix: str = ""
) -> AutoencoderKL:
    """Build the VAE described by bare LDM weights and load them into it."""
    config = detect_vae(ldm, prefix="")
    model = _on_meta(lambda: AutoencoderKL(**config))
    conv = vae_attention_is_conv(ldm, "")
    expected = vae_diffusers_to_ldm(model.state_dict(), conv_attention=conv)
    _check_layout(ldm, expected, "VAE", shown_prefix)
    return _assign(model, vae_ldm_to_diffusers(ldm, config), dtype, device, "VAE")


def text_model_from_weights(
    weights: StateDict,
    *,
    dtype: torch.dtype,
    device: Device,
    shown_prefix: str = "",
    config: CLIPTextConfig | None = None,
) -> CLIPTextModel:
    """Build a CLIPTextModel from Hugging Face CLIP text weights (with or without
    `text_model.`) and load them; the config is detected from the shapes when not given."""
    bare = {k.removeprefix(TEXT_MODEL): v for k, v in weights.items()}
    config = config or detect_clip(bare, prefix="")
    model = _on_meta(lambda: CLIPTextModel(config))
    flattened = not any(k.startswith(TEXT_MODEL) for k in model.state_dict())
    converted = clip_ldm_to_transformers(bare, flattened=flattened)
    return _assign(model, converted, dtype, device, "CLIP text encoder", shown_prefix)


def _load_diffusers_folder(root: Path, dtype: torch.dtype, device: Device) -> LoadedCheckpoint:
    with _about(root):
        return _load_diffusers_parts(root, dtype, device)


def _load_diffusers_parts(root: Path, dtype: torch.dtype, device: Device) -> LoadedCheckpoint:
    index = _read_json(root / "model_index.json", "diffusers model folder")
    kind = index.get("_class_name")
    if kind not in SD1_PIPELINES:
        raise UnsupportedModelError(f"diffusers {kind} folder; only SD1.x is supported")
    unet_config = _read_json(root / "unet" / "config.json", "UNet config")
    if unet_config.get("use_linear_projection") or unet_config.get("cross_attention_dim") == 1024:
        raise UnsupportedModelError("SD2.x UNet; only SD1.x is supported")
    vae_config = _read_json(root / "vae" / "config.json", "VAE config")
    clip_config = CLIPTextConfig.from_dict(
        _read_json(root / "text_encoder" / "config.json", "text encoder config")
    )
    unet = _on_meta(lambda: UNet2DConditionModel.from_config(unet_config))
    unet = _assign(unet, load_folder_state_dict(root / "unet"), dtype, device, "UNet")
    vae = _on_meta(lambda: AutoencoderKL.from_config(vae_config))
    vae_weights = vae_current_attention_names(load_folder_state_dict(root / "vae"))
    vae = _assign(vae, vae_weights, dtype, device, "VAE")
    text_weights = load_folder_state_dict(root / "text_encoder")
    text = text_model_from_weights(text_weights, dtype=dtype, device=device, config=clip_config)
    arch = Sd1Architecture(dict(unet.config), dict(vae.config), text.config, False)
    return LoadedCheckpoint(unet, text, vae, f"{root.name} (diffusers): {arch.describe()}")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path.parent}: not a {what} (no {path.name})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as ex:
        raise CheckpointFormatError(f"{path}: unreadable {what} ({ex})") from ex
    if not isinstance(data, dict):
        raise CheckpointFormatError(f"{path}: {what} is not a JSON object")
    return data


# --- building ---------------------------------------------------------------------------------


def _on_meta(factory: Callable[[], M]) -> M:
    with torch.device("meta"):
        return factory()


def _check_layout(found: StateDict, expected: StateDict, what: str, prefix: str) -> None:
    """Compare LDM names and shapes before conversion (the converters drop unknown names and
    slice attention weights, which would hide a mismatch)."""
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    if missing or unexpected:
        raise CheckpointKeysError(_mismatch(what, missing, unexpected, prefix))
    wrong = [k for k in sorted(found) if found[k].shape != expected[k].shape]
    if wrong:
        shown = ", ".join(
            f"{prefix}{k} {list(found[k].shape)} (expected {list(expected[k].shape)})"
            for k in wrong[:3]
        )
        raise CheckpointKeysError(f"{what} weights have unexpected shapes: {shown}")


def _mismatch(what: str, missing: list[str], unexpected: list[str], prefix: str) -> str:
    parts = []
    for label, names in (("missing", missing), ("unexpected", unexpected)):
        if names:
            shown = ", ".join(prefix + n for n in names[:5])
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            parts.append(f"{len(names)} {label} ({shown}{more})")
    return f"{what} weights do not match the detected architecture: {'; '.join(parts)}"


def _assign(
    model: M, weights: StateDict, dtype: torch.dtype, device: Device, what: str, prefix: str = ""
) -> M:
    """Hand the tensors to the meta-built model (no copies where dtype/device already match)."""
    cast = {
        k: v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device)
        for k, v in weights.items()
    }
    try:
        result = model.load_state_dict(cast, strict=False, assign=True)
    except RuntimeError as ex:
        raise CheckpointKeysError(f"{what} weights have the wrong shapes: {ex}") from None
    if result.missing_keys or result.unexpected_keys:
        missing, unexpected = sorted(result.missing_keys), sorted(result.unexpected_keys)
        raise CheckpointKeysError(_mismatch(what, missing, unexpected, prefix))
    _fill_position_ids(model, device)
    left = [n for n, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if left:
        raise CheckpointKeysError(f"{what}: no weights for {', '.join(left[:5])}")
    model.eval().requires_grad_(False)
    return model


def _fill_position_ids(model: torch.nn.Module, device: Device) -> None:
    """CLIP's position_ids is a non-persistent buffer: no file carries it, so rebuild it."""
    for name, buffer in list(model.named_buffers()):
        if buffer.is_meta and name.endswith("position_ids"):
            owner_name, _, leaf = name.rpartition(".")
            owner = model.get_submodule(owner_name)
            ids = torch.arange(buffer.shape[-1], device=device).expand(buffer.shape)
            owner.register_buffer(leaf, ids, persistent=False)


@contextmanager
def _about(path: Path) -> Iterator[None]:
    """Prefix detection and key errors with the file they concern."""
    try:
        yield
    except (UnsupportedModelError, CheckpointKeysError) as ex:
        raise type(ex)(f"{path.name}: {ex}") from None
    except ValueError as ex:
        if type(ex) is not ValueError:
            raise
        raise ValueError(f"{path.name}: {ex}") from None


def _vae_part(sd: StateDict) -> StateDict:
    """The VAE's own weights (a training loss or EMA stored beside them is not part of it)."""
    return {k: v for k, v in sd.items() if k.startswith(_VAE_PARTS)}


def _root_of(sd: StateDict, suffix: str) -> str | None:
    """The prefix under which `suffix` appears as a whole key (e.g. 'first_stage_model.')."""
    for key in sd:
        if key.endswith(suffix):
            root = key[: -len(suffix)]
            if not root or root.endswith("."):
                return root
    return None


def _some(sd: StateDict) -> str:
    keys = list(sd)[:5]
    return ", ".join(keys) + (", ..." if len(sd) > 5 else "")


# --- saving -----------------------------------------------------------------------------------


def ldm_state_dict(
    unet: UNet2DConditionModel, text_model: CLIPTextModel, vae: AutoencoderKL
) -> StateDict:
    """The three models as one LDM-layout state dict, with the names real SD1.x files use
    (including the CLIP `position_ids` those files carry)."""
    sd = add_prefix(unet_diffusers_to_ldm(unet.state_dict()), UNET_PREFIX)
    sd |= add_prefix(clip_transformers_to_ldm(text_model.state_dict()), CLIP_PREFIX)
    positions = int(text_model.config.max_position_embeddings)
    sd[CLIP_PREFIX + TEXT_MODEL + POSITION_IDS] = torch.arange(positions).unsqueeze(0)
    sd |= add_prefix(vae_diffusers_to_ldm(vae.state_dict()), VAE_PREFIX)
    return sd


def save_ldm_checkpoint(
    path: Path | str,
    unet: UNet2DConditionModel,
    text_model: CLIPTextModel,
    vae: AutoencoderKL,
    *,
    dtype: torch.dtype | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write a single-file LDM checkpoint: `.safetensors`, or `.ckpt` as {"state_dict": ...}.
    (The safetensors library stores metadata keys in no fixed order.)"""
    _write(Path(path), _for_saving(ldm_state_dict(unet, text_model, vae), dtype), metadata)


def save_ldm_vae(
    path: Path | str,
    vae: AutoencoderKL,
    *,
    dtype: torch.dtype | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write a standalone VAE with bare LDM names (`encoder.*`, `decoder.*`), like SD VAE files."""
    _write(Path(path), _for_saving(vae_diffusers_to_ldm(vae.state_dict()), dtype), metadata)


def _for_saving(sd: StateDict, dtype: torch.dtype | None) -> StateDict:
    out = {}
    for k, v in sd.items():
        v = v.detach().to("cpu")
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v.contiguous()
    return out


def _write(path: Path, sd: StateDict, metadata: dict[str, str] | None) -> None:
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in SAFETENSORS_SUFFIXES:
        save_file(sd, str(path), metadata={"format": "pt", **(metadata or {})})
    elif suffix in PICKLE_SUFFIXES:
        torch.save({"state_dict": sd}, path)
    else:
        raise ValueError(f"{path}: unknown checkpoint extension {suffix!r}; use .safetensors/.ckpt")
