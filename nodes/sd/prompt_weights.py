"""ComfyUI's prompt weighting syntax: `(text)`, `(text:1.3)` and `\\(` escapes -> weighted segments.

The semantics follow ComfyUI's `comfy/sd1_clip.py` exactly, quirks included: every group
multiplies the weight by 1.1, and a `:number` suffix inside a group replaces the weight
(it does not multiply the enclosing groups' weight). There is no `[x]`, `AND` or `BREAK`.
"""

from __future__ import annotations

GROUP_FACTOR = 1.1
"""Each pair of brackets without an explicit weight multiplies the weight by this."""

_ESCAPES = (("\\)", "\0\1"), ("\\(", "\0\2"))


def escape_brackets(text: str) -> str:
    """Hide `\\(` and `\\)` so the parser treats them as text (ComfyUI's escape_important)."""
    for literal, marker in _ESCAPES:
        text = text.replace(literal, marker)
    return text


def unescape_brackets(text: str) -> str:
    """Turn hidden escaped brackets back into plain `(` and `)`."""
    for literal, marker in _ESCAPES:
        text = text.replace(marker, literal[1])
    return text


def split_groups(text: str) -> list[str]:
    """Split text into top-level pieces: plain runs and whole `( ... )` groups.

    An unbalanced `)` closes nothing and an unclosed `(` runs to the end of the text,
    exactly as ComfyUI's parse_parentheses treats them.
    """
    pieces: list[str] = []
    current = ""
    depth = 0
    for char in text:
        if char == "(":
            if depth == 0:
                if current:
                    pieces.append(current)
                current = "("
            else:
                current += char
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                pieces.append(current + ")")
                current = ""
            else:
                current += char
        else:
            current += char
    if current:
        pieces.append(current)
    return pieces


def weighted_segments(text: str, weight: float = 1.0) -> list[tuple[str, float]]:
    """Resolve the groups of already-escaped `text` into (segment, weight) pairs, in order."""
    out: list[tuple[str, float]] = []
    for piece in split_groups(text):
        if len(piece) < 2 or piece[0] != "(" or piece[-1] != ")":
            out.append((piece, weight))
            continue
        inner = piece[1:-1]
        inner_weight = weight * GROUP_FACTOR
        colon = inner.rfind(":")
        if colon > 0:
            explicit = _parse_float(inner[colon + 1 :])
            if explicit is not None:
                inner_weight = explicit
                inner = inner[:colon]
        out.extend(weighted_segments(inner, inner_weight))
    return out


def parse_prompt_weights(text: str) -> list[tuple[str, float]]:
    """Parse a whole prompt into (segment, weight) pairs; escaped brackets come back as text."""
    return [
        (unescape_brackets(segment), weight)
        for segment, weight in weighted_segments(escape_brackets(text), 1.0)
    ]


def _parse_float(text: str) -> float | None:
    """Python's float() like ComfyUI (so "1e2", " 2 " and "inf" count); None when invalid."""
    try:
        return float(text)
    except ValueError:
        return None
