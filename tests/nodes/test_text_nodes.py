"""Torch-free nodes (primitives, strings, IntMath, PreviewAny): direct calls, object_info, runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nodegraph
import nodes
from nodegraph.events import ExecutionError
from nodegraph.execute import Executor, RunResult
from nodegraph.validate import validate_prompt
from nodes import preview, primitives, text

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "workflows" / "hello_text.json"

TORCH_FREE_NODES = {
    "PrimitiveString",
    "PrimitiveStringMultiline",
    "PrimitiveInt",
    "PrimitiveFloat",
    "PrimitiveBoolean",
    "StringConcatenate",
    "StringSubstring",
    "StringLength",
    "CaseConverter",
    "StringTrim",
    "StringReplace",
    "StringContains",
    "StringCompare",
    "RegexMatch",
    "RegexExtract",
    "IntMath",
    "PreviewAny",
}


@pytest.fixture(scope="module")
def registry() -> nodegraph.Registry:
    reg = nodegraph.Registry()
    nodes.register(reg)
    return reg


@pytest.fixture(scope="module")
def info(registry: nodegraph.Registry) -> dict[str, Any]:
    return registry.object_info()


def run(registry: nodegraph.Registry, prompt: dict[str, Any]) -> RunResult:
    validation = validate_prompt(registry, prompt)
    assert validation.ok, validation.to_json()
    assert not validation.node_errors
    return Executor(registry).execute(validation.prompt, validation.outputs, prompt_id="t")


# -- direct calls -----------------------------------------------------------------------------


def test_primitives_return_their_value() -> None:
    assert primitives.primitive_string(value="a b") == "a b"
    assert primitives.primitive_string_multiline(value="a\nb") == "a\nb"
    assert primitives.primitive_int(value=-5) == -5
    assert primitives.primitive_float(value=2.5) == 2.5
    assert primitives.primitive_boolean(value=False) is False


def test_string_nodes_direct() -> None:
    assert text.string_concatenate(string_a="a", string_b="b") == "ab"
    assert text.string_concatenate(string_a="a", string_b="b", delimiter=", ") == "a, b"
    assert text.string_substring(string="nodegraph", start=4, end=9) == "graph"
    assert text.string_substring(string="nodegraph", start=-5, end=-1) == "grap"
    assert text.string_length(string="héllo") == 5
    assert text.string_replace(string="a-b-c", find="-", replace="+") == "a+b+c"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("UPPERCASE", "HELLO WORLD"),
        ("lowercase", "hello world"),
        ("Capitalize", "Hello world"),
        ("Title Case", "Hello World"),
    ],
)
def test_case_converter(mode: str, expected: str) -> None:
    assert text.case_converter(string="hELLO wORLD", mode=mode) == expected


def test_case_converter_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown mode 'shout'"):
        text.case_converter(string="x", mode="shout")


@pytest.mark.parametrize(
    ("mode", "expected"), [("Both", "x y"), ("Left", "x y \n"), ("Right", "\t x y")]
)
def test_string_trim(mode: str, expected: str) -> None:
    assert text.string_trim(string="\t x y \n", mode=mode) == expected


def test_string_contains() -> None:
    assert text.string_contains(string="Hello", substring="ell") is True
    assert text.string_contains(string="Hello", substring="HELL") is False
    assert text.string_contains(string="Hello", substring="HELL", case_sensitive=False) is True


@pytest.mark.parametrize(
    ("a", "b", "mode", "case_sensitive", "expected"),
    [
        ("nodegraph", "node", "Starts With", True, True),
        ("nodegraph", "NODE", "Starts With", True, False),
        ("nodegraph", "NODE", "Starts With", False, True),
        ("nodegraph", "graph", "Ends With", True, True),
        ("nodegraph", "node", "Ends With", True, False),
        ("abc", "abc", "Equal", True, True),
        ("abc", "ABC", "Equal", True, False),
        ("abc", "ABC", "Equal", False, True),
    ],
)
def test_string_compare(a: str, b: str, mode: str, case_sensitive: bool, expected: bool) -> None:
    result = text.string_compare(string_a=a, string_b=b, mode=mode, case_sensitive=case_sensitive)
    assert result is expected


def test_regex_nodes() -> None:
    assert text.regex_match(string="Cat 42", regex_pattern=r"cat \d+") is True
    assert text.regex_match(string="Cat", regex_pattern="cat", case_insensitive=False) is False
    assert text.regex_match(string="x", regex_pattern="(") is False  # invalid pattern
    s = "a=1, b=22"
    assert text.regex_extract(string=s, regex_pattern=r"\d+", mode="First Match") == "1"
    assert text.regex_extract(string=s, regex_pattern=r"\d+", mode="All Matches") == "1\n22"
    assert text.regex_extract(string=s, regex_pattern=r"(\w)=(\d+)", mode="All Matches") == "a\nb"
    pattern = r"(\w)=(\d+)"
    assert text.regex_extract(string=s, regex_pattern=pattern, mode="First Group") == "a"
    assert (
        text.regex_extract(string=s, regex_pattern=pattern, mode="All Groups", group_index=2)
        == "1\n22"
    )
    assert text.regex_extract(string=s, regex_pattern="(", mode="First Match") == ""


@pytest.mark.parametrize(
    ("operation", "a", "b", "expected"),
    [
        ("add", 7, 3, 10),
        ("subtract", 7, 3, 4),
        ("multiply", 7, -3, -21),
        ("divide", 7, 2, 3),
        ("divide", -7, 2, -4),  # floor division, like Python's //
        ("modulo", 7, 3, 1),
        ("modulo", -7, 3, 2),
        ("power", 2, 10, 1024),
        ("power", 5, 0, 1),
        ("min", 7, 3, 3),
        ("max", 7, 3, 7),
    ],
)
def test_int_math(operation: str, a: int, b: int, expected: int) -> None:
    assert text.int_math(a=a, b=b, operation=operation) == expected


@pytest.mark.parametrize("operation", ["divide", "modulo"])
def test_int_math_by_zero_names_inputs(operation: str) -> None:
    with pytest.raises(ValueError, match=rf"IntMath {operation}: b is 0 \(a=5\)"):
        text.int_math(a=5, b=0, operation=operation)


def test_int_math_power_limits() -> None:
    with pytest.raises(ValueError, match="negative exponent"):
        text.int_math(a=2, b=-1, operation="power")
    with pytest.raises(ValueError, match="bits"):
        text.int_math(a=10, b=10**9, operation="power")
    assert text.int_math(a=-1, b=10**9 + 1, operation="power") == -1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain text", "plain text"),
        (42, "42"),
        (2.5, "2.5"),
        (True, "True"),
        (None, "None"),
        ({"a": [1, 2]}, json.dumps({"a": [1, 2]}, indent=4)),
        ([1, "x"], json.dumps([1, "x"], indent=4)),
        ({1, 2}, str({1, 2})),  # not JSON-serialisable: str()
    ],
)
def test_preview_any_renders_like_comfyui(value: Any, expected: str) -> None:
    result = preview.preview_any(source=value)
    assert isinstance(result, nodegraph.Result)
    assert result.values == ()
    assert result.ui == {"text": [expected]}


# -- registration and object_info ---------------------------------------------------------------


def test_register_adds_every_node(registry: nodegraph.Registry, info: dict[str, Any]) -> None:
    assert set(registry) >= TORCH_FREE_NODES
    assert set(info) >= TORCH_FREE_NODES  # object_info left none out
    for name in TORCH_FREE_NODES:
        assert info[name]["description"], name


def test_object_info_primitive_int(info: dict[str, Any]) -> None:
    entry = info["PrimitiveInt"]
    assert entry["input"]["required"] == {
        "value": [
            "INT",
            {"min": -sys.maxsize, "max": sys.maxsize, "control_after_generate": True},
        ]
    }
    assert entry["output"] == ["INT"]
    assert entry["output_name"] == ["INT"]
    assert entry["display_name"] == "Int"
    assert entry["category"] == "utils/primitive"
    assert entry["output_node"] is False


def test_object_info_primitives(info: dict[str, Any]) -> None:
    expected = {
        "PrimitiveString": ("String", ["STRING"], "STRING"),
        "PrimitiveStringMultiline": (
            "String (Multiline)",
            ["STRING", {"multiline": True}],
            "STRING",
        ),
        "PrimitiveFloat": (
            "Float",
            ["FLOAT", {"min": -sys.maxsize, "max": sys.maxsize}],
            "FLOAT",
        ),
        "PrimitiveBoolean": ("Boolean", ["BOOLEAN"], "BOOLEAN"),
    }
    for name, (display, value_config, out_type) in expected.items():
        entry = info[name]
        assert entry["display_name"] == display
        assert entry["input"]["required"] == {"value": value_config}
        assert entry["output"] == [out_type]
        assert entry["category"] == "utils/primitive"


def test_object_info_string_concatenate(info: dict[str, Any]) -> None:
    entry = info["StringConcatenate"]
    assert entry["input"]["required"] == {
        "string_a": ["STRING", {"multiline": True}],
        "string_b": ["STRING", {"multiline": True}],
        "delimiter": ["STRING", {"default": ""}],
    }
    assert entry["input_order"] == {"required": ["string_a", "string_b", "delimiter"]}
    assert entry["output"] == ["STRING"]
    assert entry["output_name"] == ["STRING"]
    assert entry["display_name"] == "Concatenate"
    assert entry["category"] == "utils/string"


def test_object_info_string_outputs_and_combos(info: dict[str, Any]) -> None:
    assert info["StringLength"]["output"] == ["INT"]
    assert info["StringLength"]["output_name"] == ["length"]
    assert info["StringContains"]["output"] == ["BOOLEAN"]
    assert info["StringContains"]["output_name"] == ["contains"]
    assert info["StringContains"]["input"]["required"]["case_sensitive"] == [
        "BOOLEAN",
        {"default": True},
    ]
    assert info["StringCompare"]["output_name"] == ["BOOLEAN"]
    assert info["StringCompare"]["input_order"]["required"] == [
        "string_a",
        "string_b",
        "mode",
        "case_sensitive",
    ]
    assert info["StringCompare"]["input"]["required"]["mode"] == [
        ["Starts With", "Ends With", "Equal"]
    ]
    assert info["CaseConverter"]["input"]["required"]["mode"] == [
        ["UPPERCASE", "lowercase", "Capitalize", "Title Case"]
    ]
    assert info["StringTrim"]["input"]["required"]["mode"] == [["Both", "Left", "Right"]]
    assert info["StringSubstring"]["input_order"]["required"] == ["string", "start", "end"]
    assert info["StringSubstring"]["input"]["required"]["start"] == ["INT"]
    assert info["StringReplace"]["input_order"]["required"] == ["string", "find", "replace"]
    for name in ("StringLength", "CaseConverter", "StringTrim", "StringCompare"):
        assert info[name]["category"] == "utils/string"


def test_object_info_int_math(info: dict[str, Any]) -> None:
    entry = info["IntMath"]
    assert entry["category"] == "utils/math"
    assert entry["input_order"] == {"required": ["a", "b", "operation"]}
    assert entry["input"]["required"]["operation"] == [
        ["add", "subtract", "multiply", "divide", "modulo", "power", "min", "max"],
        {"default": "add"},
    ]
    assert entry["output"] == ["INT"]


def test_object_info_preview_any(info: dict[str, Any]) -> None:
    entry = info["PreviewAny"]
    assert entry["input"]["required"] == {"source": ["*"]}
    assert entry["output"] == []
    assert entry["output_node"] is True
    assert entry["category"] == "utils"
    assert entry["display_name"] == "Preview Any"


def test_import_and_register_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import nodegraph, nodes\n"
        "r = nodegraph.Registry(); nodes.register(r)\n"
        "assert 'PreviewAny' in r and 'KSampler' not in r\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# -- running prompts ------------------------------------------------------------------------------


def test_hello_text_workflow(registry: nodegraph.Registry) -> None:
    prompt = json.loads(HELLO.read_text(encoding="utf-8"))
    result = run(registry, prompt)
    assert result.status == "success", result.error
    assert result.outputs == {
        "5": {"text": ["HELLO WORLD"]},
        "8": {"text": ["42"]},
        "10": {"text": ["11"]},
    }


def test_hello_text_workflow_only_uses_these_nodes() -> None:
    prompt = json.loads(HELLO.read_text(encoding="utf-8"))
    assert {n["class_type"] for n in prompt.values()} <= TORCH_FREE_NODES
    assert all(n["_meta"]["title"] for n in prompt.values())


def test_string_nodes_through_the_engine(registry: nodegraph.Registry) -> None:
    prompt = {
        "1": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "  Cats and dogs\n"}},
        "2": {"class_type": "StringTrim", "inputs": {"string": ["1", 0], "mode": "Both"}},
        "3": {
            "class_type": "StringReplace",
            "inputs": {"string": ["2", 0], "find": "dogs", "replace": "mice"},
        },
        "4": {
            "class_type": "StringContains",
            "inputs": {"string": ["3", 0], "substring": "CATS", "case_sensitive": False},
        },
        "5": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
        "6": {"class_type": "PreviewAny", "inputs": {"source": ["4", 0]}},
        "7": {"class_type": "PrimitiveFloat", "inputs": {"value": 0.5}},
        "8": {"class_type": "PreviewAny", "inputs": {"source": ["7", 0]}},
    }
    result = run(registry, prompt)
    assert result.status == "success", result.error
    assert result.outputs == {
        "5": {"text": ["Cats and mice"]},
        "6": {"text": ["True"]},
        "8": {"text": ["0.5"]},
    }


def test_bad_combo_value_fails_validation(registry: nodegraph.Registry) -> None:
    prompt = {
        "1": {"class_type": "CaseConverter", "inputs": {"string": "x", "mode": "shout"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    validation = validate_prompt(registry, prompt)
    assert not validation.ok
    assert "1" in validation.node_errors


def test_int_math_divide_by_zero_is_a_node_error(registry: nodegraph.Registry) -> None:
    prompt = {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 5}},
        "2": {"class_type": "IntMath", "inputs": {"a": ["1", 0], "b": 0, "operation": "divide"}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }
    result = run(registry, prompt)
    assert result.status == "error"
    assert result.error is not None
    assert isinstance(result.error, ExecutionError)
    assert result.error.node_id == "2"
    assert result.error.node_type == "IntMath"
    assert result.error.exception_type == "ValueError"
    assert "b is 0 (a=5)" in result.error.exception_message
    assert result.outputs == {}


def test_registering_the_sd_nodes_does_not_import_diffusers() -> None:
    code = (
        "import sys, nodegraph, nodes\n"
        "r = nodegraph.Registry(); nodes.register(r)\n"
        "assert 'KSampler' in r and 'ControlNetLoader' in r\n"
        "heavy = [m for m in ('diffusers', 'transformers', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
