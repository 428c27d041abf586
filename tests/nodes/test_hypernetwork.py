"""Hypernetworks: A1111/NovelAI layouts parsed as ComfyUI does, the attention patch on the tiny
UNet (strength, restore, attn1 + attn2, chaining), the HypernetworkLoader node, and tiny files."""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from nodegraph.engine import Engine
from nodegraph.plugins import load_registry
from nodegraph.registry import Registry
from nodegraph.settings import Settings
from nodes import hypernetwork as hypernetwork_node
from nodes.sd.embeddings import load_embedding
from nodes.sd.hypernetwork import (
    HypernetworkFormatError,
    UnsupportedHypernetworkError,
    build_hypernetwork,
    load_hypernetwork,
    write_tiny_hypernetwork,
)
from nodes.sd.hypernetwork_attention import (
    HypernetAttnProcessor,
    HypernetworkPatch,
    KVStep,
    transformer_attentions,
)
from nodes.sd.tiny import tiny_components
from nodes.sd.tiny_embedding import write_tiny_embedding


def rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def a1111_net(dim: int, seed: int, *, layer_norm: bool, hidden: int = 8) -> OrderedDict:
    """State dict of A1111's Sequential for layer_structure [1, h, 1] with an activation."""
    w0, b0 = rand(hidden, dim, seed=seed), rand(hidden, seed=seed + 1)
    w1, b1 = rand(dim, hidden, seed=seed + 2), rand(dim, seed=seed + 3)
    if not layer_norm:  # [Linear, Act, Linear]
        return OrderedDict(
            [
                ("linear.0.weight", w0),
                ("linear.0.bias", b0),
                ("linear.2.weight", w1),
                ("linear.2.bias", b1),
            ]
        )
    g0, n0 = rand(hidden, seed=seed + 4), rand(hidden, seed=seed + 5)
    g1, n1 = rand(dim, seed=seed + 6), rand(dim, seed=seed + 7)
    return OrderedDict(
        [  # [Linear, Act, LayerNorm, Linear, LayerNorm]
            ("linear.0.weight", w0),
            ("linear.0.bias", b0),
            ("linear.2.weight", g0),
            ("linear.2.bias", n0),
            ("linear.3.weight", w1),
            ("linear.3.bias", b1),
            ("linear.4.weight", g1),
            ("linear.4.bias", n1),
        ]
    )


def a1111_file(dims: tuple[int, ...] = (4,), **options: Any) -> dict[Any, Any]:
    layer_norm = bool(options.get("is_layer_norm", False))
    data: dict[Any, Any] = {
        d: [
            a1111_net(d, 10 * d, layer_norm=layer_norm),
            a1111_net(d, 10 * d + 100, layer_norm=layer_norm),
        ]
        for d in dims
    }
    data.update({"step": 5, "name": "x", "layer_structure": [1, 2, 1], **options})
    return data


def kinds(module: torch.nn.Module) -> list[str]:
    return [type(m).__name__ for m in module]


def test_layout_without_layer_norm_and_activate_output() -> None:
    net = build_hypernetwork(a1111_file(activation_func="relu")).pair(4)
    assert net is not None and kinds(net[0]) == ["Linear", "ReLU", "Linear"]
    state = a1111_file()[4][0]
    x = rand(3, 4, seed=1)
    hidden = torch.relu(x @ state["linear.0.weight"].T + state["linear.0.bias"])
    expected = hidden @ state["linear.2.weight"].T + state["linear.2.bias"]
    torch.testing.assert_close(net[0](x), expected)
    active = build_hypernetwork(a1111_file(activation_func="relu", activate_output=True))
    assert kinds(active.pair(4)[0]) == ["Linear", "ReLU", "Linear", "ReLU"]  # type: ignore[index]


def test_layer_norm_quirk_activates_the_last_linear_too() -> None:
    data = a1111_file(activation_func="tanh", is_layer_norm=True)
    net = build_hypernetwork(data).pair(4)[1]  # type: ignore[index]
    assert kinds(net) == ["Linear", "Tanh", "LayerNorm", "Linear", "Tanh", "LayerNorm"]
    s = data[4][1]
    x = rand(2, 4, seed=2)
    h = torch.tanh(x @ s["linear.0.weight"].T + s["linear.0.bias"])
    h = torch.nn.functional.layer_norm(h, (8,), s["linear.2.weight"], s["linear.2.bias"])
    h = torch.tanh(h @ s["linear.3.weight"].T + s["linear.3.bias"])
    h = torch.nn.functional.layer_norm(h, (4,), s["linear.4.weight"], s["linear.4.bias"])
    torch.testing.assert_close(net(x), h)


def test_old_novelai_linear1_linear2_file() -> None:
    def old(seed: int) -> dict[str, torch.Tensor]:
        return {
            "linear1.weight": rand(8, 4, seed=seed),
            "linear1.bias": rand(8, seed=seed + 1),
            "linear2.weight": rand(4, 8, seed=seed + 2),
            "linear2.bias": rand(4, seed=seed + 3),
        }

    data = {4: [old(0), old(10)], "step": 100}
    hn = build_hypernetwork(data)
    assert hn.dims == [4]
    net = hn.pair(4)[0]  # type: ignore[index]
    assert kinds(net) == ["Linear", "Linear"]  # no activation_func key: linear (Identity skipped)
    s, x = data[4][0], rand(5, 4, seed=3)
    expected = (x @ s["linear1.weight"].T + s["linear1.bias"]) @ s["linear2.weight"].T
    torch.testing.assert_close(net(x), expected + s["linear2.bias"])


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("relu", "ReLU"),
        ("leakyrelu", "LeakyReLU"),
        ("elu", "ELU"),
        ("swish", "Hardswish"),
        ("tanh", "Tanh"),
        ("sigmoid", "Sigmoid"),
        ("softsign", "Softsign"),
        ("mish", "Mish"),
    ],
)
def test_activations(name: str, kind: str) -> None:
    net = build_hypernetwork(a1111_file(activation_func=name)).pair(4)[0]  # type: ignore[index]
    assert kinds(net) == ["Linear", kind, "Linear"]
    assert kinds(build_hypernetwork(a1111_file(activation_func="linear")).pair(4)[0]) == [  # type: ignore[index]
        "Linear",
        "Linear",
    ]


def test_unsupported_activation_and_dropout() -> None:
    with pytest.raises(UnsupportedHypernetworkError, match="'gelu'"):
        build_hypernetwork(a1111_file(activation_func="gelu"))
    data = a1111_file(activation_func="relu", use_dropout=True, last_layer_dropout=True)
    assert "Dropout" not in kinds(build_hypernetwork(data).pair(4)[0])  # type: ignore[index]


def test_format_errors_are_clear() -> None:
    with pytest.raises(HypernetworkFormatError, match="no attention widths"):
        build_hypernetwork({"name": "x", "activation_func": "relu"})
    data = a1111_file()
    del data[4][0]["linear.2.bias"]
    with pytest.raises(HypernetworkFormatError, match=r"linear\.2 needs both a weight and a bias"):
        build_hypernetwork(data)
    lopsided = a1111_file(is_layer_norm=True)
    for key in ("linear.4.weight", "linear.4.bias"):
        del lopsided[4][0][key]
    with pytest.raises(HypernetworkFormatError, match="no layer norm after it"):
        build_hypernetwork(lopsided)


def test_safetensors_layout_in_natural_order(tmp_path: Path) -> None:
    nets = [a1111_net(4, 0, layer_norm=False), a1111_net(4, 50, layer_norm=False)]
    tensors = {
        f"4.{i}.{k.replace('linear.2', 'linear.10')}": v
        for i, n in enumerate(nets)
        for k, v in n.items()
    }
    path = tmp_path / "hn.safetensors"
    safetensors.torch.save_file(tensors, str(path), metadata={"activation_func": "relu"})
    hn = load_hypernetwork(path)
    assert kinds(hn.pair(4)[1]) == ["Linear", "ReLU", "Linear"]  # type: ignore[index]
    assert torch.equal(hn.pair(4)[1][2].weight, nets[1]["linear.2.weight"])  # type: ignore[index]


def test_tiny_writer_round_trips_and_is_deterministic(tmp_path: Path) -> None:
    first = write_tiny_hypernetwork(tmp_path / "a" / "tiny-hypernetwork.pt", seed=0)
    again = write_tiny_hypernetwork(tmp_path / "b" / "tiny-hypernetwork.pt", seed=0)
    other = write_tiny_hypernetwork(tmp_path / "c" / "tiny-hypernetwork.pt", seed=1)
    assert first.read_bytes() == again.read_bytes() != other.read_bytes()
    raw = torch.load(first, weights_only=True)
    assert list(raw[32][0]) == [f"linear.{i}.{p}" for i in (0, 2, 3, 4) for p in ("weight", "bias")]
    assert raw["layer_structure"] == [1, 2, 1] and raw["activation_func"] == "relu"
    hn = load_hypernetwork(first)
    assert hn.dims == [32, 64]
    expected = ["Linear", "ReLU", "LayerNorm", "Linear", "ReLU", "LayerNorm"]
    assert kinds(hn.pair(64)[0]) == expected  # type: ignore[index]
    assert torch.equal(hn.pair(32)[1][3].weight, raw[32][1]["linear.3.weight"])  # type: ignore[index]


def test_tiny_embedding_loads_with_the_embedding_loader(tmp_path: Path) -> None:
    path = write_tiny_embedding(tmp_path / "tiny-embedding.pt", seed=3)
    assert path.read_bytes() == write_tiny_embedding(tmp_path / "x" / path.name, 3).read_bytes()
    vectors = load_embedding(path, 64)
    assert vectors.shape == (2, 64) and vectors.abs().mean() > 0.05
    assert not torch.equal(vectors, load_embedding(write_tiny_embedding(tmp_path / "o.pt", 4)))


# -- the patch on the tiny UNet ------------------------------------------------------------------


@pytest.fixture(scope="module")
def unet() -> torch.nn.Module:
    return tiny_components(0)[0]


@pytest.fixture(scope="module")
def tiny_hn(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_hypernetwork(write_tiny_hypernetwork(tmp_path_factory.mktemp("hn") / "t.pt"))


def run(unet: torch.nn.Module, *patches: HypernetworkPatch) -> torch.Tensor:
    x, context = rand(2, 4, 8, 8, seed=5), rand(2, 7, 64, seed=6)
    from contextlib import ExitStack

    with ExitStack() as stack, torch.inference_mode():
        for patch in patches:
            stack.enter_context(patch.applied(unet))
        return unet(x, torch.tensor([500, 20]), encoder_hidden_states=context).sample


def test_strength_zero_is_bit_exact_and_effect_grows_linearly(unet: Any, tiny_hn: Any) -> None:
    base = run(unet)
    assert torch.equal(run(unet, HypernetworkPatch(tiny_hn, 0.0)), base)
    diffs = [(run(unet, HypernetworkPatch(tiny_hn, s)) - base).norm().item() for s in (0.05, 0.1)]
    assert diffs[0] > 1e-3
    assert diffs[1] / diffs[0] == pytest.approx(2.0, rel=0.15)
    assert (run(unet, HypernetworkPatch(tiny_hn, 1.0)) - base).abs().max() > 0.05


def test_processors_restored_after_use_and_on_errors(unet: Any, tiny_hn: Any) -> None:
    before = dict(unet.attn_processors)
    base = run(unet)
    with pytest.raises(RuntimeError, match="boom"), HypernetworkPatch(tiny_hn, 1.0).applied(unet):
        assert all(isinstance(p, HypernetAttnProcessor) for p in unet.attn_processors.values())
        raise RuntimeError("boom")
    after = unet.attn_processors
    assert after.keys() == before.keys() and all(after[k] is before[k] for k in before)
    assert torch.equal(run(unet), base)  # other users of the shared UNet see the plain model


def test_both_attn1_and_attn2_get_transformed_k_v_inputs(unet: Any, tiny_hn: Any) -> None:
    attentions = transformer_attentions(unet)
    names = {n.rsplit(".", 1)[-1] for n, m in unet.named_modules() if m in attentions}
    assert names == {"attn1", "attn2"} and len(attentions) == len(unet.attn_processors)
    seen: dict[str, list[torch.Tensor]] = {}

    def record(tag: str) -> Any:
        return lambda module, args: seen.setdefault(tag, []).append(args[0].clone())

    cross = next(m for n, m in unet.named_modules() if n.endswith("attn2"))
    self_attn = next(m for n, m in unet.named_modules() if n.endswith("attn1"))
    hooks = [
        cross.to_k.register_forward_pre_hook(record("ck")),
        cross.to_v.register_forward_pre_hook(record("cv")),
        cross.to_q.register_forward_pre_hook(record("cq")),
        self_attn.to_k.register_forward_pre_hook(record("sk")),
        self_attn.to_q.register_forward_pre_hook(record("sq")),
    ]
    try:
        run(unet, HypernetworkPatch(tiny_hn, 0.7))
    finally:
        for hook in hooks:
            hook.remove()
    context = rand(2, 7, 64, seed=6)
    k_net, v_net = tiny_hn.pair(64)
    with torch.inference_mode():
        torch.testing.assert_close(seen["ck"][0], context + k_net(context) * 0.7)
        torch.testing.assert_close(seen["cv"][0], context + v_net(context) * 0.7)
        q_in = seen["sq"][0]  # self-attention: context is the normed hidden states (q input)
        s_net = tiny_hn.pair(q_in.shape[-1])[0]
        torch.testing.assert_close(seen["sk"][0], q_in + s_net(q_in) * 0.7)


def test_two_hypernetworks_chain_in_order(unet: Any, tiny_hn: Any, tmp_path: Path) -> None:
    other = load_hypernetwork(write_tiny_hypernetwork(tmp_path / "o.pt", seed=7))
    first, second = HypernetworkPatch(tiny_hn, 0.5), HypernetworkPatch(other, 0.3)
    chained = run(unet, first, second)
    assert not torch.equal(chained, run(unet, first))
    processor = HypernetAttnProcessor((KVStep(tiny_hn, 0.5), KVStep(other, 0.3)))
    c = rand(1, 3, 64, seed=9)
    with torch.inference_mode():
        k, _ = processor.transform(c)
        k1 = c + tiny_hn.pair(64)[0](c) * 0.5
        torch.testing.assert_close(k, k1 + other.pair(64)[0](k1) * 0.3)


# -- the node ------------------------------------------------------------------------------------


def test_object_info_matches_comfyui(tmp_path: Path) -> None:
    write_tiny_hypernetwork(tmp_path / "hypernetworks" / "style.pt")
    registry = Registry()
    registry.add_module(hypernetwork_node)
    info = registry.object_info(Settings(base_dir=tmp_path, models_dir=tmp_path))
    entry = info["HypernetworkLoader"]
    assert entry["input"]["required"] == {
        "model": ["MODEL"],
        "hypernetwork_name": [["nodegraph-demo-bw.pt", "style.pt"]],  # bundled + the user's
        "strength": ["FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01}],
    }
    assert entry["output"] == ["MODEL"] and entry["category"] == "loaders"


def engine_for(models: Path, tmp_path: Path) -> Engine:
    registry = load_registry()
    if registry.get("HypernetworkLoader") is None:
        registry.add_module(hypernetwork_node)
    return Engine(Settings(base_dir=tmp_path, models_dir=models), registry=registry)


def workflow(strength: float | None, name: str = "tiny-hypernetwork.pt") -> dict[str, Any]:
    model: list[Any] = ["1", 0] if strength is None else ["2", 0]
    prompt: dict[str, Any] = {
        "1": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "tiny-sd1.safetensors"},
        },
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1},
        },
        "6": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 1,
                "steps": 2,
                "cfg": 5.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": model,
                "positive": ["3", 0],
                "negative": ["4", 0],
                "latent_image": ["5", 0],
            },
        },
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "8": {"class_type": "SaveImage", "inputs": {"filename_prefix": "hn", "images": ["7", 0]}},
    }
    if strength is not None:
        prompt["2"] = {
            "class_type": "HypernetworkLoader",
            "inputs": {"model": ["1", 0], "hypernetwork_name": name, "strength": strength},
        }
    return prompt


@pytest.fixture
def models(tmp_path: Path, tiny_models: Path) -> Path:
    root = tmp_path / "models"
    (root / "checkpoints").mkdir(parents=True)
    ckpt = "tiny-sd1.safetensors"
    (root / "checkpoints" / ckpt).symlink_to(tiny_models / "checkpoints" / ckpt)
    write_tiny_hypernetwork(root / "hypernetworks" / "tiny-hypernetwork.pt")
    return root


def pixels(engine: Engine, result: Any) -> np.ndarray:
    image = result.outputs["8"]["images"][0]
    path = engine.settings.output_dir / image["subfolder"] / image["filename"]
    with Image.open(path) as png:
        return np.asarray(png.convert("RGB")).astype(np.int16)


def test_node_in_workflows(models: Path, tmp_path: Path, caplog: Any) -> None:
    engine = engine_for(models, tmp_path)
    plain = pixels(engine, engine.run(workflow(None)))
    zero = engine.run(workflow(0.0))
    assert np.array_equal(pixels(engine, zero), plain)
    strong = engine.run(workflow(2.0))
    assert "3" not in strong.executed and "4" not in strong.executed  # text encoding cached
    assert {"2", "6"} <= set(strong.executed)
    assert np.abs(pixels(engine, strong) - plain).max() > 0
    loads = [k for k, *_ in engine.services["models"].loaded() if k == "hypernetwork"]
    assert loads == ["hypernetwork"]  # parsed once, shared by both strengths

    odd = build_and_save_unsupported(models / "hypernetworks" / "odd.pt")
    with caplog.at_level(logging.WARNING):
        result = engine.run(workflow(1.0, odd.name))
    assert "unsupported activation_func 'gelu'" in caplog.text
    assert np.array_equal(pixels(engine, result), plain)


def build_and_save_unsupported(path: Path) -> Path:
    torch.save(a1111_file((32, 64), activation_func="gelu"), path)
    return path
