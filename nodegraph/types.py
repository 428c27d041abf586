"""Socket types and the rule deciding which output may feed which input."""

from __future__ import annotations

ANY = "*"
"""The wildcard socket type: matches every other type on either side."""

# Widget-capable primitive types; their constants are coerced during validation.
INT = "INT"
FLOAT = "FLOAT"
STRING = "STRING"
BOOLEAN = "BOOLEAN"
COMBO = "COMBO"

PRIMITIVE_TYPES = frozenset({INT, FLOAT, STRING, BOOLEAN})


def _type_set(type_name: str) -> frozenset[str]:
    return frozenset(part.strip() for part in type_name.split(","))


def can_connect(out_type: str, in_type: str) -> bool:
    """Tell whether an output of `out_type` may be linked to an input of `in_type`.

    ComfyUI semantics: the `!=` operator decides first (so `str` subclasses that override it,
    like custom "AnyType" strings, keep working), then "*" on either side, then comma-separated
    unions match when they intersect. Unlike ComfyUI's server, a plain "*" is a wildcard here,
    as it already is in ComfyUI's frontend.
    """
    if not (out_type != in_type):  # noqa: SIM202 - str subclasses may override __ne__
        return True
    if out_type == ANY or in_type == ANY:
        return True
    if "," in out_type or "," in in_type:
        return bool(_type_set(out_type) & _type_set(in_type))
    return False
