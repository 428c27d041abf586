"""API-format parsing: links become Link objects once; structure follows the bundled schema."""

from __future__ import annotations

from typing import Any

import pytest

from nodegraph import schema
from nodegraph.graph import BadLink, Link, PromptFormatError, parse_prompt, to_api


def test_links_literals_and_wrapped_lists() -> None:
    prompt = parse_prompt(
        {
            "3": {
                "class_type": "KSampler",
                "inputs": {
                    "model": ["4", 0],
                    "seed": 5,
                    "float_slot": [7, 1.0],
                    "triple": ["4", 0, 1],
                    "words": {"__value__": ["a", "b"]},
                },
                "_meta": {"title": "Sampler"},
            }
        }
    )
    node = prompt["3"]
    assert node.inputs == {
        "model": Link("4", 0),
        "seed": 5,
        "float_slot": Link("7", 1),
        "triple": BadLink(["4", 0, 1]),
        "words": ["a", "b"],
    }
    assert node.title == "Sampler"
    assert to_api(prompt)["3"]["inputs"]["words"] == {"__value__": ["a", "b"]}
    assert to_api(prompt)["3"]["inputs"]["model"] == ["4", 0]


GOOD: list[Any] = [
    {},
    {"1": {"class_type": "A"}},
    {"1": {"class_type": "A", "inputs": {"x": ["2", 0]}, "_meta": {"title": "t"}}},
    {"1": {"class_type": "A", "inputs": {}, "is_changed": ["x"], "extra": 1}},
]
BAD: list[tuple[Any, str]] = [
    ([1], "[1] is not of type 'object'"),
    ({"1": 5}, "Node ID '#1': 5 is not of type 'object'"),
    ({"1": {"class_type": "A", "inputs": []}}, "Node ID '#1': inputs: [] is not of type 'object'"),
    ({"1": {"class_type": "A", "_meta": {"title": 3}}}, "_meta.title: 3 is not of type 'string'"),
]


@pytest.mark.parametrize("data", GOOD)
def test_schema_and_parser_accept_the_same_good_prompts(data: Any) -> None:
    assert schema.first_error(schema.API_PROMPT, data) is None
    parse_prompt(data)


@pytest.mark.parametrize(("data", "message"), BAD)
def test_schema_explains_what_the_parser_rejects(data: Any, message: str) -> None:
    assert schema.first_error(schema.API_PROMPT, data) is not None
    with pytest.raises(PromptFormatError) as info:
        parse_prompt(data)
    assert info.value.error_type == "invalid_prompt"
    assert message in info.value.details


def test_missing_class_type_is_left_to_validation_for_comfyui_wording() -> None:
    data = {"1": {"inputs": {}}}
    assert schema.first_error(schema.API_PROMPT, data) is not None
    assert parse_prompt(data)["1"].class_type is None
