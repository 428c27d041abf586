"""Prompt validation: ComfyUI's error types and exact JSON bodies (comfy-protocol.md §1.3, §5.1).

Most tests compare `Validation.to_json()` with a literal dict. Deliberate departures from
ComfyUI (clearer details) are pinned by their own tests and say so in their docstrings.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated, Any

import pytest

from nodegraph import Combo, Float, Input, Int, Registry, Socket, node
from nodegraph.validate import Validation, validate_prompt

# --- toy nodes ------------------------------------------------------------------------------

IMAGE = Annotated[Any, Socket("IMAGE")]
ANY = Annotated[Any, Socket("*"), Input(tooltip="Anything.")]
NUMBER = Annotated[Any, Socket("INT,FLOAT"), Input(tooltip="A number.")]
IMAGE_IN = Annotated[Any, Socket("IMAGE"), Input(tooltip="The images.")]

SAMPLERS = ("euler", "ddim")
BIG_LIST = tuple(f"model_{i:02d}.safetensors" for i in range(25))
CUSTOM_CALLS: list[dict[str, Any]] = []


@node("ConstInt", category="test")
def const_int(value: Annotated[int, Int(min=0, max=10)] = 1) -> int:
    """An INT constant between 0 and 10."""
    return value


@node("ConstFloat", category="test")
def const_float(value: Annotated[float, Float(min=0.0, max=1.0)] = 0.5) -> float:
    """A FLOAT constant between 0 and 1."""
    return value


@node("MakeImage", category="test")
def make_image(width: Annotated[int, Int(min=1, max=64)] = 8) -> IMAGE:
    """An IMAGE-like socket producer."""
    return [[0.0] * width]


@node("PassImage", category="test")
def pass_image(image: IMAGE_IN) -> IMAGE:
    """IMAGE in, IMAGE out (used to build cycles)."""
    return image


@node("InvertImage", category="test")
def invert_image(image: IMAGE_IN) -> IMAGE:
    """IMAGE in, IMAGE out, another class (used to build cycles)."""
    return image


@node("SaveImage", category="test", output_node=True)
def save_image(images: IMAGE_IN, extra: IMAGE | None = None) -> None:
    """An output node consuming IMAGE, with an optional second IMAGE input."""


@node("PlainSink", category="test", output_node=True)
def plain_sink(images: IMAGE) -> None:
    """An output node whose IMAGE socket has no options at all."""


@node("ShowAny", category="test", output_node=True)
def show_any(value: ANY) -> None:
    """An output node taking anything ("*")."""


@node("ShowNumber", category="test", output_node=True)
def show_number(value: NUMBER) -> None:
    """An output node taking the comma union "INT,FLOAT"."""


@node("Mixed", category="test", output_node=True)
def mixed(count: int = 0, ratio: float = 0.0, flag: bool = False, text: str = "") -> None:
    """An output node with one plain widget of each primitive type."""


@node("PickSampler", category="test", output_node=True)
def pick_sampler(sampler: Annotated[str, Combo(SAMPLERS)] = "euler") -> None:
    """An output node with a short static combo."""


@node("PickBig", category="test", output_node=True)
def pick_big(ckpt_name: Annotated[str, Combo(BIG_LIST)] = BIG_LIST[0]) -> None:
    """An output node with a combo of more than 20 entries."""


def _models(settings: Any) -> list[str]:
    return list(settings.models)


@node("PickModel", category="test", output_node=True)
def pick_model(model: Annotated[str, Combo(_models), Input(tooltip="A model file.")]) -> None:
    """An output node with a dynamic combo computed from the settings."""


def _even(value: Any) -> Any:
    CUSTOM_CALLS.append({"value": value})
    if value is None:  # linked
        return True
    if value == 13:
        return False
    return True if value % 2 == 0 else f"{value} is odd"


@node("EvenInt", category="test", output_node=True, validate=_even)
def even_int(
    value: Annotated[int, Int(min=0, max=10)] = 0,
    other: Annotated[int, Int(min=0, max=10)] = 0,
) -> int:
    """Custom validation naming only `value`; `other` keeps its min/max check."""
    return value


def _kwargs(**kwargs: Any) -> Any:
    CUSTOM_CALLS.append(dict(kwargs))
    return "bad mode" if kwargs.get("mode") == "bad" else True


@node("KwargsNode", category="test", output_node=True, validate=_kwargs)
def kwargs_node(
    count: Annotated[int, Int(min=0, max=10)] = 0,
    mode: Annotated[str, Combo(("a", "b"))] = "a",
) -> None:
    """Custom validation taking **kwargs: every input skips min/max/combo checks."""


def _raises(value: Any) -> Any:
    raise ValueError("boom")


@node("RaisesNode", category="test", output_node=True, validate=_raises)
def raises_node(value: int = 0) -> None:
    """Custom validation that raises."""


def _typed(image: Any, input_types: dict[str, str]) -> Any:
    CUSTOM_CALLS.append({"image": image, "input_types": input_types})
    received = input_types.get("image")
    return True if received in ("IMAGE", "MASK") else f"cannot take {received}"


@node("TypedSink", category="test", output_node=True, validate=_typed)
def typed_sink(image: IMAGE) -> None:
    """Custom validation taking `input_types`: the link type check is skipped."""


class Blob:
    """A literal that JSON cannot serialise."""


class Fingerprinted:
    """A literal that is not JSON but offers a cache fingerprint."""

    def cache_fingerprint(self) -> str:
        return "fingerprinted-v1"


TOY_NODES = (
    const_int,
    const_float,
    make_image,
    pass_image,
    invert_image,
    save_image,
    plain_sink,
    show_any,
    show_number,
    mixed,
    pick_sampler,
    pick_big,
    pick_model,
    even_int,
    kwargs_node,
    raises_node,
    typed_sink,
)

INT_CONFIG = ["INT", {"default": 1, "min": 0, "max": 10}]
IMAGE_CONFIG = ["IMAGE", {"tooltip": "The images."}]
WIDTH_CONFIG = ["INT", {"default": 8, "min": 1, "max": 64}]
FAILED = {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"}


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CUSTOM_CALLS.clear()


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.add(*TOY_NODES)
    return reg


def n(class_type: str, **inputs: Any) -> dict[str, Any]:
    """One API-format prompt node."""
    return {"class_type": class_type, "inputs": inputs}


def failed(details: str) -> dict[str, Any]:
    """The top-level error of a prompt whose outputs all failed."""
    return {**FAILED, "details": details, "extra_info": {}}


def node_error(class_type: str, outputs: list[str], *errors: dict[str, Any]) -> dict[str, Any]:
    return {"errors": list(errors), "dependent_outputs": outputs, "class_type": class_type}


def pop_traceback(validation: Validation, node_id: str) -> tuple[dict[str, Any], Any]:
    """The JSON body with the (unpredictable) traceback of node_id's first error removed."""
    body = validation.to_json()
    extra = body["node_errors"][node_id]["errors"][0]["extra_info"]
    return body, extra.pop("traceback", "<absent>")


# --- accepted prompts -------------------------------------------------------------------------


def test_valid_prompt_is_accepted(registry: Registry) -> None:
    v = validate_prompt(
        registry, {"1": n("SaveImage", images=["2", 0]), "2": n("MakeImage", width=8)}
    )

    assert v.ok
    assert v.outputs == ["1"]
    assert v.node_errors == {}
    assert v.error is None
    assert v.to_json() == {"node_errors": {}}


def test_missing_optional_input_is_not_an_error(registry: Registry) -> None:
    v = validate_prompt(
        registry, {"1": n("SaveImage", images=["2", 0]), "2": n("MakeImage", width=8)}
    )

    assert v.ok
    assert v.to_json() == {"node_errors": {}}


def test_int_node_id_in_link_is_accepted(registry: Registry) -> None:
    # Leniency beyond ComfyUI (whose validator would raise KeyError on prompt[2]): the engine
    # normalises an int node id to its string form.
    v = validate_prompt(
        registry, {"1": n("SaveImage", images=[2, 0]), "2": n("MakeImage", width=8)}
    )

    assert v.to_json() == {"node_errors": {}}
    assert v.ok and v.outputs == ["1"]


def test_comma_union_socket_accepts_each_member(registry: Registry) -> None:
    prompt = {
        "1": n("ShowNumber", value=["3", 0]),
        "2": n("ShowNumber", value=["4", 0]),
        "3": n("ConstInt", value=3),
        "4": n("ConstFloat", value=0.25),
    }
    v = validate_prompt(registry, prompt)

    assert v.to_json() == {"node_errors": {}}
    assert v.outputs == ["1", "2"]


def test_comma_union_socket_rejects_other_types(registry: Registry) -> None:
    prompt = {"1": n("ShowNumber", value=["2", 0]), "2": n("MakeImage", width=8)}

    assert validate_prompt(registry, prompt).to_json() == {
        "error": failed(
            "Return type mismatch between linked nodes: "
            "value, received_type(IMAGE) mismatch input_type(INT,FLOAT)"
        ),
        "node_errors": {
            "1": node_error(
                "ShowNumber",
                ["1"],
                {
                    "type": "return_type_mismatch",
                    "message": "Return type mismatch between linked nodes",
                    "details": "value, received_type(IMAGE) mismatch input_type(INT,FLOAT)",
                    "extra_info": {
                        "input_name": "value",
                        "input_config": ["INT,FLOAT", {"tooltip": "A number."}],
                        "received_type": "IMAGE",
                        "linked_node": ["2", 0],
                    },
                },
            )
        },
    }


def test_star_socket_accepts_any_link(registry: Registry) -> None:
    # A plain "*" is a wildcard here, as in ComfyUI's frontend (the server only honours
    # IO.ANY / AnyType str subclasses; comfy-protocol.md §4.2, nodegraph.types.can_connect).
    prompt = {
        "1": n("ShowAny", value=["3", 0]),
        "2": n("ShowAny", value=["4", 0]),
        "3": n("MakeImage", width=8),
        "4": n("ConstInt", value=2),
    }
    v = validate_prompt(registry, prompt)

    assert v.to_json() == {"node_errors": {}}
    assert v.outputs == ["1", "2"]


def test_wrapped_literal_values_are_unwrapped(registry: Registry) -> None:
    prompt = {
        "1": n("ShowAny", value={"__value__": [1, 2, 3]}),
        "2": n(
            "Mixed",
            count={"__value__": "4"},
            ratio={"__value__": 1},
            flag={"__value__": True},
            text={"__value__": "hi"},
        ),
    }
    v = validate_prompt(registry, prompt)

    assert v.to_json() == {"node_errors": {}}
    assert v.outputs == ["1", "2"]
    assert v.prompt["1"].inputs["value"] == [1, 2, 3]
    assert v.prompt["2"].inputs == {"count": 4, "ratio": 1.0, "flag": True, "text": "hi"}


def test_constants_are_coerced_and_written_back(registry: Registry) -> None:
    # Python semantics, as in ComfyUI: bool("false") is True and int(5.7) == 5.
    prompt = {"1": n("Mixed", count=5.7, ratio="0.25", flag="false", text=12)}
    v = validate_prompt(registry, prompt)

    assert v.to_json() == {"node_errors": {}}
    inputs = v.prompt["1"].inputs
    assert inputs == {"count": 5, "ratio": 0.25, "flag": True, "text": "12"}
    assert [type(inputs[k]) for k in ("count", "ratio", "flag", "text")] == [int, float, bool, str]


def test_dynamic_combo_accepts_a_current_choice(registry: Registry) -> None:
    settings = SimpleNamespace(models=["a.safetensors", "b.safetensors"])
    v = validate_prompt(registry, {"1": n("PickModel", model="b.safetensors")}, settings=settings)

    assert v.to_json() == {"node_errors": {}}
    assert v.ok


def test_object_with_cache_fingerprint_is_a_valid_literal(registry: Registry) -> None:
    v = validate_prompt(registry, {"1": n("ShowAny", value=Fingerprinted())})

    assert v.to_json() == {"node_errors": {}}
    assert v.ok


# --- per-input errors -------------------------------------------------------------------------


def test_required_input_missing(registry: Registry) -> None:
    v = validate_prompt(registry, {"1": n("SaveImage")})

    assert not v.ok
    assert v.outputs == []
    assert v.to_json() == {
        "error": failed("Required input is missing: images"),
        "node_errors": {
            "1": node_error(
                "SaveImage",
                ["1"],
                {
                    "type": "required_input_missing",
                    "message": "Required input is missing",
                    "details": "images",
                    "extra_info": {"input_name": "images"},
                },
            )
        },
    }


def test_widget_default_does_not_make_an_input_optional(registry: Registry) -> None:
    # As in ComfyUI, a widget default is frontend metadata: a required input must be sent.
    v = validate_prompt(registry, {"1": n("ShowNumber", value=["2", 0]), "2": n("ConstInt")})

    assert v.to_json() == {
        "error": failed("Required input is missing: value"),
        "node_errors": {
            "2": node_error(
                "ConstInt",
                ["1"],
                {
                    "type": "required_input_missing",
                    "message": "Required input is missing",
                    "details": "value",
                    "extra_info": {"input_name": "value"},
                },
            )
        },
    }


def test_bad_linked_input_list_of_length_three(registry: Registry) -> None:
    prompt = {"1": n("SaveImage", images=["2", 0, 1]), "2": n("MakeImage", width=8)}

    assert validate_prompt(registry, prompt).to_json() == {
        "error": failed(
            "Bad linked input, must be a length-2 list of [node_id, slot_index]: images"
        ),
        "node_errors": {
            "1": node_error(
                "SaveImage",
                ["1"],
                {
                    "type": "bad_linked_input",
                    "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                    "details": "images",
                    "extra_info": {
                        "input_name": "images",
                        "input_config": IMAGE_CONFIG,
                        "received_value": ["2", 0, 1],
                    },
                },
            )
        },
    }


def test_bare_literal_list_is_a_bad_link(registry: Registry) -> None:
    # Every list is a link attempt; literal lists must be wrapped in {"__value__": ...}.
    v = validate_prompt(registry, {"1": n("ShowAny", value=[1, 2, 3])})

    assert v.to_json()["node_errors"]["1"]["errors"] == [
        {
            "type": "bad_linked_input",
            "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
            "details": "value",
            "extra_info": {
                "input_name": "value",
                "input_config": ["*", {"tooltip": "Anything."}],
                "received_value": [1, 2, 3],
            },
        }
    ]


def test_return_type_mismatch(registry: Registry) -> None:
    prompt = {"1": n("SaveImage", images=["2", 0]), "2": n("ConstInt", value=3)}

    assert validate_prompt(registry, prompt).to_json() == {
        "error": failed(
            "Return type mismatch between linked nodes: "
            "images, received_type(INT) mismatch input_type(IMAGE)"
        ),
        "node_errors": {
            "1": node_error(
                "SaveImage",
                ["1"],
                {
                    "type": "return_type_mismatch",
                    "message": "Return type mismatch between linked nodes",
                    "details": "images, received_type(INT) mismatch input_type(IMAGE)",
                    "extra_info": {
                        "input_name": "images",
                        "input_config": IMAGE_CONFIG,
                        "received_type": "INT",
                        "linked_node": ["2", 0],
                    },
                },
            )
        },
    }


def test_invalid_input_type_int(registry: Registry) -> None:
    prompt = {"1": n("ShowNumber", value=["2", 0]), "2": n("ConstInt", value="abc")}
    ex = "invalid literal for int() with base 10: 'abc'"

    assert validate_prompt(registry, prompt).to_json() == {
        "error": failed(f"Failed to convert an input value to a INT value: value, abc, {ex}"),
        "node_errors": {
            "2": node_error(
                "ConstInt",
                ["1"],
                {
                    "type": "invalid_input_type",
                    "message": "Failed to convert an input value to a INT value",
                    "details": f"value, abc, {ex}",
                    "extra_info": {
                        "input_name": "value",
                        "input_config": INT_CONFIG,
                        "received_value": "abc",
                        "exception_message": ex,
                    },
                },
            )
        },
    }


def test_invalid_input_type_float(registry: Registry) -> None:
    v = validate_prompt(registry, {"1": n("Mixed", count=1, ratio="x", flag=True, text="")})
    ex = "could not convert string to float: 'x'"

    assert v.to_json() == {
        "error": failed(f"Failed to convert an input value to a FLOAT value: ratio, x, {ex}"),
        "node_errors": {
            "1": node_error(
                "Mixed",
                ["1"],
                {
                    "type": "invalid_input_type",
                    "message": "Failed to convert an input value to a FLOAT value",
                    "details": f"ratio, x, {ex}",
                    "extra_info": {
                        "input_name": "ratio",
                        "input_config": ["FLOAT", {"default": 0.0}],
                        "received_value": "x",
                        "exception_message": ex,
                    },
                },
            )
        },
    }


def test_value_smaller_than_min(registry: Registry) -> None:
    prompt = {"1": n("ShowNumber", value=["2", 0]), "2": n("ConstInt", value=-3)}

    assert validate_prompt(registry, prompt).to_json() == {
        "error": failed("Value -3 smaller than min of 0: value"),
        "node_errors": {
            "2": node_error(
                "ConstInt",
                ["1"],
                {
                    "type": "value_smaller_than_min",
                    "message": "Value -3 smaller than min of 0",
                    "details": "value",
                    "extra_info": {
                        "input_name": "value",
                        "input_config": INT_CONFIG,
                        "received_value": -3,
                    },
                },
            )
        },
    }


def test_value_bigger_than_max_after_coercion(registry: Registry) -> None:
    # "11.9" -> int() fails on the string; 11.9 -> 11, which is then over the max.
    prompt = {"1": n("ShowNumber", value=["2", 0]), "2": n("ConstInt", value=11.9)}
    v = validate_prompt(registry, prompt)

    assert v.to_json() == {
        "error": failed("Value 11 bigger than max of 10: value"),
        "node_errors": {
            "2": node_error(
                "ConstInt",
                ["1"],
                {
                    "type": "value_bigger_than_max",
                    "message": "Value 11 bigger than max of 10",
                    "details": "value",
                    "extra_info": {
                        "input_name": "value",
                        "input_config": INT_CONFIG,
                        "received_value": 11,
                    },
                },
            )
        },
    }
    assert v.prompt["2"].inputs["value"] == 11


def test_value_not_in_short_list(registry: Registry) -> None:
    v = validate_prompt(registry, {"1": n("PickSampler", sampler="heun")})

    assert v.to_json() == {
        "error": failed("Value not in list: sampler: 'heun' not in ['euler', 'ddim']"),
        "node_errors": {
            "1": node_error(
                "PickSampler",
                ["1"],
                {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": "sampler: 'heun' not in ['euler', 'ddim']",
                    "extra_info": {
                        "input_name": "sampler",
                        "input_config": [["euler", "ddim"], {"default": "euler"}],
                        "received_value": "heun",
                    },
                },
            )
        },
    }


def test_value_not_in_long_list_hides_the_list(registry: Registry) -> None:
    v = validate_prompt(registry, {"1": n("PickBig", ckpt_name="x.safetensors")})

    assert v.to_json() == {
        "error": failed("Value not in list: ckpt_name: 'x.safetensors' not in (list of length 25)"),
        "node_errors": {
            "1": node_error(
                "PickBig",
                ["1"],
                {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": "ckpt_name: 'x.safetensors' not in (list of length 25)",
                    "extra_info": {
                        "input_name": "ckpt_name",
                        "input_config": None,
                        "received_value": "x.safetensors",
                    },
                },
            )
        },
    }


def test_value_not_in_dynamic_list_uses_current_settings(registry: Registry) -> None:
    settings = SimpleNamespace(models=["a.safetensors"])
    v = validate_prompt(registry, {"1": n("PickModel", model="b.safetensors")}, settings=settings)

    assert v.to_json() == {
        "error": failed("Value not in list: model: 'b.safetensors' not in ['a.safetensors']"),
        "node_errors": {
            "1": node_error(
                "PickModel",
                ["1"],
                {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": "model: 'b.safetensors' not in ['a.safetensors']",
                    "extra_info": {
                        "input_name": "model",
                        "input_config": [["a.safetensors"], {"tooltip": "A model file."}],
                        "received_value": "b.safetensors",
                    },
                },
            )
        },
    }


def test_value_not_in_empty_list_says_the_folder_is_empty(registry: Registry) -> None:
    """Deliberately clearer than ComfyUI's bare "not in []" (its pain point §9.8)."""
    settings = SimpleNamespace(models=[])
    v = validate_prompt(registry, {"1": n("PickModel", model="b.safetensors")}, settings=settings)

    assert v.to_json()["node_errors"]["1"]["errors"] == [
        {
            "type": "value_not_in_list",
            "message": "Value not in list",
            "details": "model: 'b.safetensors' not in [] "
            "(the list is empty: is the model folder missing or empty?)",
            "extra_info": {
                "input_name": "model",
                "input_config": [[], {"tooltip": "A model file."}],
                "received_value": "b.safetensors",
            },
        }
    ]


def test_input_config_without_options_is_a_pair(registry: Registry) -> None:
    prompt = {"1": n("PlainSink", images=["2", 0]), "2": n("ConstInt", value=1)}

    error = validate_prompt(registry, prompt).to_json()["node_errors"]["1"]["errors"][0]
    assert error["extra_info"]["input_config"] == ["IMAGE", {}]


# --- custom validation ------------------------------------------------------------------------


def test_custom_validation_false_names_the_input(registry: Registry) -> None:
    v = validate_prompt(registry, {"1": n("EvenInt", value=13, other=0)})

    assert v.to_json() == {
        "error": failed("Custom validation failed for node: value"),
        "node_errors": {
            "1": node_error(
                "EvenInt",
                ["1"],
                {
                    "type": "custom_validation_failed",
                    "message": "Custom validation failed for node",
                    "details": "value",
                    "extra_info": {"input_name": "value"},
                },
            )
        },
    }
    assert CUSTOM_CALLS == [{"value": 13}]


def test_custom_validation_string_is_appended(registry: Registry) -> None:
    v = validate_prompt(registry, {"1": n("EvenInt", value="3", other=0)})

    assert v.to_json() == {
        "error": failed("Custom validation failed for node: value - 3 is odd"),
        "node_errors": {
            "1": node_error(
                "EvenInt",
                ["1"],
                {
                    "type": "custom_validation_failed",
                    "message": "Custom validation failed for node",
                    "details": "value - 3 is odd",
                    "extra_info": {"input_name": "value"},
                },
            )
        },
    }
    assert CUSTOM_CALLS == [{"value": 3}]  # coerced before the custom check


def test_custom_validation_skips_min_max_only_for_named_inputs(registry: Registry) -> None:
    # `value` is named by the validate function: 50 > max is not checked. `other` is not.
    accepted = validate_prompt(registry, {"1": n("EvenInt", value=50, other=10)})
    assert accepted.to_json() == {"node_errors": {}}
    assert CUSTOM_CALLS == [{"value": 50}]

    rejected = validate_prompt(registry, {"2": n("EvenInt", value=50, other=11)})
    assert rejected.to_json() == {
        "error": failed("Value 11 bigger than max of 10: other"),
        "node_errors": {
            "2": node_error(
                "EvenInt",
                ["2"],
                {
                    "type": "value_bigger_than_max",
                    "message": "Value 11 bigger than max of 10",
                    "details": "other",
                    "extra_info": {
                        "input_name": "other",
                        "input_config": ["INT", {"default": 0, "min": 0, "max": 10}],
                        "received_value": 11,
                    },
                },
            )
        },
    }


def test_custom_validation_runs_even_when_another_input_failed(registry: Registry) -> None:
    v = validate_prompt(registry, {"1": n("EvenInt", value=3, other=11)})

    assert [e["type"] for e in v.to_json()["node_errors"]["1"]["errors"]] == [
        "value_bigger_than_max",
        "custom_validation_failed",
    ]


def test_custom_validation_gets_none_for_linked_inputs(registry: Registry) -> None:
    prompt = {"1": n("EvenInt", value=["2", 0], other=0), "2": n("ConstInt", value=3)}
    v = validate_prompt(registry, prompt)

    assert v.to_json() == {"node_errors": {}}
    assert CUSTOM_CALLS == [{"value": None}]


def test_custom_validation_with_kwargs_skips_every_check(registry: Registry) -> None:
    accepted = validate_prompt(registry, {"1": n("KwargsNode", count=99, mode="zzz")})
    assert accepted.to_json() == {"node_errors": {}}
    assert CUSTOM_CALLS == [{"count": 99, "mode": "zzz"}]

    rejected = validate_prompt(registry, {"1": n("KwargsNode", count=-5, mode="bad")})
    assert rejected.to_json() == {
        "error": failed(
            "Custom validation failed for node: count - bad mode\n"
            "Custom validation failed for node: mode - bad mode"
        ),
        "node_errors": {
            "1": node_error(
                "KwargsNode",
                ["1"],
                {
                    "type": "custom_validation_failed",
                    "message": "Custom validation failed for node",
                    "details": "count - bad mode",
                    "extra_info": {"input_name": "count"},
                },
                {
                    "type": "custom_validation_failed",
                    "message": "Custom validation failed for node",
                    "details": "mode - bad mode",
                    "extra_info": {"input_name": "mode"},
                },
            )
        },
    }


def test_custom_validation_with_input_types_skips_the_link_type_check(
    registry: Registry,
) -> None:
    prompt = {"1": n("TypedSink", image=["2", 0]), "2": n("ConstInt", value=1)}
    v = validate_prompt(registry, prompt)

    assert v.to_json() == {
        "error": failed("Custom validation failed for node: image - cannot take INT"),
        "node_errors": {
            "1": node_error(
                "TypedSink",
                ["1"],
                {
                    "type": "custom_validation_failed",
                    "message": "Custom validation failed for node",
                    "details": "image - cannot take INT",
                    "extra_info": {"input_name": "image"},
                },
            )
        },
    }
    assert CUSTOM_CALLS == [{"image": None, "input_types": {"image": "INT"}}]

    ok = validate_prompt(
        registry, {"1": n("TypedSink", image=["2", 0]), "2": n("MakeImage", width=8)}
    )
    assert ok.to_json() == {"node_errors": {}}


# --- exceptions -------------------------------------------------------------------------------


def test_exception_in_custom_validation(registry: Registry) -> None:
    v = validate_prompt(registry, {"1": n("RaisesNode", value=1)})
    body, tb = pop_traceback(v, "1")

    assert body == {
        "error": failed("Exception when validating node: boom"),
        "node_errors": {
            "1": node_error(
                "RaisesNode",
                ["1"],
                {
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": "boom",
                    "extra_info": {"exception_type": "ValueError"},
                },
            )
        },
    }
    assert isinstance(tb, list) and tb and all(isinstance(line, str) for line in tb)
    assert any("_raises" in line for line in tb)


def test_link_to_missing_node_names_input_and_node(registry: Registry) -> None:
    """Type, message and exception_type as ComfyUI; details say what is wrong, not "'99'"."""
    v = validate_prompt(registry, {"1": n("SaveImage", images=["99", 0])})
    body, tb = pop_traceback(v, "1")

    assert isinstance(tb, list)
    assert body == {
        "error": failed(
            "Exception when validating node: images: links to node '99', which is not in the prompt"
        ),
        "node_errors": {
            "1": node_error(
                "SaveImage",
                ["1"],
                {
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": "images: links to node '99', which is not in the prompt",
                    "extra_info": {"exception_type": "KeyError", "input_name": "images"},
                },
            )
        },
    }


def test_link_to_missing_output_slot_names_the_slot(registry: Registry) -> None:
    """Details say which slot is missing instead of "tuple index out of range"."""
    v = validate_prompt(
        registry, {"1": n("SaveImage", images=["2", 3]), "2": n("MakeImage", width=8)}
    )
    body, tb = pop_traceback(v, "1")

    assert isinstance(tb, list)
    assert body == {
        "error": failed(
            "Exception when validating node: images: node '2' (MakeImage) has no output 3; it has 1"
        ),
        "node_errors": {
            "1": node_error(
                "SaveImage",
                ["1"],
                {
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": "images: node '2' (MakeImage) has no output 3; it has 1",
                    "extra_info": {"exception_type": "IndexError", "input_name": "images"},
                },
            )
        },
    }


def test_unhashable_literal_is_reported_on_its_node(registry: Registry) -> None:
    prompt = {"1": n("ShowAny", value=Blob()), "2": n("ShowAny", value=1)}
    v = validate_prompt(registry, prompt)
    message = "Blob is not JSON-serialisable"

    assert v.ok  # output "2" still runs
    assert v.outputs == ["2"]
    assert v.to_json() == {
        "node_errors": {
            "1": node_error(
                "ShowAny",
                ["1"],
                {
                    "type": "unhashable_input_value",
                    "message": "Input value cannot be fingerprinted for the cache",
                    "details": f"value: Blob value has no stable fingerprint ({message})",
                    "extra_info": {"input_name": "value", "exception_message": message},
                },
            )
        }
    }


# --- cycles -----------------------------------------------------------------------------------


def cycle_error(node_id: str, path: str, nodes: list[str]) -> dict[str, Any]:
    return {
        "type": "dependency_cycle",
        "message": "Dependency cycle detected",
        "details": path,
        "extra_info": {"node_id": node_id, "cycle_nodes": nodes},
    }


def test_dependency_cycle_of_two_nodes(registry: Registry) -> None:
    prompt = {
        "1": n("SaveImage", images=["2", 0]),
        "2": n("PassImage", image=["3", 0]),
        "3": n("PassImage", image=["2", 0]),
    }
    path = "2 (PassImage) -> 3 (PassImage) -> 2 (PassImage)"

    assert validate_prompt(registry, prompt).to_json() == {
        "error": failed(f"Dependency cycle detected: {path}"),
        "node_errors": {
            "2": node_error("PassImage", ["1"], cycle_error("2", path, ["2", "3"])),
            "3": node_error("PassImage", ["1"], cycle_error("3", path, ["2", "3"])),
        },
    }


def test_dependency_cycle_of_three_nodes(registry: Registry) -> None:
    # Data flows 2 -> 3 -> 4 -> 2; output 1 reads node 2.
    prompt = {
        "1": n("SaveImage", images=["2", 0]),
        "2": n("PassImage", image=["4", 0]),
        "3": n("InvertImage", image=["2", 0]),
        "4": n("PassImage", image=["3", 0]),
    }
    path = "2 (PassImage) -> 3 (InvertImage) -> 4 (PassImage) -> 2 (PassImage)"
    members = ["2", "3", "4"]

    assert validate_prompt(registry, prompt).to_json() == {
        "error": failed(f"Dependency cycle detected: {path}"),
        "node_errors": {
            "2": node_error("PassImage", ["1"], cycle_error("2", path, members)),
            "3": node_error("InvertImage", ["1"], cycle_error("3", path, members)),
            "4": node_error("PassImage", ["1"], cycle_error("4", path, members)),
        },
    }


# --- prompt-level errors ----------------------------------------------------------------------


def test_missing_class_type_property(registry: Registry) -> None:
    prompt = {"1": n("SaveImage", images=["2", 0]), "2": {"inputs": {"width": 8}}}
    v = validate_prompt(registry, prompt)

    assert not v.ok
    assert v.outputs == []
    assert v.to_json() == {
        "error": {
            "type": "invalid_prompt",
            "message": "Cannot execute because a node is missing the class_type property.",
            "details": "Node ID '#2'",
            "extra_info": {},
        },
        "node_errors": {},
    }


def test_missing_node_type(registry: Registry) -> None:
    prompt = {"1": n("SaveImage", images=["2", 0]), "2": n("NoSuchNode", width=8)}
    prompt["2"]["_meta"] = {"title": "My Loader"}
    v = validate_prompt(registry, prompt)
    body = v.to_json()

    assert not v.ok
    assert body["node_errors"] == {}
    assert body["error"]["type"] == "missing_node_type"
    assert body["error"]["message"] == "Cannot execute because node NoSuchNode does not exist."
    assert body["error"]["details"].startswith("Node ID '#2'")
    extra = body["error"]["extra_info"]
    assert {k: extra[k] for k in ("node_id", "class_type", "node_title")} == {
        "node_id": "2",
        "class_type": "NoSuchNode",
        "node_title": "My Loader",
    }


def test_missing_node_type_lists_every_missing_class(registry: Registry) -> None:
    """The first missing class fills ComfyUI's fields; details and `missing` list all."""
    prompt = {
        "1": n("SaveImage", images=["2", 0]),
        "2": n("NoSuchNode", width=8),
        "3": n("AlsoMissing"),
    }
    prompt["2"]["_meta"] = {"title": "My Loader"}

    assert validate_prompt(registry, prompt).to_json() == {
        "error": {
            "type": "missing_node_type",
            "message": "Cannot execute because node NoSuchNode does not exist.",
            "details": "Node ID '#2': NoSuchNode\nNode ID '#3': AlsoMissing",
            "extra_info": {
                "node_id": "2",
                "class_type": "NoSuchNode",
                "node_title": "My Loader",
                "missing": [
                    {"node_id": "2", "class_type": "NoSuchNode"},
                    {"node_id": "3", "class_type": "AlsoMissing"},
                ],
            },
        },
        "node_errors": {},
    }


def test_first_bad_node_decides_the_prompt_level_error(registry: Registry) -> None:
    prompt = {"1": n("NoSuchNode"), "2": {"inputs": {}}, "3": n("MakeImage", width=8)}

    error = validate_prompt(registry, prompt).to_json()["error"]
    assert error["type"] == "missing_node_type"
    assert error["extra_info"]["node_id"] == "1"


def test_prompt_without_output_nodes(registry: Registry) -> None:
    v = validate_prompt(registry, {"1": n("MakeImage", width=8), "2": n("ConstInt", value=1)})

    assert not v.ok
    assert v.to_json() == {
        "error": {
            "type": "prompt_no_outputs",
            "message": "Prompt has no outputs",
            "details": "",
            "extra_info": {},
        },
        "node_errors": {},
    }


@pytest.mark.parametrize("targets", [[], ["2"], ["404"]], ids=["empty", "non-output", "unknown"])
def test_partial_targets_without_output_nodes(registry: Registry, targets: list[str]) -> None:
    prompt = {"1": n("SaveImage", images=["2", 0]), "2": n("MakeImage", width=8)}
    v = validate_prompt(registry, prompt, partial_targets=targets)

    assert not v.ok
    assert v.to_json() == {
        "error": {
            "type": "prompt_no_outputs",
            "message": "Prompt has no outputs",
            "details": "",
            "extra_info": {},
        },
        "node_errors": {},
    }


# --- partial acceptance and error attribution -------------------------------------------------


def test_accepted_with_node_errors_when_one_output_validates(registry: Registry) -> None:
    prompt = {
        "1": n("SaveImage", images=["2", 0]),
        "2": n("MakeImage", width=8),
        "3": n("SaveImage", images=["4", 0]),
        "4": n("MakeImage", width=999),
    }
    v = validate_prompt(registry, prompt)

    assert v.ok
    assert v.error is None
    assert v.outputs == ["1"]
    assert v.to_json() == {
        "node_errors": {
            "4": node_error(
                "MakeImage",
                ["3"],
                {
                    "type": "value_bigger_than_max",
                    "message": "Value 999 bigger than max of 64",
                    "details": "width",
                    "extra_info": {
                        "input_name": "width",
                        "input_config": WIDTH_CONFIG,
                        "received_value": 999,
                    },
                },
            )
        }
    }


def test_node_invalid_only_through_upstream_is_not_listed(registry: Registry) -> None:
    # 1 <- 2 <- 3: only 3 has an error of its own; 2 and 1 are invalid through it.
    prompt = {
        "1": n("SaveImage", images=["2", 0]),
        "2": n("PassImage", image=["3", 0]),
        "3": n("MakeImage", width=0),
    }

    assert validate_prompt(registry, prompt).to_json() == {
        "error": failed("Value 0 smaller than min of 1: width"),
        "node_errors": {
            "3": node_error(
                "MakeImage",
                ["1"],
                {
                    "type": "value_smaller_than_min",
                    "message": "Value 0 smaller than min of 1",
                    "details": "width",
                    "extra_info": {
                        "input_name": "width",
                        "input_config": WIDTH_CONFIG,
                        "received_value": 0,
                    },
                },
            )
        },
    }


def test_shared_broken_node_lists_every_dependent_output(registry: Registry) -> None:
    prompt = {
        "1": n("SaveImage", images=["3", 0]),
        "2": n("SaveImage", images=["3", 0]),
        "3": n("MakeImage", width="wide"),
    }
    ex = "invalid literal for int() with base 10: 'wide'"

    assert validate_prompt(registry, prompt).to_json() == {
        "error": failed(f"Failed to convert an input value to a INT value: width, wide, {ex}"),
        "node_errors": {
            "3": node_error(
                "MakeImage",
                ["1", "2"],
                {
                    "type": "invalid_input_type",
                    "message": "Failed to convert an input value to a INT value",
                    "details": f"width, wide, {ex}",
                    "extra_info": {
                        "input_name": "width",
                        "input_config": WIDTH_CONFIG,
                        "received_value": "wide",
                        "exception_message": ex,
                    },
                },
            )
        },
    }


def test_partial_targets_restrict_outputs(registry: Registry) -> None:
    prompt = {
        "1": n("SaveImage", images=["2", 0]),
        "2": n("MakeImage", width=8),
        "3": n("ShowAny", value=["2", 0]),
        "4": n("SaveImage"),  # broken, but not a target: never validated
    }
    v = validate_prompt(registry, prompt, partial_targets=["3"])

    assert v.to_json() == {"node_errors": {}}
    assert v.outputs == ["3"]

    both = validate_prompt(registry, prompt, partial_targets=[3, "1"])
    assert both.to_json() == {"node_errors": {}}
    assert both.outputs == ["1", "3"]


def test_top_level_details_join_message_and_details_lines(registry: Registry) -> None:
    prompt = {
        "1": n("SaveImage"),
        "2": n("ShowNumber", value=["3", 0]),
        "3": n("ConstInt", value=99),
    }

    assert validate_prompt(registry, prompt).to_json() == {
        "error": failed("Required input is missing: images\nValue 99 bigger than max of 10: value"),
        "node_errors": {
            "1": node_error(
                "SaveImage",
                ["1"],
                {
                    "type": "required_input_missing",
                    "message": "Required input is missing",
                    "details": "images",
                    "extra_info": {"input_name": "images"},
                },
            ),
            "3": node_error(
                "ConstInt",
                ["2"],
                {
                    "type": "value_bigger_than_max",
                    "message": "Value 99 bigger than max of 10",
                    "details": "value",
                    "extra_info": {
                        "input_name": "value",
                        "input_config": INT_CONFIG,
                        "received_value": 99,
                    },
                },
            ),
        },
    }
