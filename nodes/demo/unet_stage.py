"""Stage 2: the demo UNet and text encoder, trained jointly on the VAE's latents.

Standard SD1 epsilon-prediction training (see `denoising`), captions encoded exactly as
CLIPTextEncode encodes prompts at inference (same tokenizer, 77-token chunk, final layer
norm), so what is learnt here is what the nodes will see. The 49408-row token table keeps
its seeded values (the vocabulary stays, so real embeddings line up) and is not stored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from nodes.demo.configs import DEMO_CLIP, DEMO_UNET, ENCODER_STEPS
from nodes.demo.denoising import UNCOND_RATE, CaptionIds, Noiser
from nodes.demo.training import RunConfig, load_state, train_loop
from nodes.demo.vae_stage import build_vae, rescale_latents
from nodes.sd.text_encode import run_text_model


class DemoDenoiser(torch.nn.Module):
    """UNet + text encoder as one trainable module (one state file, one optimizer)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            self.unet = UNet2DConditionModel(**DEMO_UNET)
            self.text = CLIPTextModel(CLIPTextConfig(**DEMO_CLIP))
        self.text.get_input_embeddings().requires_grad_(False)

    def seeded_keys(self) -> list[str]:
        """State-dict names of the weights that never train."""
        return [name for name, p in self.named_parameters() if not p.requires_grad]

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        embeds = self.text.get_input_embeddings()(ids)
        return run_text_model(self.text, embeds, None)[0]


def trained_vae(config: RunConfig) -> AutoencoderKL:
    """The stage-1 VAE from its state file, rescaled as at the end of stage 1. Its encoder
    must be final (frozen) so that latents do not change under the UNet."""
    state = load_state(config.state_dir / "vae.pt")
    frozen_at = ENCODER_STEPS if state is None else int(state.get("encoder_steps", ENCODER_STEPS))
    if state is None or int(state["step"]) < frozen_at:
        raise SystemExit(f"train the VAE to step {frozen_at} first: nodegraph train-demo vae")
    vae = build_vae(config.seed)
    vae.load_state_dict(state["model"])
    vae.eval().requires_grad_(False)
    rescale_latents(vae, config.seed)
    return vae


def load_denoiser(config: RunConfig) -> DemoDenoiser:
    """The trained UNet + text encoder from the stage-2 state, frozen."""
    state = load_state(config.state_dir / "unet.pt")
    if state is None:
        raise SystemExit("train the UNet first: nodegraph train-demo unet")
    model = DemoDenoiser(config.seed)
    model.load_state_dict(state["model"], strict=False)
    return model.eval().requires_grad_(False)


def train_unet(config: RunConfig) -> tuple[DemoDenoiser, AutoencoderKL]:
    """Train (or resume) UNet + text encoder up to `config.steps`."""
    device = config.torch_device()
    vae = trained_vae(config).to(device)
    model = DemoDenoiser(config.seed).to(device)
    ids_of = CaptionIds()
    noiser = Noiser(vae, config.seed, config.batch, UNCOND_RATE)

    def step_loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        b = noiser(step)
        cond = model.encode(ids_of(b.captions).to(device))
        pred = model.unet(b.noisy.to(device), b.timesteps.to(device), encoder_hidden_states=cond)
        return F.mse_loss(pred.sample, b.noise.to(device)), {}

    train_loop(config, "unet", model, step_loss, seeded=model.seeded_keys())
    model.eval().requires_grad_(False)
    return model, vae
