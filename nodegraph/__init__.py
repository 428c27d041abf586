"""nodegraph: a ComfyUI-compatible node-graph engine (standard library only; no torch)."""

__version__ = "0.1.0"

from nodegraph.context import Context, Interrupted, InterruptFlag
from nodegraph.registry import NodeDeclarationError, Registry, node
from nodegraph.results import ExecutionBlocker, Result
from nodegraph.spec import Boolean, Combo, Float, Hidden, Input, Int, Out, Socket, String

__all__ = [
    "Boolean",
    "Combo",
    "Context",
    "ExecutionBlocker",
    "Float",
    "Hidden",
    "Input",
    "Int",
    "InterruptFlag",
    "Interrupted",
    "NodeDeclarationError",
    "Out",
    "Registry",
    "Result",
    "Socket",
    "String",
    "__version__",
    "node",
]
