"""Stage 3: the demo ControlNet, trained on Canny edge maps of the scenes.

A ControlNet copied from the trained UNet's encoder (lllyasviel's hint widths, zero
convolutions at zero), trained with the UNet and text encoder frozen so that the shape
appears where the edges are. Hints are exactly what the Canny node gives at the thresholds
the shipped workflow uses; half the captions are empty so the edges must carry the layout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import ControlNetModel, UNet2DConditionModel

from nodes.demo.denoising import CaptionIds, Noiser, PerImage, image_tensor
from nodes.demo.scenes import Scene
from nodes.demo.training import RunConfig, load_state, train_loop
from nodes.demo.unet_stage import load_denoiser, trained_vae
from nodes.sd.canny import canny

HINT_WIDTHS = (16, 32, 96, 256)
"""lllyasviel's input_hint_block widths."""
CANNY_THRESHOLDS = (0.05, 0.1)
"""The Canny node's thresholds in workflows/controlnet_canny.json. The node's defaults
(0.4/0.8) find no edge at all in most of these flat 64x64 scenes (shape and background of
similar luminance); these find edges in nearly all of them."""
EMPTY_CAPTIONS = 0.5


def edge_hint(sample: Scene) -> torch.Tensor:
    """The Canny node's output for the rendered scene, [3, H, W] in 0..1."""
    pixels = (image_tensor(sample)[None] + 1) / 2
    _, edges = canny(pixels, *CANNY_THRESHOLDS)
    return edges[0].repeat(3, 1, 1)


def build_controlnet(unet: UNet2DConditionModel, seed: int) -> ControlNetModel:
    """A fresh ControlNet copied from the trained UNet. The zero convolutions into the UNet
    stay at zero (the model starts out exactly as the UNet), but the hint embedding's last
    convolution gets ordinary random weights: zero there as well would give it no gradient
    until the zero convolutions had grown, the slow start ControlNets are known for."""
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=HINT_WIDTHS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 3)
        net.controlnet_cond_embedding.conv_out.reset_parameters()
    return net


def load_controlnet_state(config: RunConfig, unet: UNet2DConditionModel) -> ControlNetModel:
    """The trained ControlNet, built around the trained `unet` it was copied from."""
    state = load_state(config.state_dir / "controlnet.pt")
    if state is None:
        raise SystemExit("train the ControlNet first: nodegraph train-demo controlnet")
    net = build_controlnet(unet, config.seed)
    net.load_state_dict(state["model"])
    return net.eval().requires_grad_(False)


def train_controlnet(config: RunConfig) -> ControlNetModel:
    """Train (or resume) the ControlNet up to `config.steps` against the frozen UNet."""
    device = config.torch_device()
    base = load_denoiser(config).to(device)
    net = build_controlnet(base.unet, config.seed).to(device)
    ids_of = CaptionIds()
    noiser = Noiser(trained_vae(config).to(device), config.seed, config.batch, EMPTY_CAPTIONS)
    hints = PerImage(edge_hint)

    def step_loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        b = noiser(step)
        noisy, t = b.noisy.to(device), b.timesteps.to(device)
        with torch.no_grad():
            cond = base.encode(ids_of(b.captions).to(device))
        down, mid = net(
            noisy,
            t,
            encoder_hidden_states=cond,
            controlnet_cond=hints(b.scenes).to(device),
            return_dict=False,
        )
        pred = base.unet(
            noisy,
            t,
            encoder_hidden_states=cond,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample
        return F.mse_loss(pred, b.noise.to(device)), {}

    train_loop(config, "controlnet", net, step_loss)
    return net.eval().requires_grad_(False)
