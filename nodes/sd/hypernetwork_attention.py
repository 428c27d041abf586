"""Hypernetworks applied to UNet attention: processors that transform the k/v inputs.

While a patch is applied, every self- and cross-attention layer whose k/v input (context) has a
width the file covers computes `k_in = c + hn_k(c) * strength` and `v_in = c + hn_v(c) * strength`
(q is untouched), as ComfyUI's attn1/attn2 patches do.

Speed: A1111's default hypernetwork ("linear" activation, no layer norm) is a chain of Linear
layers, i.e. one affine map. Such networks are folded, once per application, into a single
`[2·dim, dim]` matrix that yields k_in and v_in in one GEMM: `I + strength·W_k` stacked over
`I + strength·W_v`. A [1, 2, 1] network then costs a quarter of its unfolded arithmetic. Networks
with activations or layer norms run as built.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from nodes.sd.hypernetwork import Hypernetwork

KV = tuple[torch.Tensor, torch.Tensor]


def affine_form(net: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(W, b) in float64 with `net(x) == x @ W.T + b`, when `net` is only Linear layers;
    None when anything else (an activation, a layer norm) sits in it."""
    layers = list(net) if isinstance(net, torch.nn.Sequential) else [net]
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    for layer in layers:
        if isinstance(layer, torch.nn.Identity):
            continue
        if not isinstance(layer, torch.nn.Linear) or layer.bias is None:
            return None
        w = layer.weight.detach().to("cpu", torch.float64)
        b = layer.bias.detach().to("cpu", torch.float64)
        if weight is None or bias is None:
            weight, bias = w, b
        else:
            weight, bias = w @ weight, w @ bias + b
    if weight is None or bias is None:
        return None
    return weight, bias


class KVStep:
    """One hypernetwork at one strength, prepared for a device and dtype: `(key, value) ->
    (key + hn_k(key)·s, value + hn_v(value)·s)` for the widths the file covers."""

    def __init__(
        self,
        hypernetwork: Hypernetwork,
        strength: float,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.hypernetwork = hypernetwork
        self.strength = float(strength)
        parameter = next(hypernetwork.parameters())
        device = parameter.device if device is None else device
        dtype = parameter.dtype if dtype is None else dtype
        self.fused: dict[int, KV] = {}
        """Per width, the folded [2·dim, dim] weight and [2·dim] bias (affine networks only)."""
        self.first: dict[int, tuple[torch.Tensor, torch.Tensor, int, Any, Any]] = {}
        """Per width of other networks: both first Linear layers stacked (one GEMM when k and v
        share their input, as in self-attention), the key net's width, and the rest of each."""
        if any(p.requires_grad for p in hypernetwork.parameters()):
            return  # being trained: run the networks as built so every layer gets gradients
        for dim in hypernetwork.dims:
            pair = hypernetwork.pair(dim)
            assert pair is not None
            forms = affine_form(pair[0]), affine_form(pair[1])
            if forms[0] is None or forms[1] is None:
                self._stack_first(dim, pair[0], pair[1])
                continue
            eye = torch.eye(dim, dtype=torch.float64)
            weight = torch.cat([eye + self.strength * w for w, _ in forms])  # type: ignore[misc]
            bias = torch.cat([self.strength * b for _, b in forms])  # type: ignore[misc]
            self.fused[dim] = (weight.to(device, dtype), bias.to(device, dtype))

    def _stack_first(self, dim: int, k_net: Any, v_net: Any) -> None:
        if not (isinstance(k_net, torch.nn.Sequential) and isinstance(v_net, torch.nn.Sequential)):
            return
        k0, v0 = k_net[0], v_net[0]
        if not (isinstance(k0, torch.nn.Linear) and isinstance(v0, torch.nn.Linear)):
            return
        weight = torch.cat([k0.weight.detach(), v0.weight.detach()])
        bias = torch.cat([k0.bias.detach(), v0.bias.detach()])
        self.first[dim] = (weight, bias, k0.out_features, k_net[1:], v_net[1:])

    def __call__(self, key: torch.Tensor, value: torch.Tensor) -> KV:
        if self.strength == 0.0:
            return key, value
        dim = key.shape[-1]
        first = self.first.get(dim)
        if first is not None and key is value:
            weight, bias, split, k_rest, v_rest = first
            k_hidden, v_hidden = F.linear(key, weight, bias).split(
                [split, weight.shape[0] - split], dim=-1
            )
            return (
                torch.add(key, k_rest(k_hidden), alpha=self.strength),
                torch.add(value, v_rest(v_hidden), alpha=self.strength),
            )
        fused = self.fused.get(dim)
        if fused is not None:
            weight, bias = fused
            if key is value:
                k_in, v_in = F.linear(key, weight, bias).split(dim, dim=-1)
                return k_in, v_in
            return (
                F.linear(key, weight[:dim], bias[:dim]),
                F.linear(value, weight[dim:], bias[dim:]),
            )
        pair = self.hypernetwork.pair(dim)
        if pair is None:
            return key, value
        return (
            torch.add(key, pair[0](key), alpha=self.strength),
            torch.add(value, pair[1](value), alpha=self.strength),
        )


class CrossCache:
    """The last text context seen and its (k_in, v_in). Keyed by the tensor object itself, held
    here so its identity cannot be reused by another tensor while cached."""

    def __init__(self) -> None:
        self._entry: tuple[torch.Tensor, tuple[KVStep, ...], KV] | None = None

    def get(self, context: torch.Tensor, steps: tuple[KVStep, ...]) -> KV | None:
        entry = self._entry
        if entry is not None and entry[0] is context and entry[1] == steps:
            return entry[2]
        return None

    def put(self, context: torch.Tensor, steps: tuple[KVStep, ...], kv: KV) -> None:
        self._entry = (context, steps, kv)


class HypernetAttnProcessor:
    """Scaled-dot-product attention (as diffusers' AttnProcessor2_0) whose key and value inputs
    first go through a chain of hypernetwork steps, in order."""

    def __init__(self, steps: tuple[KVStep, ...], shared: CrossCache | None = None) -> None:
        self.steps = steps
        self.shared = shared if shared is not None else CrossCache()

    def transform(self, context: torch.Tensor) -> KV:
        """(k_in, v_in) for a context; widths a hypernetwork lacks pass through unchanged."""
        key = value = context
        for step in self.steps:
            key, value = step(key, value)
        return key, value

    def transform_cross(self, context: torch.Tensor) -> KV:
        """transform() for the text context, computed once per UNet call: every cross-attention
        of a call gets the same context tensor and the same width's networks."""
        found = self.shared.get(context, self.steps)
        if found is None:
            found = self.transform(context)
            self.shared.put(context, self.steps, found)
        return found

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        batch, sequence_length, _ = context.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, sequence_length, batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            context = hidden_states
        elif attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        if encoder_hidden_states is not None and context is encoder_hidden_states:
            key_in, value_in = self.transform_cross(context)
        else:
            key_in, value_in = self.transform(context)
        key = attn.to_k(key_in)
        value = attn.to_v(value_in)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        hidden_states = F.scaled_dot_product_attention(
            query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=False
        )
        hidden_states = hidden_states.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim)
        hidden_states = hidden_states.to(query.dtype)
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def transformer_attentions(unet: torch.nn.Module) -> list[torch.nn.Module]:
    """The self- (attn1) and cross-attention (attn2) layers of the UNet's transformer blocks,
    the ones ComfyUI's attn1/attn2 patches reach."""
    return [
        module
        for name, module in unet.named_modules()
        if name.rsplit(".", 1)[-1] in ("attn1", "attn2") and hasattr(module, "set_processor")
    ]


@dataclass(frozen=True, eq=False)
class HypernetworkPatch:
    """A MODEL patch: the hypernetwork at a strength, installed only inside `applied`."""

    hypernetwork: Hypernetwork
    strength: float
    name: str = ""

    @contextmanager
    def applied(self, unet: torch.nn.Module) -> Iterator[None]:
        """Install hypernetwork processors on every transformer attention of `unet` (chained
        after hypernetworks already installed) and put the original processors back on exit."""
        parameter = next(unet.parameters())
        self.hypernetwork.to(parameter.device, parameter.dtype)
        step = KVStep(self.hypernetwork, self.strength, parameter.device, parameter.dtype)
        originals: list[tuple[torch.nn.Module, Any]] = []
        shared = CrossCache()
        try:
            for attention in transformer_attentions(unet):
                current = attention.processor
                originals.append((attention, current))
                steps = current.steps if isinstance(current, HypernetAttnProcessor) else ()
                attention.set_processor(HypernetAttnProcessor((*steps, step), shared))
            yield
        finally:
            for attention, original in reversed(originals):
                attention.set_processor(original)
