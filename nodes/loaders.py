"""Loader nodes: checkpoints (single-file or diffusers folders), VAE, CLIP and UNet files.

Files are loaded through the engine's model manager, so each is read once and shared by every
workflow that uses it; the nodes only wrap the shared modules in payloads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from nodegraph import Combo, Context, node
from nodes import folders
from nodes.model_management import ModelManager, manager
from nodes.types import Clip, Model, Vae

MODEL_INDEX = "model_index.json"


def checkpoint_names(settings: Any) -> list[str]:
    """Checkpoint files plus diffusers model folders (files inside those folders excluded)."""
    dirs = folders.list_dirs(settings, "checkpoints", MODEL_INDEX)
    files = [
        f
        for f in folders.list_files(settings, "checkpoints")
        if not any(Path(f).is_relative_to(d) for d in dirs)
    ]
    return sorted([*files, *dirs])


def diffusers_names(settings: Any) -> list[str]:
    return folders.list_dirs(settings, "diffusers", MODEL_INDEX)


def _files(folder: str) -> Combo:
    return Combo(lambda settings: folders.list_files(settings, folder))


def _sampling() -> Any:
    from nodes.sd.model_sampling import ModelSampling

    return ModelSampling.sd1()


def _tokenizer() -> Any:
    from nodes.sd.tokenizer import load_tokenizer

    return load_tokenizer()


def cast(module: Any, dtype: Any) -> Any:
    """Convert weights to `dtype` only when they differ (diffusers warns on no-op casts)."""
    current = next(module.parameters()).dtype
    return module if current == dtype else module.to(dtype)


def load_checkpoint_payloads(models: ModelManager, path: Path) -> tuple[Model, Clip, Vae]:
    """MODEL, CLIP and VAE payloads sharing the manager's copy of the checkpoint at `path`."""
    from nodes.sd.checkpoint import load_checkpoint

    def load() -> Any:
        loaded = load_checkpoint(path, dtype=models.dtypes.unet)
        cast(loaded.text_model, models.dtypes.text)
        cast(loaded.vae, models.dtypes.vae)
        return loaded

    loaded = models.load("checkpoint", path, load)
    name = path.name
    return (
        Model(unet=loaded.unet, sampling=_sampling(), name=name),
        Clip(text_model=loaded.text_model, tokenizer=_tokenizer(), name=name),
        Vae(vae=loaded.vae, name=name),
    )


@node("CheckpointLoaderSimple", category="loaders", display_name="Load Checkpoint")
def checkpoint_loader_simple(
    *, ckpt_name: Annotated[str, Combo(checkpoint_names)], ctx: Context
) -> tuple[Model, Clip, Vae]:
    """Load an SD1.x checkpoint (single .safetensors/.ckpt file or diffusers folder): the
    diffusion model, the CLIP text encoder and the VAE."""
    path = folders.require(
        ctx.settings, "checkpoints", ckpt_name, "CheckpointLoaderSimple", "ckpt_name"
    )
    return load_checkpoint_payloads(manager(ctx), path)


@node("DiffusersLoader", category="advanced/loaders/deprecated")
def diffusers_loader(
    *, model_path: Annotated[str, Combo(diffusers_names)], ctx: Context
) -> tuple[Model, Clip, Vae]:
    """Load a diffusers-format SD1.x model folder from the diffusers models folder."""
    path = folders.require(ctx.settings, "diffusers", model_path, "DiffusersLoader", "model_path")
    return load_checkpoint_payloads(manager(ctx), path)


@node("VAELoader", category="loaders", display_name="Load VAE")
def vae_loader(*, vae_name: Annotated[str, _files("vae")], ctx: Context) -> Vae:
    """Load a standalone VAE file (LDM or diffusers key layout)."""
    from nodes.sd.checkpoint import load_vae

    path = folders.require(ctx.settings, "vae", vae_name, "VAELoader", "vae_name")
    models = manager(ctx)
    vae = models.load("vae", path, lambda: cast(load_vae(path), models.dtypes.vae))
    return Vae(vae=vae, name=path.name)


@node("CLIPLoader", category="advanced/loaders", display_name="Load CLIP")
def clip_loader(
    *,
    clip_name: Annotated[str, _files("text_encoders")],
    type: Annotated[str, Combo(("stable_diffusion",))] = "stable_diffusion",
    device: Annotated[str, Combo(("default", "cpu"))] | None = None,
    ctx: Context,
) -> Clip:
    """Load a standalone CLIP-L text encoder file (SD1.x)."""
    from nodes.sd.checkpoint import load_text_encoder

    path = folders.require(ctx.settings, "text_encoders", clip_name, "CLIPLoader", "clip_name")
    models = manager(ctx)
    text_model = models.load(
        "text_encoder", path, lambda: cast(load_text_encoder(path), models.dtypes.text)
    )
    return Clip(text_model=text_model, tokenizer=_tokenizer(), name=path.name)


@node("UNETLoader", category="advanced/loaders", display_name="Load Diffusion Model")
def unet_loader(
    *,
    unet_name: Annotated[str, _files("diffusion_models")],
    weight_dtype: Annotated[str, Combo(("default",))] = "default",
    ctx: Context,
) -> Model:
    """Load a standalone SD1.x UNet file (LDM or diffusers key layout)."""
    from nodes.sd.checkpoint import load_unet

    path = folders.require(ctx.settings, "diffusion_models", unet_name, "UNETLoader", "unet_name")
    models = manager(ctx)
    unet = models.load("unet", path, lambda: cast(load_unet(path), models.dtypes.unet))
    return Model(unet=unet, sampling=_sampling(), name=path.name)
