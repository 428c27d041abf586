"""Stage 4: the demo hypernetwork, an A1111 `.pt` that turns any scene into black ink on
white paper while keeping its layout.

[1, 2, 1] relu MLPs (no layer norm) for every attention width of the demo UNet, last layers
at zero so strength 0 and the untrained file both leave the model as it is. Training applies
`c + hn(c)` exactly as HypernetworkLoader does at strength 1, with the UNet and text encoder
frozen, on the same captions but images restyled to a black shape on a white background.
(Black and white because the demo VAE, trained on the scene palette only, reconstructs those
colours best; pastel tints come back as other hues.)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F

from nodes.demo.denoising import UNCOND_RATE, CaptionIds, Noiser
from nodes.demo.scenes import Scene
from nodes.demo.training import RunConfig, load_state, train_loop
from nodes.demo.unet_stage import load_denoiser, trained_vae
from nodes.sd.hypernetwork import Hypernetwork, a1111_options, build_hypernetwork
from nodes.sd.hypernetwork_attention import HypernetworkPatch, transformer_attentions

LAYER_STRUCTURE = (1.0, 2.0, 1.0)
ACTIVATION = "relu"
HYPERNETWORK_NAME = "nodegraph-demo-bw"


def ink_style(sample: Scene) -> Scene:
    """The scene the hypernetwork should draw instead: a black shape on white."""
    return dataclasses.replace(sample, color="black", background="white")


def attention_widths(unet: torch.nn.Module) -> list[int]:
    """Widths of every k/v input of the UNet's transformer attentions (self and text)."""
    return sorted({int(attn.to_k.in_features) for attn in transformer_attentions(unet)})


def fresh_hypernetwork(widths: list[int], seed: int) -> Hypernetwork:
    """Relu [1, 2, 1] networks: first layers random (Kaiming), last layers zero."""
    generator = torch.Generator().manual_seed(seed + 4)

    def net(dim: int) -> dict[str, torch.Tensor]:
        hidden = int(dim * LAYER_STRUCTURE[1])
        bound = (6 / dim) ** 0.5
        return {
            "linear.0.weight": (torch.rand(hidden, dim, generator=generator) * 2 - 1) * bound,
            "linear.0.bias": torch.zeros(hidden),
            "linear.2.weight": torch.zeros(dim, hidden),
            "linear.2.bias": torch.zeros(dim),
        }

    data = {dim: [net(dim), net(dim)] for dim in widths}
    data.update(a1111_options(HYPERNETWORK_NAME, LAYER_STRUCTURE, ACTIVATION, False, 0))
    return build_hypernetwork(data, HYPERNETWORK_NAME)


def load_hypernetwork_state(config: RunConfig, unet: torch.nn.Module) -> tuple[Hypernetwork, int]:
    """The trained hypernetwork for `unet`'s attention widths, and its step."""
    state = load_state(config.state_dir / "hypernetwork.pt")
    if state is None:
        raise SystemExit("train the hypernetwork first: nodegraph train-demo hypernetwork")
    hypernetwork = fresh_hypernetwork(attention_widths(unet), config.seed)
    hypernetwork.load_state_dict(state["model"])
    return hypernetwork, int(state["step"])


def save_a1111(hypernetwork: Hypernetwork, path: Path, step: int) -> Path:
    """Write an A1111 `.pt`: per width two `linear.N.*` state dicts (Sequential indices are
    A1111's: Linear 0, activation 1, Linear 2), then the options."""
    data: dict[object, object] = {}
    for dim in hypernetwork.dims:
        pair = hypernetwork.pair(dim)
        assert pair is not None
        data[dim] = [
            {f"linear.{k}": v.detach().float().clone() for k, v in net.state_dict().items()}
            for net in pair
        ]
    data.update(a1111_options(path.stem, LAYER_STRUCTURE, ACTIVATION, False, step))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return path


def train_hypernetwork(config: RunConfig) -> Hypernetwork:
    """Train (or resume) the hypernetwork up to `config.steps` against the frozen model."""
    device = config.torch_device()
    base = load_denoiser(config).to(device)
    hypernetwork = fresh_hypernetwork(attention_widths(base.unet), config.seed).to(device)
    hypernetwork.requires_grad_(True)
    ids_of = CaptionIds()
    vae = trained_vae(config).to(device)
    noiser = Noiser(vae, config.seed, config.batch, UNCOND_RATE, restyle=ink_style)

    def step_loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        b = noiser(step)
        with torch.no_grad():
            cond = base.encode(ids_of(b.captions).to(device))
        pred = base.unet(b.noisy.to(device), b.timesteps.to(device), encoder_hidden_states=cond)
        return F.mse_loss(pred.sample, b.noise.to(device)), {}

    with HypernetworkPatch(hypernetwork, 1.0).applied(base.unet):
        train_loop(config, "hypernetwork", hypernetwork, step_loss)
    return hypernetwork.eval().requires_grad_(False)
