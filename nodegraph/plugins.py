"""Finds node libraries (entry points `nodegraph.nodes`, or modules named by the user)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType

from nodegraph.registry import Registry

ENTRY_POINT_GROUP = "nodegraph.nodes"
COMMAND_GROUP = "nodegraph.commands"


class PluginError(RuntimeError):
    """A node library could not be loaded; the message names it and the cause."""


def load_registry(modules: Iterable[str] = (), *, use_entry_points: bool = True) -> Registry:
    """A registry holding every installed node library plus `modules` (names or .py paths).

    The engine never imports the node library itself: `nodes` is found through its entry point,
    the same way a third-party node pack is.
    """
    registry = Registry()
    if use_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                target = ep.load()
            except Exception as ex:
                raise PluginError(
                    f"node library {ep.name!r} ({ep.value}) failed to load: {ex}"
                ) from ex
            _register(registry, target, ep.value)
    for name in modules:
        _register(registry, _import(name), name)
    return registry


def _register(registry: Registry, target: object, origin: str) -> None:
    if isinstance(target, ModuleType):
        registry.add_module(target)
    elif callable(target):
        target(registry)
    else:
        raise PluginError(f"{origin}: expected a module or a register(registry) function")


def _import(name: str) -> ModuleType:
    """Import `name` as a module path (pkg.mod) or a .py file."""
    try:
        if name.endswith(".py"):
            path = Path(name).resolve()
            spec = importlib.util.spec_from_file_location(path.stem, path)
            if spec is None or spec.loader is None:
                raise PluginError(f"cannot load node module file {name}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
            return module
        if os.getcwd() not in sys.path:  # like `python -m`: modules beside the user resolve
            sys.path.append(os.getcwd())
        return importlib.import_module(name)
    except PluginError:
        raise
    except Exception as ex:
        raise PluginError(f"node module {name!r} failed to load: {ex}") from ex


def plugin_commands() -> dict[str, Callable[[list[str]], int]]:
    """Extra `nodegraph COMMAND` subcommands that node libraries provide (entry points
    `nodegraph.commands`: name -> main(argv) returning an exit status), loaded on call."""
    commands: dict[str, Callable[[list[str]], int]] = {}
    for ep in entry_points(group=COMMAND_GROUP):

        def run(argv: list[str], ep: EntryPoint = ep) -> int:
            try:
                target = ep.load()
            except Exception as ex:
                raise PluginError(f"command {ep.name!r} ({ep.value}) failed to load: {ex}") from ex
            return int(target(argv) or 0)

        commands[ep.name] = run
    return commands
