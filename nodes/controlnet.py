"""ControlNet nodes: loading ControlNet files and attaching them, with a hint image, to
conditioning (ComfyUI's ControlNetLoader, DiffControlNetLoader, ControlNetApply(Advanced))."""

from __future__ import annotations

from typing import Annotated, Any

from nodegraph import Combo, Context, Float, Out, node
from nodes import folders
from nodes.model_management import manager as model_manager
from nodes.model_management import module_bytes
from nodes.types import Conditioning, ControlLink, ControlNet, Image, Model, Vae

CATEGORY = "conditioning/controlnet"
Strength = Annotated[float, Float(min=0.0, max=10.0, step=0.01)]
Percent = Annotated[float, Float(min=0.0, max=1.0, step=0.001)]
ControlNetName = Annotated[str, Combo(lambda settings: folders.list_files(settings, "controlnet"))]


@node("ControlNetLoader", category="loaders", display_name="Load ControlNet Model")
def controlnet_loader(*, control_net_name: ControlNetName, ctx: Context) -> ControlNet:
    """Load a ControlNet (lllyasviel .pth/.safetensors, v1.1 bare keys, diffusers)."""
    path = folders.require(
        ctx.settings, "controlnet", control_net_name, "ControlNetLoader", "control_net_name"
    )
    models = model_manager(ctx)
    from nodes.sd.controlnet import load_controlnet  # imports diffusers: only when used

    net = models.load("controlnet", path, lambda: load_controlnet(path, dtype=models.dtypes.unet))
    return ControlNet(model=net, name=path.name)


@node("DiffControlNetLoader", category="loaders", display_name="Load ControlNet Model (diff)")
def diff_controlnet_loader(
    *, model: Model, control_net_name: ControlNetName, ctx: Context
) -> ControlNet:
    """Load a ControlNet; a "diff" one (stored as differences to a UNet) gets `model`'s UNet
    weights added back."""
    path = folders.require(
        ctx.settings, "controlnet", control_net_name, "DiffControlNetLoader", "control_net_name"
    )
    from nodes.sd.controlnet import load_controlnet

    models = model_manager(ctx)
    unet = model.unet

    def load() -> tuple[Any, Any]:
        # the UNet is kept in the cached value so its id cannot be reused by another model
        return load_controlnet(path, dtype=models.dtypes.unet, unet=unet), unet

    net, _ = models.load(
        f"diff_controlnet:{id(unet)}", path, load, size_of=lambda v: module_bytes(v[0])
    )
    return ControlNet(model=net, name=path.name)


def _check(node_id: str, strength: float, image: Any) -> None:
    if image.ndim != 4 or image.shape[-1] != 3:
        raise ValueError(
            f"{node_id}: image must be [batch, height, width, 3], got {tuple(image.shape)}"
        )
    if strength < 0:
        raise ValueError(f"{node_id}: strength must be >= 0, got {strength}")


@node(
    "ControlNetApply",
    category=CATEGORY,
    display_name="Apply ControlNet (OLD)",
    deprecated=True,
)
def controlnet_apply(
    *,
    conditioning: Conditioning,
    control_net: ControlNet,
    image: Image,
    strength: Strength = 1.0,
) -> Conditioning:
    """Steer sampling with a ControlNet and a hint image over all steps; the control also
    applies to the negative prompt (ComfyUI's control_apply_to_uncond)."""
    if strength == 0:
        return conditioning
    _check("ControlNetApply", strength, image)

    from nodes.sd.controlnet import attach_control

    def link(previous: ControlLink | None) -> ControlLink:
        return ControlLink(control_net, image, strength, previous=previous)

    return attach_control(conditioning, link, {}, apply_to_uncond=True)


@node("ControlNetApplyAdvanced", category=CATEGORY, display_name="Apply ControlNet")
def controlnet_apply_advanced(
    *,
    positive: Conditioning,
    negative: Conditioning,
    control_net: ControlNet,
    image: Image,
    strength: Strength = 1.0,
    start_percent: Percent = 0.0,
    end_percent: Percent = 1.0,
    vae: Vae | None = None,
) -> tuple[
    Annotated[Conditioning, Out(name="positive")], Annotated[Conditioning, Out(name="negative")]
]:
    """Steer sampling with a ControlNet and a hint image between two points of the schedule,
    on both positive and negative conditioning. (`vae` is for ControlNets that take latent
    hints; SD1.x ControlNets take the image, so it is not used.)"""
    if strength == 0:
        return positive, negative
    _check("ControlNetApplyAdvanced", strength, image)

    from nodes.sd.controlnet import attach_control

    def link(previous: ControlLink | None) -> ControlLink:
        return ControlLink(control_net, image, strength, start_percent, end_percent, previous)

    shared: dict[int, ControlLink] = {}
    return (
        attach_control(positive, link, shared, apply_to_uncond=False),
        attach_control(negative, link, shared, apply_to_uncond=False),
    )
