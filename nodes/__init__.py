"""The node library: registers nodegraph's built-in nodes (this module stays torch free).

Torch-based modules are imported lazily by `register`, so `import nodes` is cheap and works
without torch installed.
"""

from __future__ import annotations

from nodegraph import Registry


def register(registry: Registry) -> None:
    """Add every built-in node module to `registry` (the `nodegraph.nodes` entry point)."""
    from nodes import preview, primitives, text

    for module in (primitives, text, preview):
        registry.add_module(module)
