"""Node declarations: registration-time checks and the exact /object_info entries."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from nodegraph import (
    Combo,
    Float,
    Hidden,
    Input,
    Int,
    NodeDeclarationError,
    Out,
    Registry,
    Socket,
    String,
    node,
)
from nodegraph.types import can_connect
from tests.engine import toy_nodes

SAMPLERS = ["euler", "heun"]


class Latent:
    """A payload class naming its socket type."""

    __socket_type__ = "LATENT"


@node("ToyKSampler", category="sampling", display_name="Toy KSampler")
def toy_ksampler(
    *,
    model: Annotated[Any, Socket("MODEL")],
    seed: Annotated[int, Int(min=0, max=2**64 - 1, control_after_generate=True)] = 0,
    cfg: Annotated[float, Float(min=0.0, max=100.0, step=0.1, round=0.01)] = 8.0,
    sampler_name: Annotated[str, Combo(SAMPLERS)] = "euler",
    latent_image: Latent,
    note: Annotated[str, String(multiline=True), Input(tooltip="free text")] = "",
    mask: Annotated[Any, Socket("MASK")] | None = None,
    prompt: Annotated[dict[str, Any], Hidden("PROMPT")],
) -> Annotated[Latent, Out(tooltip="the denoised latent")]:
    """Denoise a latent."""
    return latent_image


def test_object_info_entry_is_comfyui_shaped() -> None:
    registry = Registry()
    registry.add(toy_ksampler)
    assert registry.object_info()["ToyKSampler"] == {
        "input": {
            "required": {
                "model": ["MODEL"],
                "seed": [
                    "INT",
                    {"default": 0, "min": 0, "max": 2**64 - 1, "control_after_generate": True},
                ],
                "cfg": [
                    "FLOAT",
                    {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01},
                ],
                "sampler_name": [["euler", "heun"], {"default": "euler"}],
                "latent_image": ["LATENT"],
                "note": ["STRING", {"default": "", "multiline": True, "tooltip": "free text"}],
            },
            "optional": {"mask": ["MASK"]},
            "hidden": {"prompt": "PROMPT"},
        },
        "input_order": {
            "required": ["model", "seed", "cfg", "sampler_name", "latent_image", "note"],
            "optional": ["mask"],
            "hidden": ["prompt"],
        },
        "is_input_list": False,
        "output": ["LATENT"],
        "output_is_list": [False],
        "output_name": ["LATENT"],
        "name": "ToyKSampler",
        "display_name": "Toy KSampler",
        "description": "Denoise a latent.",
        "python_module": "tests",
        "category": "sampling",
        "output_node": False,
        "search_aliases": [],
        "output_tooltips": ["the denoised latent"],
    }


def test_node_function_stays_directly_callable() -> None:
    latent = Latent()
    assert toy_ksampler(model=None, latent_image=latent, prompt={}) is latent
    assert toy_nodes.toy_add(a=2, b=3) == 5


FILES = ["a.safetensors"]


@node("ToyLoader")
def toy_loader(*, name: Annotated[str, Combo(lambda settings: sorted(FILES))]) -> int:
    """Loads a file."""
    return 0


def test_dynamic_combo_choices_are_evaluated_per_request() -> None:
    registry = Registry()
    registry.add(toy_loader)
    assert registry.object_info()["ToyLoader"]["input"]["required"]["name"] == [["a.safetensors"]]
    FILES.append("b.safetensors")
    assert registry.object_info()["ToyLoader"]["input"]["required"]["name"] == [
        ["a.safetensors", "b.safetensors"]
    ]


def test_list_outputs_and_input_lists_in_object_info() -> None:
    registry = toy_nodes.make_registry()
    info = registry.object_info()
    assert info["ToyRange"]["output_is_list"] == [True]
    assert info["ToyRange"]["output_name"] == ["values"]
    assert info["ToySum"]["is_input_list"] is True
    assert info["ToySink"]["output_node"] is True and info["ToySink"]["output"] == []
    assert info["ToyLazySwitch"]["input"]["required"]["a"] == ["*", {"lazy": True}]


def declare(fn: Any, node_id: str = "Bad", **kw: Any) -> Any:
    return node(node_id, **kw)(fn)


def test_missing_annotation_is_rejected_with_node_and_parameter() -> None:
    def f(*, value) -> int:  # type: ignore[no-untyped-def]
        """Doc."""
        return 0

    with pytest.raises(
        NodeDeclarationError, match=r"node 'Bad', parameter 'value': missing annotation"
    ):
        declare(f)


def test_default_outside_range_is_rejected() -> None:
    def f(*, steps: Annotated[int, Int(min=1, max=10)] = 20) -> int:
        """Doc."""
        return 0

    with pytest.raises(
        NodeDeclarationError, match=r"parameter 'steps': default 20 is above max 10"
    ):
        declare(f)


def test_combo_default_not_in_choices_is_rejected() -> None:
    def f(*, mode: Annotated[str, Combo(["a", "b"])] = "c") -> int:
        """Doc."""
        return 0

    with pytest.raises(NodeDeclarationError, match=r"parameter 'mode': default 'c' is not one of"):
        declare(f)


def test_missing_docstring_is_rejected() -> None:
    def f(*, value: int = 0) -> int:
        return 0

    with pytest.raises(NodeDeclarationError, match=r"node 'Bad': missing docstring"):
        declare(f)


def test_duplicate_id_is_rejected() -> None:
    def f(*, value: int = 0) -> int:
        """Doc."""
        return 0

    def g(*, value: int = 0) -> int:
        """Doc."""
        return 0

    registry = Registry()
    registry.add(declare(f, "Same"))
    with pytest.raises(NodeDeclarationError, match=r"node 'Same' is declared twice"):
        registry.add(declare(g, "Same"))


def test_unknown_annotation_and_lazy_without_check_are_rejected() -> None:
    def f(*, value: object) -> int:
        """Doc."""
        return 0

    with pytest.raises(
        NodeDeclarationError, match=r"parameter 'value': cannot derive an input type"
    ):
        declare(f)

    def g(*, value: Annotated[Any, Socket("*"), Input(lazy=True)] = None) -> int:
        """Doc."""
        return 0

    with pytest.raises(NodeDeclarationError, match=r"lazy inputs \['value'\] need a check_lazy"):
        declare(g)


def test_positional_and_output_annotation_checks() -> None:
    def f(value: int, /) -> int:
        """Doc."""
        return 0

    with pytest.raises(
        NodeDeclarationError, match=r"parameter 'value': inputs are passed by keyword"
    ):
        declare(f)

    def g(*, value: int = 0):  # type: ignore[no-untyped-def]
        """Doc."""
        return 0

    with pytest.raises(NodeDeclarationError, match=r"node 'Bad': missing return annotation"):
        declare(g)


@pytest.mark.parametrize(
    ("out_type", "in_type", "ok"),
    [
        ("IMAGE", "IMAGE", True),
        ("IMAGE", "MASK", False),
        ("INT", "INT,FLOAT", True),
        ("INT, FLOAT", "FLOAT", True),
        ("STRING", "INT,FLOAT", False),
        ("*", "IMAGE", True),
        ("IMAGE", "*", True),
        ("", "", True),
        ("STRING", "", False),
    ],
)
def test_can_connect(out_type: str, in_type: str, ok: bool) -> None:
    assert can_connect(out_type, in_type) is ok


def test_str_subclass_overriding_ne_decides_the_match() -> None:
    class AnyType(str):
        def __ne__(self, other: object) -> bool:
            return False

    assert can_connect("IMAGE", AnyType("whatever"))
