"""Stage 2: the demo UNet and text encoder, trained jointly on the VAE's latents.

Standard SD1 epsilon-prediction training on the scaled-linear 1000-step schedule, with 10%
of captions replaced by the empty prompt (classifier-free guidance). Captions are encoded
exactly as CLIPTextEncode encodes prompts at inference (same tokenizer, 77-token chunk, final
layer norm), so what is learnt here is what the nodes will see.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from nodes.demo.configs import DEMO_CLIP, DEMO_UNET, IMAGE_SIZE, SD1_SCALING
from nodes.demo.scenes import batch
from nodes.demo.training import RunConfig, load_state, train_loop
from nodes.demo.vae_stage import build_vae, rescale_latents
from nodes.sd.model_sampling import ModelSampling
from nodes.sd.text_encode import run_text_model
from nodes.sd.tokenizer import load_tokenizer, tokenize_with_weights

UNCOND_RATE = 0.1


class DemoDenoiser(torch.nn.Module):
    """UNet + text encoder as one trainable module (one state file, one optimizer)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            self.unet = UNet2DConditionModel(**DEMO_UNET)
            self.text = CLIPTextModel(CLIPTextConfig(**DEMO_CLIP))

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        embeds = self.text.get_input_embeddings()(ids)
        return run_text_model(self.text, embeds, None)[0]


class CaptionIds:
    """Token ids [77] per caption, as CLIPTextEncode makes them; cached (captions repeat)."""

    def __init__(self) -> None:
        self.tokenizer = load_tokenizer()
        self._cache: dict[str, list[int]] = {}

    def __call__(self, captions: list[str]) -> torch.Tensor:
        rows = []
        for caption in captions:
            if caption not in self._cache:
                chunks = tokenize_with_weights(self.tokenizer, caption, None, None)
                self._cache[caption] = [int(token) for token, _ in chunks[0]]
            rows.append(self._cache[caption])
        return torch.tensor(rows, dtype=torch.long)


def trained_vae(config: RunConfig) -> AutoencoderKL:
    """The stage-1 VAE from its state file, rescaled as at the end of stage 1."""
    state = load_state(config.state_dir / "vae.pt")
    if state is None:
        raise SystemExit("train the VAE first: nodegraph train-demo vae")
    vae = build_vae(config.seed)
    vae.load_state_dict(state["model"])
    vae.eval().requires_grad_(False)
    rescale_latents(vae, config.seed)
    return vae


def train_unet(config: RunConfig) -> tuple[DemoDenoiser, AutoencoderKL]:
    """Train (or resume) UNet + text encoder up to `config.steps`."""
    device = config.torch_device()
    vae = trained_vae(config).to(device)
    model = DemoDenoiser(config.seed).to(device)
    ids_of = CaptionIds()
    sigmas = ModelSampling.sd1().sigmas.double()
    alphas = (1.0 / (1.0 + sigmas**2)).float().to(device)  # alphas_cumprod per timestep

    def step_loss(step: int) -> tuple[torch.Tensor, dict[str, Any]]:
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        images, captions = batch(config.seed, step * config.batch, config.batch, IMAGE_SIZE)
        drop = torch.rand(len(captions), generator=generator) < UNCOND_RATE
        captions = ["" if d else c for c, d in zip(captions, drop.tolist(), strict=True)]
        with torch.no_grad():
            posterior = vae.encode(torch.from_numpy(images).to(device)).latent_dist
            noise_latent = torch.randn(posterior.mean.shape, generator=generator).to(device)
            latents = (posterior.mean + posterior.std * noise_latent) * SD1_SCALING
        t = torch.randint(0, len(alphas), (len(captions),), generator=generator).to(device)
        noise = torch.randn(latents.shape, generator=generator).to(device)
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * latents + (1 - a).sqrt() * noise
        cond = model.encode(ids_of(captions).to(device))
        pred = model.unet(noisy, t, encoder_hidden_states=cond).sample
        return F.mse_loss(pred, noise), {}

    train_loop(config, "unet", model, step_loss)
    model.eval().requires_grad_(False)
    return model, vae
