"""The text-context hypernetwork output is computed once per UNet call, not per cross-attention
layer, and the result equals computing it in every layer."""

from __future__ import annotations

from pathlib import Path

import torch

from nodes.sd.hypernetwork import (
    load_hypernetwork,
    write_tiny_hypernetwork,
)
from nodes.sd.hypernetwork_attention import (
    HypernetAttnProcessor,
    HypernetworkPatch,
    transformer_attentions,
)
from nodes.sd.tiny import tiny_components


def test_cross_attention_context_is_transformed_once_per_call(tmp_path: Path) -> None:
    unet = tiny_components(0)[0]
    hn = load_hypernetwork(write_tiny_hypernetwork(tmp_path / "h.pt", seed=0))
    k_net = hn.pair(64)[0]  # type: ignore[index]
    calls: list[int] = []
    # the last layer runs however the first is batched (k and v share one GEMM when they can)
    k_net[-1].register_forward_hook(lambda module, inputs, out: calls.append(inputs[0].shape[1]))
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    context = torch.randn(2, 77, 64, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([500.0, 500.0])
    patch = HypernetworkPatch(hn, 1.0)
    with torch.inference_mode(), patch.applied(unet):
        cached = unet(x, t, encoder_hidden_states=context, return_dict=False)[0]
        self_layers = sum(
            1
            for name, a in transformer_attentions_named(unet)
            if name.endswith("attn1") and a.to_k.in_features == 64
        )
        assert calls.count(77) == 1
        assert len(calls) == self_layers + 1
        for attention in transformer_attentions(unet):  # a fresh cache per layer: no sharing
            attention.set_processor(HypernetAttnProcessor(attention.processor.steps))
        uncached = unet(x, t, encoder_hidden_states=context, return_dict=False)[0]
    assert torch.equal(cached, uncached)


def transformer_attentions_named(unet: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    return [(n, m) for n, m in unet.named_modules() if n.endswith(("attn1", "attn2"))]
