"""HypernetworkLoader: add an A1111/NovelAI hypernetwork to a MODEL as an attention patch."""

from __future__ import annotations

import dataclasses
import logging
from typing import Annotated, Any

from nodegraph import Combo, Context, Float, node
from nodes import folders
from nodes.model_management import manager
from nodes.types import Model

log = logging.getLogger(__name__)

FOLDER = "hypernetworks"


def hypernetwork_names(settings: Any) -> list[str]:
    return folders.list_files(settings, FOLDER)


@node("HypernetworkLoader", category="loaders")
def hypernetwork_loader(
    *,
    model: Model,
    hypernetwork_name: Annotated[str, Combo(hypernetwork_names)],
    strength: Annotated[float, Float(min=-10.0, max=10.0, step=0.01)] = 1.0,
    ctx: Context,
) -> Model:
    """Patch the model's self- and cross-attention k/v inputs with a hypernetwork; the shared
    UNet is only changed while this MODEL samples."""
    from nodes.sd.hypernetwork import UnsupportedHypernetworkError, load_hypernetwork
    from nodes.sd.hypernetwork_attention import HypernetworkPatch

    path = folders.require(
        ctx.settings, FOLDER, hypernetwork_name, "HypernetworkLoader", "hypernetwork_name"
    )
    try:
        hypernetwork = manager(ctx).load("hypernetwork", path, lambda: load_hypernetwork(path))
    except UnsupportedHypernetworkError as ex:
        # ComfyUI logs an error and returns the model unpatched in this case
        log.warning("HypernetworkLoader: %s", ex)
        return model
    except ValueError as ex:
        raise ValueError(
            f"HypernetworkLoader: hypernetwork_name {hypernetwork_name!r}: {ex}"
        ) from ex
    patch = HypernetworkPatch(hypernetwork, strength, name=path.name)
    return dataclasses.replace(model, patches=(*model.patches, patch))
