"""The node library: registers nodegraph's built-in nodes (this module stays torch free).

Torch-based modules are imported lazily by `register`, so `import nodes` is cheap and works
without torch installed.
"""

from __future__ import annotations

import logging

from nodegraph import Registry

log = logging.getLogger(__name__)


def register(registry: Registry) -> None:
    """Add every built-in node module to `registry` (the `nodegraph.nodes` entry point)."""
    from nodes import folders, preview, primitives, text

    for module in (primitives, text, preview):
        registry.add_module(module)
    registry.add_service(folders.SERVICE, folders.ModelFolders)
    try:
        import torch  # noqa: F401
    except ImportError:
        log.warning("torch is not installed: only the text and utility nodes are available")
        return
    _register_sd(registry)


def _register_sd(registry: Registry) -> None:
    """The Stable Diffusion nodes (torch, diffusers) and the shared model manager."""
    from nodes import (
        conditioning,
        controlnet,
        hypernetwork,
        image_io,
        image_ops,
        latent,
        loaders,
        lora,
        model_management,
        preprocessors,
        sampling,
        vae,
    )

    modules = (
        loaders,
        lora,
        conditioning,
        controlnet,
        hypernetwork,
        latent,
        sampling,
        vae,
        image_io,
        image_ops,
        preprocessors,
    )
    for module in modules:
        registry.add_module(module)
    for old, new in conditioning.ALIASES.items():
        registry.alias(old, new)
    registry.add_service(model_management.SERVICE, model_management.ModelManager)
