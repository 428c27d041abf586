"""ComfyUI's string nodes (comfy_extras/nodes_string.py) and a small integer math node."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Annotated

from nodegraph import Boolean, Combo, Int, Out, String, node

CATEGORY = "utils/string"

CASE_MODES = ("UPPERCASE", "lowercase", "Capitalize", "Title Case")
TRIM_MODES = ("Both", "Left", "Right")
COMPARE_MODES = ("Starts With", "Ends With", "Equal")
EXTRACT_MODES = ("First Match", "All Matches", "First Group", "All Groups")
INT_OPERATIONS = ("add", "subtract", "multiply", "divide", "modulo", "power", "min", "max")

Text = Annotated[str, String(multiline=True)]
MAX_POWER_BITS = 1024
"""IntMath refuses powers whose result could exceed this many bits (keeps runs fast)."""


def _unknown(node_id: str, mode: str, choices: tuple[str, ...]) -> ValueError:
    return ValueError(f"{node_id}: unknown mode {mode!r}; expected one of {list(choices)}")


@node("StringConcatenate", category=CATEGORY, display_name="Concatenate")
def string_concatenate(
    *, string_a: Text, string_b: Text, delimiter: Annotated[str, String()] = ""
) -> str:
    """Join two strings with a delimiter between them."""
    return delimiter.join((string_a, string_b))


@node("StringSubstring", category=CATEGORY, display_name="Substring")
def string_substring(
    *, string: Text, start: Annotated[int, Int()], end: Annotated[int, Int()]
) -> str:
    """Take the slice string[start:end] (Python slicing, so negative indexes count from the end)."""
    return string[start:end]


@node("StringLength", category=CATEGORY, display_name="Length")
def string_length(*, string: Text) -> Annotated[int, Out(name="length")]:
    """Count the characters in a string."""
    return len(string)


@node("CaseConverter", category=CATEGORY, display_name="Case Converter")
def case_converter(*, string: Text, mode: Annotated[str, Combo(CASE_MODES)]) -> str:
    """Change a string's letter case: upper, lower, first letter capitalised or title case."""
    convert: dict[str, Callable[[str], str]] = {
        "UPPERCASE": str.upper,
        "lowercase": str.lower,
        "Capitalize": str.capitalize,
        "Title Case": str.title,
    }
    if mode not in convert:
        raise _unknown("CaseConverter", mode, CASE_MODES)
    return convert[mode](string)


@node("StringTrim", category=CATEGORY, display_name="Trim")
def string_trim(*, string: Text, mode: Annotated[str, Combo(TRIM_MODES)]) -> str:
    """Remove whitespace from both ends of a string, or only its left or right end."""
    strip: dict[str, Callable[[str], str]] = {
        "Both": str.strip,
        "Left": str.lstrip,
        "Right": str.rstrip,
    }
    if mode not in strip:
        raise _unknown("StringTrim", mode, TRIM_MODES)
    return strip[mode](string)


@node("StringReplace", category=CATEGORY, display_name="Replace")
def string_replace(*, string: Text, find: Text, replace: Text) -> str:
    """Replace every occurrence of `find` in a string with `replace` (plain text, no regex)."""
    return string.replace(find, replace)


@node("StringContains", category=CATEGORY, display_name="Contains")
def string_contains(
    *, string: Text, substring: Text, case_sensitive: Annotated[bool, Boolean()] = True
) -> Annotated[bool, Out(name="contains")]:
    """Tell whether a string contains a substring, optionally ignoring case."""
    if case_sensitive:
        return substring in string
    return substring.lower() in string.lower()


@node("StringCompare", category=CATEGORY, display_name="Compare")
def string_compare(
    *,
    string_a: Text,
    string_b: Text,
    mode: Annotated[str, Combo(COMPARE_MODES)],
    case_sensitive: Annotated[bool, Boolean()] = True,
) -> bool:
    """Tell whether string_a starts with, ends with, or equals string_b."""
    a, b = (string_a, string_b) if case_sensitive else (string_a.lower(), string_b.lower())
    if mode == "Starts With":
        return a.startswith(b)
    if mode == "Ends With":
        return a.endswith(b)
    if mode == "Equal":
        return a == b
    raise _unknown("StringCompare", mode, COMPARE_MODES)


def _regex_flags(case_insensitive: bool, multiline: bool, dotall: bool) -> re.RegexFlag:
    flags = re.RegexFlag(0)
    if case_insensitive:
        flags |= re.IGNORECASE
    if multiline:
        flags |= re.MULTILINE
    if dotall:
        flags |= re.DOTALL
    return flags


@node("RegexMatch", category=CATEGORY, display_name="Regex Match")
def regex_match(
    *,
    string: Text,
    regex_pattern: Text,
    case_insensitive: Annotated[bool, Boolean()] = True,
    multiline: Annotated[bool, Boolean()] = False,
    dotall: Annotated[bool, Boolean()] = False,
) -> Annotated[bool, Out(name="matches")]:
    """Tell whether a regular expression matches anywhere in a string (an invalid one: false)."""
    try:
        flags = _regex_flags(case_insensitive, multiline, dotall)
        return re.search(regex_pattern, string, flags) is not None
    except re.error:
        return False


@node("RegexExtract", category=CATEGORY, display_name="Regex Extract")
def regex_extract(
    *,
    string: Text,
    regex_pattern: Text,
    mode: Annotated[str, Combo(EXTRACT_MODES)],
    case_insensitive: Annotated[bool, Boolean()] = True,
    multiline: Annotated[bool, Boolean()] = False,
    dotall: Annotated[bool, Boolean()] = False,
    group_index: Annotated[int, Int(min=0, max=100)] = 1,
) -> str:
    """Extract the first or all regex matches (or one group of them), one per line."""
    flags = _regex_flags(case_insensitive, multiline, dotall)
    try:
        if mode == "First Match":
            match = re.search(regex_pattern, string, flags)
            return match.group(0) if match else ""
        if mode == "All Matches":
            found = re.findall(regex_pattern, string, flags)
            return "\n".join(m[0] if isinstance(m, tuple) else m for m in found)
        if mode == "First Group":
            match = re.search(regex_pattern, string, flags)
            if match and len(match.groups()) >= group_index:
                return match.group(group_index) or ""
            return ""
        if mode == "All Groups":
            return "\n".join(
                m.group(group_index) or ""
                for m in re.finditer(regex_pattern, string, flags)
                if m.groups() and len(m.groups()) >= group_index
            )
    except re.error:
        return ""
    raise _unknown("RegexExtract", mode, EXTRACT_MODES)


IntValue = Annotated[int, Int(min=-sys.maxsize, max=sys.maxsize)]


@node("IntMath", category="utils/math", display_name="Int Math")
def int_math(
    *,
    a: IntValue = 0,
    b: IntValue = 0,
    operation: Annotated[str, Combo(INT_OPERATIONS)] = "add",
) -> int:
    """Combine two integers (divide and modulo floor like Python's // and %)."""
    if operation in ("divide", "modulo") and b == 0:
        raise ValueError(f"IntMath {operation}: b is 0 (a={a}); cannot {operation} by zero")
    if operation == "power":
        if b < 0:
            raise ValueError(
                f"IntMath power: b is {b} (a={a}); a negative exponent gives no integer"
            )
        if abs(a) > 1 and b * abs(a).bit_length() > MAX_POWER_BITS:
            raise ValueError(
                f"IntMath power: a={a}, b={b} gives a result over {MAX_POWER_BITS} bits"
            )
    ops: dict[str, Callable[[int, int], int]] = {
        "add": lambda x, y: x + y,
        "subtract": lambda x, y: x - y,
        "multiply": lambda x, y: x * y,
        "divide": lambda x, y: x // y,
        "modulo": lambda x, y: x % y,
        "power": lambda x, y: x**y,
        "min": min,
        "max": max,
    }
    if operation not in ops:
        raise ValueError(f"IntMath: unknown operation {operation!r}; expected one of {list(ops)}")
    return ops[operation](a, b)
