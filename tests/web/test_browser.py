"""The editor in a real browser against a live `nodegraph serve` (tiny models).

Edits go through the real mouse and keyboard: double-click search, socket-to-socket drags
(positions from the canvas' `nodeSocketPos` hook), widget editing, shortcuts, the file input and
a dropped PNG. Only the setup of a scene and the checks read `window.nodegraph` directly.
Every test saves screenshots (see conftest.py) to look at when something fails.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from nodegraph.ui_workflow import ui_to_api

REPO = Path(__file__).resolve().parents[2]
Shot = Callable[[str], Path]
Point = tuple[float, float]
RUN_TIMEOUT_MS = 120_000

SEARCH_QUERIES = {
    "CheckpointLoaderSimple": "load checkpoint",
    "CLIPTextEncode": "clip text encode",
    "EmptyLatentImage": "empty latent",
    "KSampler": "ksampler",
    "VAEDecode": "vae decode",
    "SaveImage": "save image",
}
"""What a user would type to find each node of txt2img."""


# -- helpers -------------------------------------------------------------------------------------


def open_editor(page: Page, url: str) -> None:
    """Load the editor and wait until it is ready."""
    page.goto(url)
    wait_ready(page)


def wait_ready(page: Page) -> None:
    """Wait until definitions, the workflow and the websocket are ready."""
    page.wait_for_function("() => window.nodegraph !== undefined")
    page.evaluate("() => window.nodegraph.ready")
    page.wait_for_function("() => window.nodegraph.api.connected")


def graph(page: Page) -> dict[str, Any]:
    """A copy of the workflow the editor holds."""
    result: dict[str, Any] = page.evaluate("() => window.nodegraph.graph()")
    return result


def node(page: Page, node_id: int) -> dict[str, Any]:
    found = [n for n in graph(page)["nodes"] if n["id"] == node_id]
    assert found, f"node {node_id} is not in the graph"
    return found[0]


def nodes_of(page: Page, node_type: str) -> list[dict[str, Any]]:
    return [n for n in graph(page)["nodes"] if n["type"] == node_type]


def runtime(page: Page, node_id: int) -> dict[str, Any] | None:
    """The runtime state of a node (running, progress, cached, error, images), without the
    preview bitmap."""
    state: dict[str, Any] | None = page.evaluate(
        "(id) => { const s = window.nodegraph.canvas.stateOf(id);"
        " return s && {...s, preview: Boolean(s.preview)}; }",
        node_id,
    )
    return state


def input_slot(node_json: dict[str, Any], name: str) -> int:
    """Index of an input by name in node.inputs (every declared input is there)."""
    for index, entry in enumerate(node_json["inputs"]):
        if entry["name"] == name:
            return index
    raise AssertionError(f"{node_json['type']} has no input {name!r}")


def socket(page: Page, node_id: int, direction: str, slot: int) -> Point:
    """Client position of a socket, as page.mouse uses."""
    position = page.evaluate(
        "([id, dir, slot]) => window.nodegraph.canvas.nodeSocketPos(id, dir, slot)",
        [node_id, direction, slot],
    )
    assert position, f"no {direction} socket {slot} on node {node_id}"
    return float(position[0]), float(position[1])


def rect_center(page: Page, js_rect: str, *args: Any) -> Point:
    rect = page.evaluate(js_rect, list(args))
    assert rect, f"{js_rect} gave nothing for {args}"
    return rect["x"] + rect["w"] / 2, rect["y"] + rect["h"] / 2


def widget_center(page: Page, node_id: int, name: str) -> Point:
    return rect_center(
        page, "([id, name]) => window.nodegraph.canvas.widgetRect(id, name)", node_id, name
    )


def title_point(page: Page, node_id: int) -> Point:
    """A point on a node's title bar, clear of the collapse toggle at its left."""
    rect = page.evaluate("(id) => window.nodegraph.canvas.titleRect(id)", node_id)
    return rect["x"] + rect["w"] * 0.6, rect["y"] + rect["h"] / 2


def drag(page: Page, start: Point, end: Point, steps: int = 12) -> None:
    """Press at start, move to end in steps, release: a real mouse drag."""
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=steps)
    page.mouse.up()


def link_between(
    page: Page, origin: int, origin_slot: int, target: int, target_slot: int
) -> list[Any] | None:
    for link in graph(page)["links"]:
        if link[1:5] == [origin, origin_slot, target, target_slot]:
            return list(link)
    return None


def connect(page: Page, origin: int, output: int, target: int, input_name: str) -> None:
    """Drag from an output socket to the named input socket and check the link exists."""
    slot = input_slot(node(page, target), input_name)
    drag(page, socket(page, origin, "output", output), socket(page, target, "input", slot))
    assert link_between(page, origin, output, target, slot), (
        f"dragging {origin}:{output} onto {target}.{input_name} made no link"
    )


def canvas_box(page: Page) -> dict[str, float]:
    box = page.locator("#graph-canvas").bounding_box()
    assert box is not None
    return box


def add_node_by_search(page: Page, node_type: str, at: Point) -> int:
    """Double-click empty canvas at a client point, type a query, Enter; the new node's id."""
    before = {n["id"] for n in graph(page)["nodes"]}
    page.mouse.dblclick(*at)
    expect(page.locator("#search-dialog")).to_be_visible()
    page.keyboard.type(SEARCH_QUERIES.get(node_type, node_type), delay=15)
    expect(page.locator(".search-result").first).to_have_attribute("data-type", node_type)
    page.keyboard.press("Enter")
    expect(page.locator("#search-dialog")).to_have_count(0)
    added = [n for n in graph(page)["nodes"] if n["id"] not in before]
    assert [n["type"] for n in added] == [node_type]
    return int(added[0]["id"])


def set_number(page: Page, node_id: int, name: str, value: float) -> None:
    """Click a number widget's middle (opens the inline editor), type a value, Enter."""
    page.mouse.click(*widget_center(page, node_id, name))
    editor = page.locator(".prompt-input")
    expect(editor).to_be_focused()
    editor.fill(str(value))
    editor.press("Enter")
    expect(editor).to_have_count(0)


def widget_value(page: Page, node_id: int, name: str) -> Any:
    """The value of a widget as the node shows it (its row's slot in widgets_values)."""
    return page.evaluate(
        """([id, name]) => {
        const canvas = window.nodegraph.canvas;
        const node = canvas.nodeById(id);
        const row = canvas.layoutOf(node).widgets.find((r) => r.name === name);
        return row ? node.widgets_values[row.valueIndex] : undefined;
      }""",
        [node_id, name],
    )


def record_events(page: Page) -> None:
    """Keep the websocket events the editor receives in window.__events, and the runtime state
    changes of nodes in window.__states (a run on the tiny models is too quick to poll)."""
    page.evaluate(
        """() => {
        const canvas = window.nodegraph.canvas;
        const setState = canvas.setState.bind(canvas);
        window.__states = [];
        canvas.setState = (id, patch) => {
          window.__states.push([String(id), {...patch, preview: Boolean(patch.preview)}]);
          return setState(id, patch);
        };
        window.__events = [];
        for (const type of ['execution_start', 'executing', 'progress', 'executed',
                            'execution_cached', 'execution_success', 'execution_error']) {
          window.nodegraph.api.on(type, (data) => window.__events.push({type, data}));
        }
      }"""
    )


def events(page: Page, event_type: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "(type) => window.__events.filter((e) => e.type === type).map((e) => e.data)", event_type
    )
    return found


def states(page: Page, node_id: int) -> list[dict[str, Any]]:
    """The runtime state patches a node received since record_events, in order."""
    found: list[dict[str, Any]] = page.evaluate(
        "(id) => window.__states.filter(([node]) => node === String(id)).map(([, p]) => p)",
        node_id,
    )
    return found


def http_json(url: str, body: Any | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_history(live_server: str, prompt_id: str, timeout: float = 120.0) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = http_json(f"{live_server}/history/{prompt_id}")
        if entry:
            result: dict[str, Any] = entry[prompt_id]
            return result
        time.sleep(0.25)
    raise AssertionError(f"prompt {prompt_id} did not finish in {timeout}s")


def ui_workflow() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO / "workflows" / "txt2img.ui.json").read_text())
    return data


# -- (a) build txt2img from an empty canvas, queue, see it run ---------------------------------


def test_build_txt2img_and_run(page: Page, live_server: str, screenshot: Shot) -> None:
    open_editor(page, live_server)
    screenshot("default")
    page.click("#clear-button")
    assert graph(page)["nodes"] == []
    # a known view, so the layout below fits the window (pan/zoom are tested by hand)
    page.evaluate(
        "() => { const c = window.nodegraph.canvas;"
        " c.ds.scale = 1; c.ds.offset = [0, 0]; c.markDirty(); }"
    )
    box = canvas_box(page)

    def at(x: float, y: float) -> Point:
        return box["x"] + x, box["y"] + y

    ckpt = add_node_by_search(page, "CheckpointLoaderSimple", at(40, 120))
    positive = add_node_by_search(page, "CLIPTextEncode", at(320, 60))
    negative = add_node_by_search(page, "CLIPTextEncode", at(320, 250))
    latent = add_node_by_search(page, "EmptyLatentImage", at(320, 440))
    sampler = add_node_by_search(page, "KSampler", at(620, 80))
    decode = add_node_by_search(page, "VAEDecode", at(900, 80))
    save = add_node_by_search(page, "SaveImage", at(900, 230))
    screenshot("nodes-added")

    connect(page, ckpt, 0, sampler, "model")
    connect(page, ckpt, 1, positive, "clip")
    connect(page, ckpt, 1, negative, "clip")
    connect(page, positive, 0, sampler, "positive")
    connect(page, negative, 0, sampler, "negative")
    connect(page, latent, 0, sampler, "latent_image")
    connect(page, sampler, 0, decode, "samples")
    connect(page, ckpt, 2, decode, "vae")
    connect(page, decode, 0, save, "images")
    assert len(graph(page)["links"]) == 9

    # widgets, through their editors
    checkpoint = widget_value(page, ckpt, "ckpt_name")
    if checkpoint != "tiny-sd1.safetensors":
        page.mouse.click(*widget_center(page, ckpt, "ckpt_name"))
        page.locator(".combo-filter").fill("tiny-sd1.safe")
        page.locator(".combo-filter").press("Enter")
        assert widget_value(page, ckpt, "ckpt_name") == "tiny-sd1.safetensors"
    text = page.locator(f'textarea.node-textarea[data-node-id="{positive}"][data-widget="text"]')
    text.click()
    page.keyboard.type("a red circle on a blue background")
    set_number(page, latent, "width", 128)
    set_number(page, latent, "height", 128)
    set_number(page, sampler, "steps", 6)
    assert widget_value(page, positive, "text") == "a red circle on a blue background"
    assert [widget_value(page, latent, w) for w in ("width", "height")] == [128, 128]
    assert widget_value(page, sampler, "steps") == 6
    screenshot("wired")

    record_events(page)
    page.click("#queue-button")
    page.wait_for_function(
        "(id) => window.__states.some(([node, patch]) => node === String(id) && patch.progress)",
        arg=sampler,
        timeout=RUN_TIMEOUT_MS,
    )
    screenshot("running")
    page.wait_for_function(
        "(id) => (window.nodegraph.canvas.stateOf(id)?.images || []).length > 0",
        arg=save,
        timeout=RUN_TIMEOUT_MS,
    )
    # the sampler was marked running, then showed its progress, then was unmarked
    marks = states(page, sampler)
    running = [i for i, patch in enumerate(marks) if patch.get("running") is True]
    stopped = [i for i, patch in enumerate(marks) if patch.get("running") is False]
    assert running and stopped and running[0] < stopped[-1]
    assert [6, 6] in [patch.get("progress") for patch in marks]
    progress = events(page, "progress")
    assert progress and progress[-1]["max"] == 6
    ran = {str(e["node"]) for e in events(page, "executing") if e["node"]}
    cached = {str(i) for e in events(page, "execution_cached") for i in e["nodes"]}
    assert ran | cached == {
        str(i) for i in (ckpt, positive, negative, latent, sampler, decode, save)
    }
    assert {str(sampler), str(decode), str(save)} <= ran
    state = runtime(page, save)
    assert state and not state["running"]
    image = state["images"][0]
    assert image["type"] == "output" and image["filename"].endswith(".png")
    view = page.request.get(
        f"{live_server}/view",
        params={"filename": image["filename"], "subfolder": image["subfolder"], "type": "output"},
    )
    assert view.status == 200 and view.headers["content-type"] == "image/png"
    # the SaveImage node shows it: its <img> is loaded for the canvas
    page.wait_for_function(
        "(name) => [...window.nodegraph.canvas.imageCache].some(([url, img]) =>"
        " url.includes(encodeURIComponent(name)) && img.complete && img.naturalWidth === 128)",
        arg=image["filename"],
    )
    page.wait_for_timeout(300)
    screenshot("finished")


# -- (b) loading: UI JSON through the file input, a PNG with its workflow dropped -------------


def test_load_ui_json_through_file_input(page: Page, live_server: str, screenshot: Shot) -> None:
    open_editor(page, live_server)
    page.set_input_files("#load-input", str(REPO / "workflows" / "txt2img.ui.json"))
    expected = ui_workflow()
    page.wait_for_function(
        "(n) => window.nodegraph.graph().nodes.some((node) => node.widgets_values?.[0] === n)",
        arg=expected["nodes"][1]["widgets_values"][0],
    )
    loaded = graph(page)
    assert sorted((n["id"], n["type"]) for n in loaded["nodes"]) == sorted(
        (n["id"], n["type"]) for n in expected["nodes"]
    )
    assert len(loaded["links"]) == len(expected["links"])
    assert page.locator("#missing-summary").count() == 0
    screenshot("loaded")

    # the editor's API export is what the Python converter makes of the same file
    object_info = http_json(f"{live_server}/object_info")
    with page.expect_download() as download_info:
        page.click("#export-api-button")
    exported = json.loads(Path(download_info.value.path()).read_text())
    assert exported == ui_to_api(expected, object_info.get)


def test_drop_png_with_workflow(page: Page, live_server: str, screenshot: Shot) -> None:
    workflow = ui_workflow()
    marker = "a png-embedded workflow"
    for entry in workflow["nodes"]:
        if entry["id"] == 6:
            entry["widgets_values"][0] = marker
    object_info = http_json(f"{live_server}/object_info")
    prompt = ui_to_api(workflow, object_info.get)
    queued = http_json(
        f"{live_server}/prompt",
        {"prompt": prompt, "extra_data": {"extra_pnginfo": {"workflow": workflow}}},
    )
    entry = wait_history(live_server, queued["prompt_id"])
    image = entry["outputs"]["9"]["images"][0]

    open_editor(page, live_server)
    box = canvas_box(page)
    page.evaluate(
        """async ([image, x, y]) => {
        const api = window.nodegraph.api;
        const bytes = await (await fetch(api.viewUrl(image))).arrayBuffer();
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], image.filename, {type: 'image/png'}));
        const target = document.getElementById('graph-canvas');
        for (const type of ['dragenter', 'dragover', 'drop']) {
          target.dispatchEvent(new DragEvent(type, {
            bubbles: true, cancelable: true, dataTransfer: transfer, clientX: x, clientY: y}));
        }
      }""",
        [image, box["x"] + 5, box["y"] + box["height"] - 5],
    )
    page.wait_for_function(
        "(text) => window.nodegraph.graph().nodes.some((n) => n.widgets_values?.[0] === text)",
        arg=marker,
    )
    loaded = graph(page)
    assert sorted(n["type"] for n in loaded["nodes"]) == sorted(
        n["type"] for n in workflow["nodes"]
    )
    assert len(loaded["links"]) == len(workflow["links"])
    screenshot("dropped")


# -- (c) a type mismatch is refused ------------------------------------------------------------


def test_type_mismatch_refused(page: Page, live_server: str, screenshot: Shot) -> None:
    open_editor(page, live_server)
    (ckpt,) = nodes_of(page, "CheckpointLoaderSimple")
    encoder = nodes_of(page, "CLIPTextEncode")[0]
    before = graph(page)["links"]
    clip_slot = input_slot(encoder, "clip")
    drag(
        page, socket(page, ckpt["id"], "output", 0), socket(page, encoder["id"], "input", clip_slot)
    )
    expect(page.locator(".toast.warn")).to_be_visible()
    expect(page.locator(".toast.warn").first).to_contain_text("MODEL")
    screenshot("refused")
    assert graph(page)["links"] == before
    assert link_between(page, ckpt["id"], 0, encoder["id"], clip_slot) is None


# -- (d) undo / redo ---------------------------------------------------------------------------


def test_undo_redo(page: Page, live_server: str, screenshot: Shot) -> None:
    open_editor(page, live_server)
    count = len(graph(page)["nodes"])
    box = canvas_box(page)
    spot = empty_spot(page, box)
    added = add_node_by_search(page, "VAEDecode", spot)
    assert len(graph(page)["nodes"]) == count + 1
    screenshot("added")

    page.locator("#graph-canvas").focus()
    page.keyboard.press("Control+z")
    assert added not in [n["id"] for n in graph(page)["nodes"]]
    assert len(graph(page)["nodes"]) == count
    screenshot("undone")
    page.keyboard.press("Control+y")
    assert added in [n["id"] for n in graph(page)["nodes"]]
    screenshot("redone")

    # moving a node is one edit; undo puts it back
    (sampler,) = nodes_of(page, "KSampler")
    start = title_point(page, sampler["id"])
    drag(page, start, (start[0] + 60, start[1] + 45))
    moved = node(page, sampler["id"])["pos"]
    assert moved != sampler["pos"]
    screenshot("moved")
    page.keyboard.press("Control+z")
    assert node(page, sampler["id"])["pos"] == sampler["pos"]
    assert added in [n["id"] for n in graph(page)["nodes"]]  # only the move was undone
    page.keyboard.press("Control+Shift+z")
    assert node(page, sampler["id"])["pos"] == moved


def empty_spot(page: Page, box: dict[str, float]) -> Point:
    """A client point with room for a new node: no node under a 260x200 area from it."""
    spot: list[float] | None = page.evaluate(
        """([x0, y0, w, h]) => {
        const canvas = window.nodegraph.canvas;
        const free = (x, y) => !canvas.nodeAt(canvas.toCanvas(x, y));
        for (let y = y0 + h - 240; y > y0 + 60; y -= 37) {
          for (let x = x0 + 40; x < x0 + w - 300; x += 53) {
            let clear = true;
            for (let dx = -20; dx <= 260 && clear; dx += 20) {
              for (let dy = -50; dy <= 200 && clear; dy += 25) clear = free(x + dx, y + dy);
            }
            if (clear) return [x, y];
          }
        }
        return null;
      }""",
        [box["x"], box["y"], box["width"], box["height"]],
    )
    assert spot, "no empty spot on the canvas"
    return spot[0], spot[1]


# -- (e) validation errors land on the node ----------------------------------------------------


def test_validation_error_on_node(
    page: Page, live_server: str, screenshot: Shot, console: Any
) -> None:
    console.allow(r"status of 400")  # the refused POST /prompt, logged by the browser
    open_editor(page, live_server)
    (ckpt,) = nodes_of(page, "CheckpointLoaderSimple")
    # a checkpoint that is not (or no longer) on the server, as in a workflow from elsewhere
    page.evaluate(
        "(id) => { const n = window.nodegraph.graph().nodes.find((n) => n.id === id);"
        " n.widgets_values[0] = 'gone.safetensors'; window.nodegraph.canvas.markDirty(); }",
        ckpt["id"],
    )
    page.click("#queue-button")
    expect(page.locator(".toast.error")).to_be_visible()
    page.wait_for_function(
        "(id) => window.nodegraph.canvas.stateOf(id)?.error", arg=ckpt["id"], timeout=10_000
    )
    state = runtime(page, ckpt["id"])
    assert state and state["error"]
    assert "ckpt_name" in state["error"]["inputs"]
    assert "gone.safetensors" in state["error"]["message"] or "not in" in state["error"]["message"]
    others = [n["id"] for n in graph(page)["nodes"] if n["id"] != ckpt["id"]]
    assert all(not (runtime(page, i) or {}).get("error") for i in others)
    screenshot("validation-error")


# -- the workflow survives a reload ------------------------------------------------------------


def test_workflow_kept_across_reload(page: Page, live_server: str, screenshot: Shot) -> None:
    open_editor(page, live_server)
    added = add_node_by_search(page, "VAEDecode", empty_spot(page, canvas_box(page)))
    before = graph(page)
    page.reload()
    wait_ready(page)
    after = graph(page)
    assert [n["id"] for n in after["nodes"]] == [n["id"] for n in before["nodes"]]
    assert added in [n["id"] for n in after["nodes"]]
    screenshot("reloaded")


def test_reload_during_startup_keeps_workflow(page: Page, live_server: str) -> None:
    """Leaving the page before it has restored the saved workflow must not overwrite it."""
    open_editor(page, live_server)
    added = add_node_by_search(page, "VAEDecode", empty_spot(page, canvas_box(page)))
    held: list[Any] = []

    def hold_first(route: Any) -> None:  # the next start hangs on its definitions
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/object_info", hold_first)
    page.reload(wait_until="domcontentloaded")
    page.wait_for_function("() => window.nodegraph !== undefined")
    page.wait_for_timeout(300)
    assert held and graph(page)["nodes"] == []  # still starting
    page.reload()  # leaves the half-started page: its unload must not save its empty graph
    wait_ready(page)
    assert added in [n["id"] for n in graph(page)["nodes"]]


# -- batch queueing, cached nodes, the queue panel -------------------------------------------


def test_batch_queue_and_panel(page: Page, live_server: str, screenshot: Shot) -> None:
    open_editor(page, live_server)
    (sampler,) = nodes_of(page, "KSampler")
    (ckpt,) = nodes_of(page, "CheckpointLoaderSimple")
    known = set(http_json(f"{live_server}/history"))
    record_events(page)
    page.click("#queue-panel-button")
    expect(page.locator("#queue-panel")).to_be_visible()
    page.fill("#batch-count", "3")
    page.click("#queue-button")
    page.wait_for_function(
        "() => window.__events.filter((e) => e.type === 'execution_success').length === 3",
        timeout=RUN_TIMEOUT_MS,
    )
    history = http_json(f"{live_server}/history")
    ours = [entry for prompt_id, entry in history.items() if prompt_id not in known]
    assert len(ours) == 3
    seeds = {entry["prompt"][2][str(sampler["id"])]["inputs"]["seed"] for entry in ours}
    assert len(seeds) == 3, "control_after_generate (randomize) gives each queued run a seed"
    # later runs reuse the loaded checkpoint: the editor marks it cached
    assert any(patch.get("cached") for patch in states(page, ckpt["id"]))
    rows = page.locator("#queue-panel .history-item")
    expect(rows).to_have_count(min(50, len(history)))
    expect(rows.first.locator(".queue-thumb")).to_have_count(1)
    screenshot("panel")
    first_id = rows.first.get_attribute("data-prompt-id")
    rows.first.locator(".history-delete").click()
    expect(page.locator(f'#queue-panel .history-item[data-prompt-id="{first_id}"]')).to_have_count(
        0
    )
    assert first_id not in http_json(f"{live_server}/history")
