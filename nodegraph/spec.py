"""What a node declares: inputs (widgets, sockets, hidden values), outputs and behaviour hooks."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nodegraph.types import BOOLEAN, COMBO, FLOAT, INT, STRING

Section = Literal["required", "optional", "hidden"]
ChoicesSource = Sequence[str] | Callable[[Any], Sequence[str]]


def _options(**values: Any) -> dict[str, Any]:
    """Keep only the options that were set, so object_info carries no noise."""
    return {k: v for k, v in values.items() if v is not None and v is not False}


class Widget:
    """A constant input edited in the UI; subclasses know their type and options."""

    type_name: str = ""

    def options(self) -> dict[str, Any]:
        raise NotImplementedError

    def check_default(self, default: Any) -> str | None:
        """Return a problem with `default`, or None when it is acceptable."""
        return None


@dataclass(frozen=True)
class Int(Widget):
    """An integer widget; `control_after_generate` gives seeds their fixed/randomize control."""

    min: int | None = None
    max: int | None = None
    step: int | None = None
    display: str | None = None
    control_after_generate: bool = False
    type_name = INT

    def options(self) -> dict[str, Any]:
        return _options(
            min=self.min,
            max=self.max,
            step=self.step,
            display=self.display,
            control_after_generate=self.control_after_generate,
        )

    def check_default(self, default: Any) -> str | None:
        if not isinstance(default, int) or isinstance(default, bool):
            return f"default {default!r} is not an int"
        return _range_problem(default, self.min, self.max)


@dataclass(frozen=True)
class Float(Widget):
    """A float widget with optional range, step and rounding."""

    min: float | None = None
    max: float | None = None
    step: float | None = None
    round: float | None = None
    display: str | None = None
    type_name = FLOAT

    def options(self) -> dict[str, Any]:
        return _options(
            min=self.min, max=self.max, step=self.step, round=self.round, display=self.display
        )

    def check_default(self, default: Any) -> str | None:
        if not isinstance(default, int | float) or isinstance(default, bool):
            return f"default {default!r} is not a number"
        if math.isnan(default):
            return "default is NaN"
        return _range_problem(default, self.min, self.max)


@dataclass(frozen=True)
class String(Widget):
    """A text widget, single or multi-line."""

    multiline: bool = False
    dynamic_prompts: bool = False
    placeholder: str | None = None
    type_name = STRING

    def options(self) -> dict[str, Any]:
        return _options(
            multiline=self.multiline,
            dynamicPrompts=self.dynamic_prompts,
            placeholder=self.placeholder,
        )

    def check_default(self, default: Any) -> str | None:
        return None if isinstance(default, str) else f"default {default!r} is not a string"


@dataclass(frozen=True)
class Boolean(Widget):
    """A toggle widget."""

    label_on: str | None = None
    label_off: str | None = None
    type_name = BOOLEAN

    def options(self) -> dict[str, Any]:
        return _options(label_on=self.label_on, label_off=self.label_off)

    def check_default(self, default: Any) -> str | None:
        return None if isinstance(default, bool) else f"default {default!r} is not a bool"


@dataclass(frozen=True)
class Combo(Widget):
    """A choice among strings; `choices` may be a callable taking the settings, evaluated per
    request so that new model files appear without a restart."""

    choices: ChoicesSource = ()
    image_upload: bool = False
    type_name = COMBO

    def options(self) -> dict[str, Any]:
        return _options(image_upload=self.image_upload)

    @property
    def is_dynamic(self) -> bool:
        return callable(self.choices)

    def resolve(self, settings: Any) -> list[str]:
        """The current choices (dynamic ones are computed now)."""
        if callable(self.choices):
            return list(self.choices(settings))
        return list(self.choices)

    def check_default(self, default: Any) -> str | None:
        if self.is_dynamic:
            return None
        if default not in list(self.choices):  # type: ignore[arg-type]
            return f"default {default!r} is not one of the choices {list(self.choices)!r}"  # type: ignore[arg-type]
        return None


def _range_problem(value: float, lo: float | None, hi: float | None) -> str | None:
    if lo is not None and value < lo:
        return f"default {value!r} is below min {lo!r}"
    if hi is not None and value > hi:
        return f"default {value!r} is above max {hi!r}"
    return None


@dataclass(frozen=True)
class Socket:
    """Marks a parameter (or output) as a link socket of the given type, e.g. Socket("IMAGE")."""

    type: str


@dataclass(frozen=True)
class Hidden:
    """A value the engine injects: PROMPT, EXTRA_PNGINFO, UNIQUE_ID or PROMPT_ID."""

    kind: Literal["PROMPT", "EXTRA_PNGINFO", "UNIQUE_ID", "PROMPT_ID"]


@dataclass(frozen=True)
class Input:
    """Extra per-input options: tooltip, lazy evaluation, socket-only display, raw links, and
    `optional` for optional inputs that keep a real default (`X | None = None` also works)."""

    tooltip: str | None = None
    optional: bool = False
    lazy: bool = False
    force_input: bool = False
    raw_link: bool = False
    advanced: bool = False


@dataclass(frozen=True)
class Out:
    """Output metadata: display name, tooltip and list semantics (OUTPUT_IS_LIST)."""

    name: str | None = None
    tooltip: str | None = None
    is_list: bool = False


@dataclass(frozen=True)
class InputSpec:
    """One declared input of a node."""

    name: str
    type: str
    section: Section
    widget: Widget | None = None
    default: Any = None
    has_default: bool = False
    hidden_kind: str | None = None
    tooltip: str | None = None
    lazy: bool = False
    force_input: bool = False
    raw_link: bool = False
    advanced: bool = False

    def config(self, settings: Any = None, *, pair: bool = False) -> list[Any]:
        """`[TYPE, {opts}]` as ComfyUI shows it: /object_info drops empty opts (`["MODEL"]`),
        error bodies (`pair=True`) always carry both."""
        opts: dict[str, Any] = {}
        if self.has_default:
            opts["default"] = self.default
        if self.widget is not None:
            opts.update(self.widget.options())
        opts.update(
            _options(
                tooltip=self.tooltip,
                lazy=self.lazy,
                forceInput=self.force_input,
                rawLink=self.raw_link,
                advanced=self.advanced,
            )
        )
        type_field: Any = self.type
        if isinstance(self.widget, Combo):
            type_field = self.widget.resolve(settings)
        return [type_field, opts] if opts or pair else [type_field]


@dataclass(frozen=True)
class OutputSpec:
    """One declared output of a node."""

    type: str
    name: str
    is_list: bool = False
    tooltip: str | None = None


@dataclass
class NodeSpec:
    """Everything the engine needs to know about a node class, derived once at declaration."""

    id: str
    fn: Callable[..., Any]
    inputs: dict[str, InputSpec]
    outputs: tuple[OutputSpec, ...]
    category: str = "sd"
    display_name: str = ""
    description: str = ""
    output_node: bool = False
    input_is_list: bool = False
    python_module: str = "nodes"
    not_idempotent: bool = False
    version: str = "1"
    deprecated: bool = False
    experimental: bool = False
    accepts_extra_links: bool = False
    context_param: str | None = None
    is_async: bool = False
    fingerprint: Callable[..., Any] | None = None
    validate: Callable[..., Any] | None = None
    validate_params: frozenset[str] | None = None  # None: takes **kwargs (names every input)
    validate_wants_types: bool = False
    check_lazy: Callable[..., Any] | None = None
    search_aliases: tuple[str, ...] = ()
    lazy_inputs: frozenset[str] = field(default_factory=frozenset)
    has_hidden: bool = False
    keyed_by_id: bool = False  # NOT_IDEMPOTENT or a UNIQUE_ID input: the node id joins the key
