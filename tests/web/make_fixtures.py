"""Write the fixtures of the web editor's node tests: UI workflows, the prompts the Python
converter makes of them, the object_info they need and a PNG carrying a workflow.

Run `python tests/web/make_fixtures.py` after changing the converter, the nodes or the cases
below; tests/web/test_fixtures_fresh.py fails while the committed files are out of date.
"""

from __future__ import annotations

import copy
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from nodegraph.engine import Engine
from nodegraph.settings import Settings

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIXTURES = HERE / "fixtures"
ENGINE_FIXTURES = REPO / "tests" / "engine" / "fixtures" / "ui"
# Copied from the engine's converter tests: real-frontend-shaped workflows.
ENGINE_CASES = (
    "default_txt2img",
    "default_txt2img_v1",
    "load_image",
    "mute_bypass",
    "reroute_primitive",
)
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
# File lists depend on the machine; the fixture pins them so it is the same everywhere.
PINNED_CHOICES = {
    ("CheckpointLoaderSimple", "ckpt_name"): [
        "nodegraph-demo-sd1.safetensors",
        "tiny-sd1.safetensors",
        "v1-5-pruned.safetensors",
    ],
    ("LoadImage", "image"): ["example.png"],
    ("LoadImageMask", "image"): ["example.png"],
}


def dump(data: Any) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def declared(info: dict[str, Any]) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(name, type, options) of the required then optional inputs, in input_order."""
    for section in ("required", "optional"):
        specs = info["input"].get(section) or {}
        for name in info.get("input_order", {}).get(section) or list(specs):
            spec = specs[name]
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            yield name, spec[0], opts


class Builder:
    """Assemble a schema 0.4 workflow node by node, keeping both ends of each link in sync."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.nodes: list[dict[str, Any]] = []
        self.links: list[list[Any]] = []
        self.groups: list[dict[str, Any]] = []

    def _add(self, node: dict[str, Any]) -> dict[str, Any]:
        node.setdefault("pos", [100 * len(self.nodes), 100])
        node.setdefault("size", [315, 120])
        node.setdefault("flags", {})
        node["order"] = len(self.nodes)
        node.setdefault("mode", 0)
        self.nodes.append(node)
        return node

    def node(
        self,
        node_id: int,
        class_type: str,
        widgets: Any = (),
        *,
        mode: int = 0,
        title: str | None = None,
        modern: bool = True,
    ) -> dict[str, Any]:
        """A node of a real class; `modern` lists every widget input as the current frontend."""
        info = self.info[class_type]
        inputs = []
        for name, type_, opts in declared(info):
            is_widget = (isinstance(type_, list) or type_ in WIDGET_TYPES) and not opts.get(
                "forceInput"
            )
            if is_widget and not modern:
                continue
            entry: dict[str, Any] = {
                "name": name,
                "type": "COMBO" if isinstance(type_, list) else type_,
                "link": None,
            }
            if is_widget:
                entry["widget"] = {"name": name}
            inputs.append(entry)
        outputs = [
            {"name": name, "type": type_, "links": [], "slot_index": slot}
            for slot, (name, type_) in enumerate(
                zip(info["output_name"], info["output"], strict=True)
            )
        ]
        node: dict[str, Any] = {
            "id": node_id,
            "type": class_type,
            "mode": mode,
            "inputs": inputs,
            "outputs": outputs,
            "properties": {"Node name for S&R": class_type},
            "widgets_values": list(widgets) if isinstance(widgets, tuple | list) else widgets,
        }
        if title is not None:
            node["title"] = title
        return self._add(node)

    def frontend(
        self, node_id: int, class_type: str, out_type: str | None, widgets: list[Any]
    ) -> dict[str, Any]:
        """A Reroute, PrimitiveNode or note: nodes the server never sees."""
        node: dict[str, Any] = {
            "id": node_id,
            "type": class_type,
            "inputs": [{"name": "", "type": "*", "link": None}] if class_type == "Reroute" else [],
            "outputs": []
            if out_type is None
            else [
                {
                    "name": "" if class_type == "Reroute" else out_type,
                    "type": out_type,
                    "links": [],
                    "slot_index": 0,
                }
            ],
            "properties": {},
            "widgets_values": widgets,
        }
        return self._add(node)

    def unknown(
        self,
        node_id: int,
        class_type: str,
        inputs: list[tuple[str, str]],
        outputs: list[str],
        widgets: Any,
    ) -> dict[str, Any]:
        """A node of a class the server does not have (a missing custom node)."""
        node: dict[str, Any] = {
            "id": node_id,
            "type": class_type,
            "inputs": [{"name": n, "type": t, "link": None} for n, t in inputs],
            "outputs": [
                {"name": t, "type": t, "links": [], "slot_index": i} for i, t in enumerate(outputs)
            ],
            "properties": {"Node name for S&R": class_type},
            "widgets_values": widgets,
        }
        return self._add(node)

    def by_id(self, node_id: int) -> dict[str, Any]:
        return next(n for n in self.nodes if n["id"] == node_id)

    def link(self, origin: int, slot: int, target: int, input_name: str) -> int:
        source, sink = self.by_id(origin), self.by_id(target)
        target_slot = next(i for i, x in enumerate(sink["inputs"]) if x["name"] == input_name)
        link_id = len(self.links) + 1
        link_type = source["outputs"][slot]["type"]
        self.links.append([link_id, origin, slot, target, target_slot, link_type])
        source["outputs"][slot]["links"].append(link_id)
        sink["inputs"][target_slot]["link"] = link_id
        return link_id

    def workflow(self) -> dict[str, Any]:
        return {
            "last_node_id": max(n["id"] for n in self.nodes),
            "last_link_id": len(self.links),
            "nodes": self.nodes,
            "links": self.links,
            "groups": self.groups,
            "config": {},
            "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
            "version": 0.4,
        }


def txt2img(b: Builder, *, modern: bool = True, muted_negative: bool = False) -> None:
    """ComfyUI's default graph: 4 checkpoint, 6/7 prompts, 5 latent, 3 sampler, 8 decode, 9 save."""
    b.node(
        4,
        "CheckpointLoaderSimple",
        ["tiny-sd1.safetensors"],
        title="Load Checkpoint",
        modern=modern,
    )
    b.node(6, "CLIPTextEncode", ["a red circle"], modern=modern)
    b.node(7, "CLIPTextEncode", ["blurry"], modern=modern, mode=2 if muted_negative else 0)
    b.node(5, "EmptyLatentImage", [128, 128, 1], modern=modern)
    b.node(3, "KSampler", [42, "fixed", 12, 7.5, "euler", "normal", 1.0], modern=modern)
    b.node(8, "VAEDecode", [], modern=modern)
    b.node(9, "SaveImage", ["web"], modern=modern)
    b.link(4, 1, 6, "clip")
    b.link(4, 1, 7, "clip")
    b.link(6, 0, 3, "positive")
    b.link(7, 0, 3, "negative")
    b.link(5, 0, 3, "latent_image")


def reroute_case(info: dict[str, Any]) -> dict[str, Any]:
    """The model through one Reroute and the VAE through a chain of two."""
    b = Builder(info)
    txt2img(b)
    b.frontend(20, "Reroute", "VAE", [])
    b.frontend(21, "Reroute", "VAE", [])
    b.frontend(22, "Reroute", "MODEL", [])
    b.frontend(23, "Reroute", "*", [])  # unconnected, as left behind on a canvas
    b.link(4, 2, 20, "")
    b.link(20, 0, 21, "")
    b.link(21, 0, 8, "vae")
    b.link(4, 0, 22, "")
    b.link(22, 0, 3, "model")
    b.link(3, 0, 8, "samples")
    b.link(8, 0, 9, "images")
    return b.workflow()


def bypass_case(info: dict[str, Any]) -> dict[str, Any]:
    """Bypassed nodes: each consumer is rewired to the bypassed node's input of its type."""
    b = Builder(info)
    txt2img(b)
    b.node(10, "LatentUpscale", ["nearest-exact", 256, 256, "disabled"], mode=4)
    b.node(11, "ImageInvert", [], mode=4)
    b.node(12, "CLIPSetLastLayer", [-2], mode=4)
    b.link(4, 0, 3, "model")
    b.link(3, 0, 10, "samples")
    b.link(10, 0, 8, "samples")
    b.link(4, 2, 8, "vae")
    b.link(8, 0, 11, "image")
    b.link(11, 0, 9, "images")
    # CLIP into the bypassed CLIPSetLastLayer, its output into a third encoder.
    b.node(13, "CLIPTextEncode", ["unused"])
    b.link(4, 1, 12, "clip")
    b.link(12, 0, 13, "clip")
    return b.workflow()


def muted_case(info: dict[str, Any]) -> dict[str, Any]:
    """Muted nodes vanish, and inputs they fed are left out."""
    b = Builder(info)
    txt2img(b, muted_negative=True)
    b.node(10, "PreviewImage", [], mode=2)
    b.link(4, 0, 3, "model")
    b.link(3, 0, 8, "samples")
    b.link(4, 2, 8, "vae")
    b.link(8, 0, 9, "images")
    b.link(8, 0, 10, "images")
    return b.workflow()


def converted_widget_case(info: dict[str, Any]) -> dict[str, Any]:
    """Widgets converted to inputs and fed by nodes; their stale values keep their slots."""
    b = Builder(info)
    txt2img(b)
    b.node(10, "PrimitiveInt", [1234, "fixed"])
    b.frontend(11, "PrimitiveNode", "INT", [20, "increment"])
    b.node(12, "PrimitiveString", ["a blue square"])
    b.node(13, "IntMath", [64, 64, "add"])
    b.link(10, 0, 3, "seed")
    b.link(11, 0, 3, "steps")
    b.link(12, 0, 6, "text")
    b.link(4, 0, 3, "model")
    b.link(3, 0, 8, "samples")
    b.link(4, 2, 8, "vae")
    b.link(8, 0, 9, "images")
    # An old-frontend EmptyLatentImage: only the converted widget appears in its inputs.
    latent = b.node(14, "EmptyLatentImage", [512, 96, 2], modern=False)
    latent["inputs"].append(
        {
            "name": "width",
            "type": "INT",
            "link": None,
            "widget": {"name": "width", "config": ["INT", {"default": 512, "min": 16}]},
        }
    )
    b.link(13, 0, 14, "width")
    return b.workflow()


def note_case(info: dict[str, Any]) -> dict[str, Any]:
    """Notes and groups are editor furniture: the prompt is plain txt2img."""
    b = Builder(info)
    txt2img(b, modern=False)
    b.frontend(10, "Note", None, ["Remember: tiny models only."])
    b.frontend(11, "MarkdownNote", None, ["# Heading\n\n*markdown*"])
    b.link(4, 0, 3, "model")
    b.link(3, 0, 8, "samples")
    b.link(4, 2, 8, "vae")
    b.link(8, 0, 9, "images")
    b.groups.append(
        {"title": "Prompts", "bounding": [380, 40, 400, 500], "color": "#3f789e", "font_size": 24}
    )
    return b.workflow()


def controls_case(info: dict[str, Any]) -> dict[str, Any]:
    """Control values after seeds (modern, legacy bool, absent) and upload button values."""
    b = Builder(info)
    b.node(4, "CheckpointLoaderSimple", ["tiny-sd1.safetensors"])
    b.node(6, "CLIPTextEncode", ["a red circle"])
    b.node(7, "CLIPTextEncode", ["blurry"])
    b.node(10, "LoadImage", ["example.png", "image"])
    b.node(11, "VAEEncode", [])
    b.node(
        12,
        "KSamplerAdvanced",
        ["enable", 777, "increment", 10, 6.0, "euler", "karras", 2, 10, "disable"],
    )
    b.node(8, "VAEDecode", [])
    b.node(9, "SaveImage", ["controls"])
    # Old-frontend KSamplers: a legacy boolean "random" toggle, and no control value at all.
    b.node(13, "KSampler", [5, True, 15, 8.0, "euler", "normal", 0.75], modern=False)
    b.node(14, "KSampler", [6, 16, 7.0, "heun", "karras", 0.5], modern=False)
    b.node(15, "PrimitiveInt", [-3, "decrement"])
    # The upload button value missing: "red" is the channel, not a button value.
    b.node(16, "LoadImageMask", ["example.png", "red"])
    for origin, slot, target, name in [
        (4, 1, 6, "clip"),
        (4, 1, 7, "clip"),
        (10, 0, 11, "pixels"),
        (4, 2, 11, "vae"),
        (4, 0, 12, "model"),
        (6, 0, 12, "positive"),
        (7, 0, 12, "negative"),
        (11, 0, 12, "latent_image"),
        (12, 0, 8, "samples"),
        (4, 2, 8, "vae"),
        (8, 0, 9, "images"),
        (4, 0, 13, "model"),
        (6, 0, 13, "positive"),
        (7, 0, 13, "negative"),
        (11, 0, 13, "latent_image"),
        (4, 0, 14, "model"),
        (6, 0, 14, "positive"),
        (7, 0, 14, "negative"),
        (13, 0, 14, "latent_image"),
    ]:
        b.link(origin, slot, target, name)
    return b.workflow()


def unknown_case(info: dict[str, Any]) -> dict[str, Any]:
    """A missing custom node is kept, with its links and dict widget values."""
    b = Builder(info)
    txt2img(b)
    b.link(4, 0, 3, "model")
    b.link(3, 0, 8, "samples")
    b.link(4, 2, 8, "vae")
    b.unknown(
        20,
        "FancyUpscaler",
        [("image", "IMAGE"), ("model", "UPSCALE_MODEL")],
        ["IMAGE"],
        {"scale": 2, "mode": "fast", "sizes": [1, 2]},
    )
    b.unknown(21, "OtherCustom", [("image", "IMAGE")], ["IMAGE"], ["positional", 3])
    b.link(8, 0, 20, "image")
    b.link(20, 0, 21, "image")
    b.link(21, 0, 9, "images")
    return b.workflow()


def v1_case(info: dict[str, Any]) -> dict[str, Any]:
    """The reroute case saved by a recent frontend: schema 1, link objects, native reroutes."""
    wf = reroute_case(info)
    links = [
        dict(
            zip(
                ("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"),
                row,
                strict=True,
            )
        )
        for row in wf.pop("links")
    ]
    links[4]["parentId"] = 1  # a native (link-midpoint) reroute on the KSampler's positive
    return {
        "id": "3f2c8a52-6a4e-4c1e-9a55-0a9a4b9b0c11",
        "revision": 0,
        "version": 1,
        "state": {
            "lastGroupId": 0,
            "lastNodeId": wf.pop("last_node_id"),
            "lastLinkId": wf.pop("last_link_id"),
            "lastRerouteId": 1,
        },
        "nodes": wf.pop("nodes"),
        "links": links,
        "reroutes": [{"id": 1, "pos": [760, 150], "linkIds": [5]}],
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 1, "offset": [0, 0]}, "frontendVersion": "1.21.7"},
    }


CASES = {
    "reroute": reroute_case,
    "bypass": bypass_case,
    "muted": muted_case,
    "converted_widget": converted_widget_case,
    "note": note_case,
    "controls": controls_case,
    "unknown": unknown_case,
    "v1": v1_case,
}


def workflows(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every UI workflow the node tests convert, by fixture name."""
    result = {"txt2img": json.loads((REPO / "workflows" / "txt2img.ui.json").read_text("utf-8"))}
    for name, build in CASES.items():
        result[name] = build(info)
    for name in ENGINE_CASES:
        path = ENGINE_FIXTURES / f"{name}.json"
        result[f"engine_{name}"] = json.loads(path.read_text("utf-8"))
    return result


def png_with_workflow(workflow: dict[str, Any], prompt: dict[str, Any]) -> bytes:
    """A PNG as SaveImage writes it, plus compressed and UTF-8 chunks for the reader's sake."""
    meta = PngInfo()
    meta.add_text("prompt", json.dumps(prompt))
    meta.add_text("workflow", json.dumps(workflow))
    meta.add_text("comment", "café au lait")  # latin-1 tEXt
    meta.add_text("zipped", "compressed text " * 8, zip=True)  # zTXt
    meta.add_itxt("unicode", "snow ☃ man")
    meta.add_itxt("unicode_zipped", "zipped ☃ " * 8, zip=True)
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG", pnginfo=meta, compress_level=4)
    return out.getvalue()


def build() -> dict[str, str | bytes]:
    """Every fixture file by name under tests/web/fixtures (text as str, the PNG as bytes)."""
    # Empty folders, so the object_info does not depend on this machine's models and inputs.
    with tempfile.TemporaryDirectory(prefix="web-fixtures-") as folder:
        engine = Engine(Settings(base_dir=Path(folder)))
        return _build(engine)


def _build(engine: Engine) -> dict[str, str | bytes]:
    registry_info = engine.object_info()
    cases = workflows(registry_info)
    used = sorted({n["type"] for wf in cases.values() for n in wf["nodes"]} & set(registry_info))
    info = {name: copy.deepcopy(registry_info[name]) for name in used}
    for (class_type, input_name), choices in PINNED_CHOICES.items():
        if class_type in info:
            spec = info[class_type]["input"]["required"][input_name]
            spec[0] = choices
    files: dict[str, str | bytes] = {"object_info.json": dump(info)}
    for name, wf in cases.items():
        files[f"{name}.ui.json"] = dump(wf)
        files[f"{name}.expected.json"] = dump(engine.to_api(copy.deepcopy(wf)))
    prompt = engine.to_api(copy.deepcopy(cases["txt2img"]))
    files["with_workflow.png"] = png_with_workflow(cases["txt2img"], prompt)
    return files


def main() -> None:
    FIXTURES.mkdir(exist_ok=True)
    files = build()
    for stale in FIXTURES.iterdir():
        if stale.name not in files:
            stale.unlink()
    for name, content in files.items():
        path = FIXTURES / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, "utf-8")
    print(f"wrote {len(files)} files to {FIXTURES.relative_to(REPO)}")


if __name__ == "__main__":
    main()
