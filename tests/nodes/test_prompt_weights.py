"""ComfyUI's weighting syntax: the examples from its source, escapes and malformed brackets."""

from __future__ import annotations

import pytest

from nodes.sd.prompt_weights import parse_prompt_weights, split_groups

G = 1.1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("foo", [("foo", 1.0)]),
        ("(foo)", [("foo", 1.0 * G)]),
        ("((foo))", [("foo", 1.0 * G * G)]),
        ("(foo:2.0)", [("foo", 2.0)]),
        ("((foo:1.1))", [("foo", 1.1)]),
        ("((foo):1.1)", [("foo", 1.1 * G)]),
        ("(foo:0.0)", [("foo", 0.0)]),
        ("((foo:1.0):0.0)", [("foo", 1.0)]),
        ("(foo)(bar)", [("foo", G), ("bar", G)]),
        (
            "foo ((((lol (cat:666) attack:100)))) baz",
            [("foo ", 1.0), ("lol ", 100.0), ("cat", 666.0), (" attack", 100.0), (" baz", 1.0)],
        ),
        (
            "foo ((((lol (cat:666) attack):100))) baz",
            [
                ("foo ", 1.0),
                ("lol ", 100.0 * G),
                ("cat", 666.0),
                (" attack", 100.0 * G),
                (" baz", 1.0),
            ],
        ),
    ],
)
def test_examples_from_comfyui(text: str, expected: list[tuple[str, float]]) -> None:
    assert parse_prompt_weights(text) == expected


def test_weights_multiply_exactly_like_comfyui() -> None:
    # 1.1 * 1.1 is 1.2100000000000002 in floating point; ComfyUI multiplies the same way
    assert parse_prompt_weights("((a))")[0][1] == 1.1 * 1.1
    assert parse_prompt_weights("(((a)))")[0][1] == 1.1 * 1.1 * 1.1


def test_escaped_brackets_are_text() -> None:
    assert parse_prompt_weights(r"\(foo\) (bar)") == [("(foo) ", 1.0), ("bar", G)]
    assert parse_prompt_weights(r"(a \(b\):1.5)") == [("a (b)", 1.5)]


def test_colon_without_number_keeps_the_text() -> None:
    assert parse_prompt_weights("(foo:bar)") == [("foo:bar", G)]
    assert parse_prompt_weights("(a:b:0.5)") == [("a:b", 0.5)]
    # a leading colon is not a weight (ComfyUI requires text before it)
    assert parse_prompt_weights("(:2)") == [(":2", G)]


def test_weight_accepts_python_float_syntax() -> None:
    assert parse_prompt_weights("(a: 1.5 )") == [("a", 1.5)]
    assert parse_prompt_weights("(a:1e1)") == [("a", 10.0)]
    assert parse_prompt_weights("(a:-1)") == [("a", -1.0)]


def test_unbalanced_brackets() -> None:
    assert split_groups("a (b") == ["a ", "(b"]
    assert parse_prompt_weights("a (b") == [("a ", 1.0), ("(b", 1.0)]
    assert parse_prompt_weights("a) b") == [("a) b", 1.0)]
    assert parse_prompt_weights("(a (b) c") == [("(a (b) c", 1.0)]


def test_empty_and_empty_group() -> None:
    assert parse_prompt_weights("") == []
    assert parse_prompt_weights("()") == []
    assert parse_prompt_weights("a () b") == [("a ", 1.0), (" b", 1.0)]
