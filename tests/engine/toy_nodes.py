"""Toy nodes (no torch) that exercise every engine feature; also loadable via --nodes."""

from __future__ import annotations

import math
import sys
import time
from typing import Annotated, Any

from nodegraph import (
    Boolean,
    Context,
    ExecutionBlocker,
    Float,
    Input,
    Int,
    Out,
    Registry,
    Result,
    Socket,
    String,
    node,
)

CALLS: list[str] = []
"""Every toy node call appends its class name, so tests can see what actually ran."""

Number = Annotated[float, Socket("INT,FLOAT")]


@node("ToyInt", category="toy")
def toy_int(
    *, value: Annotated[int, Int(min=-1000, max=1000, control_after_generate=True)] = 0
) -> int:
    """An integer constant."""
    CALLS.append("ToyInt")
    return value


@node("ToyAdd", category="toy")
def toy_add(*, a: int, b: Annotated[int, Int(min=-1000, max=1000)] = 0) -> int:
    """a + b."""
    CALLS.append("ToyAdd")
    return a + b


@node("ToyScale", category="toy")
def toy_scale(
    *, value: Number, factor: Annotated[float, Float(min=0.0, max=10.0, step=0.1)] = 1.0
) -> Annotated[float, Socket("FLOAT")]:
    """value * factor."""
    CALLS.append("ToyScale")
    return value * factor


@node("ToyText", category="toy")
def toy_text(
    *, text: Annotated[str, String(multiline=True)] = "", shout: Annotated[bool, Boolean()] = False
) -> str:
    """Text, optionally upper-cased."""
    CALLS.append("ToyText")
    return text.upper() if shout else text


@node("ToySink", category="toy", output_node=True)
def toy_sink(*, value: Annotated[Any, Socket("*")]) -> Result:
    """Shows a value in the UI (an output node)."""
    CALLS.append("ToySink")
    return Result(ui={"value": [value]})


def _lazy_needed(*, switch: bool, a: Any = None, b: Any = None) -> list[str]:
    return ["a"] if switch else ["b"]


@node("ToyLazySwitch", category="toy", check_lazy=_lazy_needed)
def toy_lazy_switch(
    *,
    switch: bool,
    a: Annotated[Any, Socket("*"), Input(lazy=True)] = None,
    b: Annotated[Any, Socket("*"), Input(lazy=True)] = None,
) -> Annotated[Any, Socket("*")]:
    """Evaluates only the branch it returns (lazy inputs)."""
    CALLS.append("ToyLazySwitch")
    return a if switch else b


@node("ToyRange", category="toy")
def toy_range(
    *, count: Annotated[int, Int(min=0, max=100)] = 3
) -> Annotated[list[int], Socket("INT"), Out(name="values", is_list=True)]:
    """0..count-1 as a list output (OUTPUT_IS_LIST)."""
    CALLS.append("ToyRange")
    return list(range(count))


@node("ToySum", category="toy", input_is_list=True)
def toy_sum(*, values: int) -> int:
    """Sums a whole list in one call (INPUT_IS_LIST)."""
    CALLS.append("ToySum")
    return sum(values)  # type: ignore[call-overload]


@node("ToyFail", category="toy")
def toy_fail(*, value: int, message: str = "boom") -> int:
    """Raises, to test error propagation."""
    CALLS.append("ToyFail")
    raise RuntimeError(message)


@node("ToySteps", category="toy")
def toy_steps(
    *, value: int, steps: Annotated[int, Int(min=1, max=1000)] = 5, delay: float = 0.0, ctx: Context
) -> int:
    """Reports progress per step and honours interrupts, like a sampler."""
    CALLS.append("ToySteps")
    for i in range(steps):
        time.sleep(delay)
        ctx.progress(i + 1, steps)
    return value


@node("ToyVolatile", category="toy", fingerprint=lambda **_: math.nan)
def toy_volatile(*, value: int) -> int:
    """Re-runs on every prompt (its fingerprint is NaN)."""
    CALLS.append("ToyVolatile")
    return value


@node("ToyBlock", category="toy")
def toy_block(*, value: int, block: bool = True, message: str = "") -> int:
    """Blocks everything downstream when `block` is set."""
    CALLS.append("ToyBlock")
    return ExecutionBlocker(message or None) if block else value  # type: ignore[return-value]


def make_registry() -> Registry:
    registry = Registry()
    registry.add_module(sys.modules[__name__])
    return registry
