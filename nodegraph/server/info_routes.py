"""Read-only information routes: object_info, embeddings, model folders, system stats, features.

Model folders belong to the node library: it registers a `folders` service (see
`ModelFolders`); without one, the lists are empty. Torch is never imported here: device figures
come from it only when the node library has already loaded it.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import PurePath
from typing import Any, Protocol

from aiohttp import web

from nodegraph import __version__
from nodegraph.server.keys import ENGINE, SERVER

routes = web.RouteTableDef()
COMFYUI_API_LEVEL = "0.3.60"
"""The ComfyUI version whose API we follow; clients gate features on `comfyui_version`."""
EMBEDDING_EXTENSIONS = (".safetensors", ".pt", ".bin", ".ckpt", ".pth")


class ModelFolders(Protocol):
    """What the node library's `folders` service offers the server."""

    def names(self) -> list[str]:
        """Folder keys in ComfyUI's order (checkpoints, loras, ...)."""
        ...

    def files(self, name: str) -> list[str] | None:
        """Sorted relative file names in a folder, or None for an unknown folder."""
        ...


def _folders(request: web.Request) -> ModelFolders | None:
    services = request.app[ENGINE].services
    folders: ModelFolders | None = services.get("folders")
    return folders


@routes.get("/object_info")
async def object_info(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENGINE].object_info())


@routes.get("/object_info/{class_type}")
async def object_info_one(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENGINE].object_info(request.match_info["class_type"]))


@routes.get("/embeddings")
async def embeddings(request: web.Request) -> web.Response:
    folders = _folders(request)
    files = (folders.files("embeddings") if folders else None) or []
    names = [
        str(PurePath(f).with_suffix(""))
        for f in files
        if PurePath(f).suffix.lower() in EMBEDDING_EXTENSIONS
    ]
    return web.json_response(names)


@routes.get("/models")
async def models(request: web.Request) -> web.Response:
    folders = _folders(request)
    return web.json_response(folders.names() if folders else [])


@routes.get("/models/{folder}")
async def models_in(request: web.Request) -> web.Response:
    folders = _folders(request)
    name = request.match_info["folder"]
    files = folders.files(name) if folders else None
    if files is None:
        return web.json_response({"error": f"unknown model folder {name!r}"}, status=404)
    return web.json_response(files)


@routes.get("/system_stats")
async def system_stats(request: web.Request) -> web.Response:
    total, free = memory()
    torch = sys.modules.get("torch")
    stats = {
        "system": {
            "os": os.name,
            "platform": sys.platform,
            "ram_total": total,
            "ram_free": free,
            "comfyui_version": COMFYUI_API_LEVEL,
            "nodegraph_version": __version__,
            "required_frontend_version": "",
            "python_version": sys.version,
            "pytorch_version": getattr(torch, "__version__", ""),
            "embedded_python": False,
            "argv": sys.argv,
        },
        "devices": devices(torch, total, free),
    }
    return web.json_response(stats)


@routes.get("/features")
async def features(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "supports_preview_metadata": True,
            "max_upload_size": request.app[SERVER].max_upload_bytes,
        }
    )


def memory() -> tuple[int, int]:
    """(total, available) RAM in bytes; zeros where the OS does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in file}
        return info.get("MemTotal", 0), info.get("MemAvailable", info.get("MemFree", 0))
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return pages, 0
    except (AttributeError, ValueError, OSError):
        return 0, 0


def devices(torch: Any, ram_total: int, ram_free: int) -> list[dict[str, Any]]:
    """ComfyUI's device list: CUDA devices when torch (already loaded) sees them, else the CPU."""
    found: list[dict[str, Any]] = []
    cuda = getattr(torch, "cuda", None)
    if cuda is not None and cuda.is_available():
        for index in range(cuda.device_count()):
            free, total = cuda.mem_get_info(index)
            found.append(
                {
                    "name": f"cuda:{index} {cuda.get_device_name(index)}",
                    "type": "cuda",
                    "index": index,
                    "vram_total": total,
                    "vram_free": free,
                    "torch_vram_total": cuda.memory_reserved(index),
                    "torch_vram_free": cuda.memory_reserved(index) - cuda.memory_allocated(index),
                }
            )
    if not found:
        found.append(
            {
                "name": f"cpu {platform.processor() or platform.machine()}".strip(),
                "type": "cpu",
                "index": None,
                "vram_total": ram_total,
                "vram_free": ram_free,
                "torch_vram_total": ram_total,
                "torch_vram_free": ram_free,
            }
        )
    return found
