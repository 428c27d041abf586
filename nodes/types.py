"""Payloads that flow along SD links: MODEL, CLIP, VAE, CONDITIONING, LATENT, IMAGE, MASK.

Model weights are owned by the model manager and shared; these payloads only point at them, so
the output cache never counts (or copies) weights. Payloads are immutable: a node that changes
one (CLIP skip, a patch, an area) returns a copy made with `dataclasses.replace`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import torch

from nodegraph import Socket

if TYPE_CHECKING:
    from nodes.sd.model_sampling import ModelSampling

Image = Annotated[torch.Tensor, Socket("IMAGE")]
"""Images as ComfyUI passes them: float32 [batch, height, width, channels] in 0..1."""

Mask = Annotated[torch.Tensor, Socket("MASK")]
"""Masks as ComfyUI passes them: float32 [batch, height, width] in 0..1 (1 = masked)."""


@dataclass(frozen=True, eq=False)
class Model:
    """A UNet plus how it maps noise levels to timesteps, and patches applied while sampling."""

    __socket_type__ = "MODEL"

    unet: Any
    """diffusers UNet2DConditionModel, shared; never modified in place by a node."""
    sampling: ModelSampling
    name: str
    """Where it came from (file name), for messages."""
    patches: tuple[Any, ...] = ()
    """Attention and weight patches (hypernetworks, LoRA) applied while this model samples."""

    def __nbytes__(self) -> int:
        return 0


@dataclass(frozen=True, eq=False)
class Clip:
    """A CLIP text encoder, its tokenizer, the layer to stop at (CLIP skip), and patches."""

    __socket_type__ = "CLIP"

    text_model: Any
    """transformers CLIPTextModel, shared."""
    tokenizer: Any
    """transformers CLIPTokenizer built from the vendored BPE vocabulary."""
    name: str
    layer_idx: int | None = None
    """None: last layer; -2: penultimate (CLIPSetLastLayer's stop_at_clip_layer)."""
    patches: tuple[Any, ...] = ()

    def __nbytes__(self) -> int:
        return 0


@dataclass(frozen=True, eq=False)
class Vae:
    """An SD autoencoder (f=8, 4 latent channels) and its latent scale factor."""

    __socket_type__ = "VAE"

    vae: Any
    """diffusers AutoencoderKL, shared."""
    name: str
    scaling_factor: float = 0.18215

    def __nbytes__(self) -> int:
        return 0


@dataclass(frozen=True, eq=False)
class CondEntry:
    """One conditioning: token embeddings [1, tokens, width] and where/how strongly it applies."""

    cond: torch.Tensor
    pooled: torch.Tensor | None = None
    area: tuple[int, int, int, int] | tuple[str, float, float, float, float] | None = None
    """(height, width, y, x) in latent pixels (ComfyUI's order, already divided by 8), or
    ("percentage", h, w, y, x) as fractions of the latent."""
    strength: float = 1.0
    set_area_to_bounds: bool = False
    mask: torch.Tensor | None = None
    mask_strength: float = 1.0
    control: Any = None
    """The ControlNet chain applied with this conditioning (ControlNetApply), if any."""
    extra: dict[str, Any] = field(default_factory=dict)

    def __nbytes__(self) -> int:
        size = self.cond.nbytes
        if self.pooled is not None:
            size += self.pooled.nbytes
        if self.mask is not None:
            size += self.mask.nbytes
        return size


@dataclass(frozen=True, eq=False)
class Conditioning:
    """ComfyUI's CONDITIONING: a list of entries, all applied together while sampling."""

    __socket_type__ = "CONDITIONING"

    entries: tuple[CondEntry, ...]

    def __nbytes__(self) -> int:
        return sum(e.__nbytes__() for e in self.entries)


@dataclass(frozen=True, eq=False)
class Latent:
    """ComfyUI's LATENT: samples [batch, 4, height/8, width/8], optional noise mask and the
    batch indexes the samples came from (so LatentFromBatch keeps per-image noise)."""

    __socket_type__ = "LATENT"

    samples: torch.Tensor
    noise_mask: torch.Tensor | None = None
    batch_index: tuple[int, ...] | None = None

    def __nbytes__(self) -> int:
        size = self.samples.nbytes
        if self.noise_mask is not None:
            size += self.noise_mask.nbytes
        return size


@dataclass(frozen=True, eq=False)
class ControlNet:
    """A loaded ControlNet (shared through the model manager)."""

    __socket_type__ = "CONTROL_NET"

    model: Any
    """diffusers ControlNetModel, shared."""
    name: str

    def __nbytes__(self) -> int:
        return 0


@dataclass(frozen=True, eq=False)
class ControlLink:
    """One ControlNet applied to a conditioning entry with its hint image and step window,
    chained onto the control that entry already had."""

    net: ControlNet
    hint: torch.Tensor
    """[batch, height, width, 3] image in 0..1."""
    strength: float
    start_percent: float = 0.0
    end_percent: float = 1.0
    previous: ControlLink | None = None

    def active(self, sigma: float, percent_to_sigma: Callable[[float], float]) -> bool:
        """ComfyUI: on while sigma(end_percent) <= sigma <= sigma(start_percent)."""
        return percent_to_sigma(self.end_percent) <= sigma <= percent_to_sigma(self.start_percent)
