"""Demo training plumbing: a stopped run resumes to the weights of an unbroken one (up to the
bf16 moments), state files are written atomically and compactly, the learning rate cools
down, the VAE encoder freezes on time, and the VAE latent rescaling is exact."""

from __future__ import annotations

from pathlib import Path

import torch

from nodes.demo.configs import SD1_SCALING
from nodes.demo.scenes import batch
from nodes.demo.training import RunConfig, load_state, train_loop
from nodes.demo.vae_stage import build_vae, latent_std, rescale_latents


def toy_run(state_dir: Path, steps: int, cooldown: int = 0) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    config = RunConfig(
        state_dir=state_dir, steps=steps, batch=8, lr=0.05, save_every=2, cooldown=cooldown
    )

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
        torch.testing.assert_close(a, b, rtol=0, atol=2e-3)  # moments were stored as bf16
    fresh = toy_run(tmp_path / "c", 2)
    pairs = zip(fresh.parameters(), resumed.parameters(), strict=True)
    assert any(not torch.allclose(a, b) for a, b in pairs)
    assert not list((tmp_path / "b").glob("*.partial"))
    moments = load_state(tmp_path / "b" / "toy.pt")["optimizer"]["state"]  # type: ignore[index]
    assert {v["exp_avg"].dtype for v in moments.values()} == {torch.bfloat16}


def test_cooldown_decays_the_rate_to_zero() -> None:
    config = RunConfig(state_dir=Path(), steps=10, batch=1, lr=1.0, cooldown=4)
    assert [config.lr_at(s) for s in range(10)] == [1, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25]
    assert RunConfig(state_dir=Path(), steps=3, batch=1, lr=0.5).lr_at(2) == 0.5


def test_earlier_rounds_replay_their_own_decay() -> None:
    """A state trained to 4 steps, then on to 8: a fresh start with the same rounds gets the
    same warm restart."""
    config = RunConfig(state_dir=Path(), steps=8, batch=1, lr=1.0, cooldown=2, rounds=((4, 2),))
    assert [config.lr_at(s) for s in range(8)] == [1, 1, 1, 0.5, 1, 1, 1, 0.5]


def test_seeded_weights_are_not_stored_and_come_back(tmp_path: Path) -> None:
    from nodes.demo.unet_stage import DemoDenoiser

    model = DemoDenoiser(0)
    seeded = model.seeded_keys()
    assert len(seeded) == 1 and seeded[0].endswith("embeddings.token_embedding.weight")
    config = RunConfig(state_dir=tmp_path, steps=1, batch=1, lr=1e-3)

    def step_loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        ids = torch.tensor([[49406, 320, 49407]])
        return model.encode(ids).square().mean(), {}

    train_loop(config, "den", model, step_loss, seeded=seeded)
    saved = load_state(tmp_path / "den.pt")["model"]  # type: ignore[index]
    assert not set(seeded) & set(saved)
    again = DemoDenoiser(0)
    again.load_state_dict(saved, strict=False)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_vae_encoder_freezes_after_encoder_steps(tmp_path: Path) -> None:
    from nodes.demo.vae_stage import train_vae

    config = RunConfig(state_dir=tmp_path, steps=1, batch=2, lr=1e-3, device="cpu")
    first = train_vae(config, encoder_steps=1)
    config.steps = 3
    later = train_vae(config, encoder_steps=1)
    for part in ("encoder", "quant_conv"):
        before, after = getattr(first, part).parameters(), getattr(later, part).parameters()
        for a, b in zip(before, after, strict=True):
            assert torch.equal(a, b)
    assert not torch.equal(first.decoder.conv_out.weight, later.decoder.conv_out.weight)
    assert load_state(tmp_path / "vae.pt")["encoder_steps"] == 1  # type: ignore[index]


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
