"""Resumable training plumbing shared by the demo stages: state files, devices, the loop.

A stage's whole state (trained weights, optimizer, step) lives in one `.pt` file, written
atomically every `save_every` steps and at the end. Batches are a pure function of
(seed, step), so a run that stops and resumes sees the data it would have seen. Adam's
moments are stored as bf16 and weights that never train (seeded at construction) are not
stored at all, which keeps the committed state files small; a resume is therefore equal to
an unbroken run up to bf16 rounding of the moments, not bit for bit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


def log_line(text: str) -> None:
    """Progress lines, flushed at once (training runs in the background, logging to a file)."""
    print(text, flush=True)


@dataclass
class RunConfig:
    """What every stage takes from the command line."""

    state_dir: Path
    steps: int
    batch: int
    lr: float
    seed: int = 0
    save_every: int = 200
    device: str = "auto"
    log_every: int = 25
    cooldown: int = 0
    """The learning rate decays linearly to 0 over the last `cooldown` steps."""
    rounds: tuple[tuple[int, int], ...] = ()
    """Earlier runs as (steps, cooldown), each ending in its own decay: the schedule a state
    went through, so a fresh start replays the warm restarts of the shipped run."""

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def lr_at(self, step: int) -> float:
        """The learning rate for the update that makes step `step + 1`."""
        end, cooldown = next(
            ((end, cool) for end, cool in sorted(self.rounds) if step < end),
            (self.steps, self.cooldown),
        )
        left = end - step
        if cooldown > 0 and left < cooldown:
            return self.lr * left / cooldown
        return self.lr


def saved_step(path: Path) -> int:
    """The step a state file was saved at, without reading its tensors (memory-mapped)."""
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return int(state["step"])


def load_state(path: Path) -> dict[str, Any] | None:
    """A stage's saved state, or None for a fresh start."""
    if not path.is_file():
        return None
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: an interrupted save never leaves a broken state file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def compact_optimizer(state: dict[str, Any]) -> dict[str, Any]:
    """The optimizer state with floating moments as bf16 (loading casts them back to the
    parameters' dtype): half the bytes of the largest part of a state file."""
    per_param = {
        index: {
            key: value.to(torch.bfloat16)
            if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dim() > 0
            else value
            for key, value in entries.items()
        }
        for index, entries in state["state"].items()
    }
    return {**state, "state": per_param}


def train_loop(
    config: RunConfig,
    name: str,
    model: torch.nn.Module,
    step_loss: Callable[[int], tuple[torch.Tensor, dict[str, float]]],
    extra_state: Callable[[], dict[str, Any]] | None = None,
    seeded: Collection[str] = (),
) -> dict[str, Any]:
    """Run `step_loss(step)` -> (loss, metrics) with AdamW from the saved step up to
    `config.steps`; returns the final state dict. Losses are logged as running means.
    `seeded` names state-dict entries that never train (rebuilt from the seed): not saved."""
    path = config.state_dir / f"{name}.pt"
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=0.0
    )
    state = load_state(path)
    step = 0
    if state is not None:
        missing, unexpected = model.load_state_dict(state["model"], strict=False)
        if unexpected or set(missing) - set(seeded):
            raise SystemExit(f"{path} does not fit this model: {missing[:3]} {unexpected[:3]}")
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        log_line(f"{name}: resuming at step {step} from {path}")
    model.train()
    sums: dict[str, float] = {}
    began, count = time.monotonic(), 0

    def snapshot() -> dict[str, Any]:
        weights = {k: v for k, v in model.state_dict().items() if k not in seeded}
        data = {
            "model": weights,
            "optimizer": compact_optimizer(optimizer.state_dict()),
            "step": step,
        }
        if extra_state is not None:
            data.update(extra_state())
        return data

    while step < config.steps:
        for group in optimizer.param_groups:
            group["lr"] = config.lr_at(step)
        loss, metrics = step_loss(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        count += 1
        for key, value in {"loss": loss.item(), **metrics}.items():
            sums[key] = sums.get(key, 0.0) + value
        if step % config.log_every == 0 or step == config.steps:
            rate = count / max(time.monotonic() - began, 1e-9)
            means = " ".join(f"{k} {v / count:.4f}" for k, v in sums.items())
            log_line(f"{name} step {step}/{config.steps}: {means} ({rate:.2f} steps/s)")
            sums, began, count = {}, time.monotonic(), 0
        if step % config.save_every == 0 or step == config.steps:
            save_state(path, snapshot())
    model.eval()
    return snapshot()
