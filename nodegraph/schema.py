"""The bundled JSON Schema documents for both workflow formats, and readable error paths."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any, cast

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

API_PROMPT = "api_prompt.schema.json"
UI_WORKFLOW = "ui_workflow.schema.json"


@cache
def validator(name: str) -> jsonschema.protocols.Validator:
    """Load and check a bundled schema once (it ships as package data)."""
    text = files("nodegraph").joinpath("schemas", name).read_text("utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    checker: jsonschema.protocols.Validator = cls(schema)
    return checker


def first_error(name: str, data: object) -> ValidationError | None:
    """The most relevant violation of schema `name`, or None when `data` conforms."""
    error: ValidationError | None = best_match(validator(name).iter_errors(cast(Any, data)))
    return error


def error_path(error: ValidationError, start: int = 0) -> str:
    """`nodes[3].inputs[0].link`-style location of a violation ('' at the top level);
    `start` skips leading path items the caller names itself."""
    path = list(error.absolute_path)[start:]
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return "".join(parts).lstrip(".")
