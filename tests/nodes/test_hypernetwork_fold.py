"""Linear-activation hypernetworks (A1111's default) are folded into one affine k/v map; the
result matches running the networks layer by layer."""

from __future__ import annotations

from collections import OrderedDict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.sd.hypernetwork import (
    TINY_WIDTHS,
    build_hypernetwork,
    load_hypernetwork,
    write_hypernetwork,
)
from nodes.sd.hypernetwork_attention import (
    HypernetAttnProcessor,
    HypernetworkPatch,
    KVStep,
    affine_form,
)
from nodes.sd.tiny import tiny_components


def rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def unet() -> Any:
    return tiny_components(0)[0]


def linear_file(tmp_path: Path, structure: tuple[float, ...] = (1, 2, 1), seed: int = 3) -> Any:
    path = write_hypernetwork(
        tmp_path / f"lin{seed}.pt",
        TINY_WIDTHS,
        seed,
        structure,
        activation="linear",
        layer_norm=False,
    )
    return load_hypernetwork(path)


def run(unet: torch.nn.Module, *patches: HypernetworkPatch) -> torch.Tensor:
    x, context = rand(2, 4, 8, 8, seed=5), rand(2, 7, 64, seed=6)
    with ExitStack() as stack, torch.inference_mode():
        for patch in patches:
            stack.enter_context(patch.applied(unet))
        return unet(x, torch.tensor([500, 20]), encoder_hidden_states=context).sample


@pytest.mark.parametrize("structure", [(1, 2, 1), (1, 1), (1, 1.5, 0.5, 1)])
def test_affine_form_equals_the_linear_chain(tmp_path: Path, structure: Any) -> None:
    hn = linear_file(tmp_path, structure)
    x = rand(5, 64, seed=1).double()
    for net in hn.pair(64):
        weight, bias = affine_form(net)
        with torch.inference_mode():
            expected = net.double()(x)
        torch.testing.assert_close(x @ weight.T + bias, expected)


def test_old_linear1_linear2_file_folds_and_nonlinear_ones_do_not(tmp_path: Path) -> None:
    old = OrderedDict(
        [
            ("linear1.weight", rand(128, 64, seed=1) * 0.1),
            ("linear1.bias", rand(128, seed=2) * 0.1),
            ("linear2.weight", rand(64, 128, seed=3) * 0.1),
            ("linear2.bias", rand(64, seed=4) * 0.1),
        ]
    )
    hn = build_hypernetwork({64: [old, old]})
    assert set(KVStep(hn, 1.0).fused) == {64}
    relu = load_hypernetwork(
        write_hypernetwork(tmp_path / "r.pt", TINY_WIDTHS, 0, activation="relu", layer_norm=False)
    )
    norm = load_hypernetwork(
        write_hypernetwork(tmp_path / "n.pt", TINY_WIDTHS, 0, activation="linear")
    )
    assert affine_form(relu.pair(64)[0]) is None and affine_form(norm.pair(64)[0]) is None
    assert KVStep(relu, 1.0).fused == {} and KVStep(norm, 1.0).fused == {}


def test_folded_step_matches_the_networks(tmp_path: Path) -> None:
    hn = linear_file(tmp_path)
    step = KVStep(hn, 0.7)
    assert set(step.fused) == set(TINY_WIDTHS)
    c = rand(2, 9, 64, seed=2)
    k_net, v_net = hn.pair(64)
    with torch.inference_mode():
        for key, value in ((c, c), (c, c * 2)):  # one fused GEMM, and separate inputs
            k_in, v_in = step(key, value)
            torch.testing.assert_close(k_in, key + k_net(key) * 0.7, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(v_in, value + v_net(value) * 0.7, rtol=1e-5, atol=1e-5)


def test_folded_unet_output_matches_unfolded(unet: Any, tmp_path: Path) -> None:
    hn = linear_file(tmp_path)
    base = run(unet)
    assert torch.equal(run(unet, HypernetworkPatch(hn, 0.0)), base)
    folded = run(unet, HypernetworkPatch(hn, 0.8))
    assert (folded - base).abs().max() > 1e-2  # the hypernetwork really acts

    unfolded = KVStep(hn, 0.8)
    unfolded.fused.clear()
    x, context = rand(2, 4, 8, 8, seed=5), rand(2, 7, 64, seed=6)
    originals = dict(unet.attn_processors)
    try:
        unet.set_attn_processor(HypernetAttnProcessor((unfolded,)))
        with torch.inference_mode():
            reference = unet(x, torch.tensor([500, 20]), encoder_hidden_states=context).sample
    finally:
        unet.set_attn_processor(originals)
    torch.testing.assert_close(folded, reference, rtol=1e-4, atol=1e-4)


def test_folded_step_chains_after_a_nonlinear_one(unet: Any, tmp_path: Path) -> None:
    from nodes.sd.hypernetwork import write_tiny_hypernetwork

    first = load_hypernetwork(write_tiny_hypernetwork(tmp_path / "t.pt"))  # relu + layer norm
    second = linear_file(tmp_path)
    processor = HypernetAttnProcessor((KVStep(first, 0.5), KVStep(second, 0.3)))
    c = rand(1, 3, 64, seed=9)
    with torch.inference_mode():
        k, v = processor.transform(c)
        k1 = c + first.pair(64)[0](c) * 0.5
        v1 = c + first.pair(64)[1](c) * 0.5
        torch.testing.assert_close(k, k1 + second.pair(64)[0](k1) * 0.3, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(v, v1 + second.pair(64)[1](v1) * 0.3, rtol=1e-5, atol=1e-5)


def test_stacked_first_layer_matches_the_networks(tmp_path: Path) -> None:
    from nodes.sd.hypernetwork import write_tiny_hypernetwork

    hn = load_hypernetwork(write_tiny_hypernetwork(tmp_path / "t.pt"))  # relu + layer norm
    step = KVStep(hn, 0.6)
    assert step.fused == {} and set(step.first) == set(TINY_WIDTHS)
    c = rand(2, 5, 64, seed=4)
    k_net, v_net = hn.pair(64)
    with torch.inference_mode():
        k_in, v_in = step(c, c)  # shared input: one GEMM for both first layers
        torch.testing.assert_close(k_in, c + k_net(c) * 0.6, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(v_in, c + v_net(c) * 0.6, rtol=1e-5, atol=1e-5)
