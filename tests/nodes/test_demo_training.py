"""Demo training plumbing: a stopped run resumes to exactly the weights of an unbroken one,
state files are written atomically, and the VAE latent rescaling is exact."""

from __future__ import annotations

from pathlib import Path

import torch

from nodes.demo.configs import SD1_SCALING
from nodes.demo.scenes import batch
from nodes.demo.training import RunConfig, load_state, train_loop
from nodes.demo.vae_stage import build_vae, latent_std, rescale_latents


def toy_run(state_dir: Path, steps: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    config = RunConfig(state_dir=state_dir, steps=steps, batch=8, lr=0.05, save_every=2)

    def step_loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        g = torch.Generator().manual_seed(step)  # the batch depends on the step only
        x = torch.randn(8, 4, generator=g)
        return ((model(x) - x[:, :2] * 3) ** 2).mean(), {}

    train_loop(config, "toy", model, step_loss)
    return model


def test_resumed_training_equals_an_unbroken_run(tmp_path: Path) -> None:
    straight = toy_run(tmp_path / "a", 6)
    toy_run(tmp_path / "b", 4)  # stops after step 4 ...
    assert load_state(tmp_path / "b" / "toy.pt")["step"] == 4  # type: ignore[index]
    resumed = toy_run(tmp_path / "b", 6)  # ... and goes on from the saved state
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not list((tmp_path / "b").glob("*.partial"))


def test_vae_rescale_is_exact() -> None:
    vae = build_vae(0).eval().requires_grad_(False)
    x = torch.from_numpy(batch(5, 0, 4)[0])
    with torch.no_grad():
        before = vae.decode(vae.encode(x).latent_dist.mean).sample
        k = rescale_latents(vae, 0)
        after = vae.decode(vae.encode(x).latent_dist.mean).sample
    assert k > 0
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)
    assert abs(latent_std(vae, 0) * SD1_SCALING - 1.0) < 1e-3


def test_demo_family_fits_the_size_budget() -> None:
    from diffusers import ControlNetModel

    from nodes.demo.configs import SIZE_BUDGET
    from nodes.demo.unet_stage import DemoDenoiser

    model, vae = DemoDenoiser(0), build_vae(0)
    control = ControlNetModel.from_unet(model.unet)
    params = sum(p.numel() for m in (model, vae, control) for p in m.parameters())
    assert params * 2 < SIZE_BUDGET * 0.95  # fp16, leaving room for the hypernetwork
