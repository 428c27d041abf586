"""Editing features of the canvas editor in a real browser against a live `nodegraph serve`.

The companion of test_browser.py (whose helpers these tests share): missing node types, copy and
paste, reroutes, groups, combo search, widget/input conversion, the category menu, LoadImage
uploads, live sampling previews and loading a workflow back from the queue panel's history.
Edits go through the real mouse and keyboard; only scene setup and checks read
`window.nodegraph` directly. Every test saves screenshots (see conftest.py).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from nodegraph.ui_workflow import ui_to_api
from tests.web.test_browser import (
    RUN_TIMEOUT_MS,
    add_node_by_search,
    canvas_box,
    connect,
    drag,
    empty_spot,
    events,
    graph,
    http_json,
    input_slot,
    node,
    nodes_of,
    open_editor,
    record_events,
    runtime,
    set_number,
    socket,
    title_point,
    ui_workflow,
    widget_center,
    widget_value,
)

REPO = Path(__file__).resolve().parents[2]
Shot = Callable[[str], Path]
Point = tuple[float, float]
PREVIEW_STEPS = 8
"""Sampler steps of the preview run: a preview per step, few steps so the run stays short."""


# -- helpers -------------------------------------------------------------------------------------


def node_rect(page: Page, node_id: int) -> dict[str, float]:
    """Client rectangle {x, y, w, h} of a whole node, title bar included."""
    rect: dict[str, float] | None = page.evaluate(
        """(id) => {
        const c = window.nodegraph.canvas;
        const n = c.nodeById(id);
        if (!n) return null;
        const L = c.layoutOf(n);
        const top = L.title ? L.title.y : L.y;
        return c.rowScreenRect({x: L.x, y: top, w: L.w, h: L.y + L.h - top});
      }""",
        node_id,
    )
    assert rect, f"node {node_id} is not on the canvas"
    return rect


def hit(page: Page, point: Point) -> dict[str, Any]:
    """What the canvas has under a client point (canvas.hitAt)."""
    found: dict[str, Any] = page.evaluate(
        "([x, y]) => window.nodegraph.canvas.hitAt(x, y)", [point[0], point[1]]
    )
    return found


def to_canvas(page: Page, point: Point) -> list[float]:
    result: list[float] = page.evaluate(
        "([x, y]) => window.nodegraph.canvas.toCanvas(x, y)", [point[0], point[1]]
    )
    return result


def selected(page: Page) -> set[int]:
    return set(page.evaluate("() => [...window.nodegraph.canvas.selected]"))


def exported_prompt(page: Page) -> dict[str, Any]:
    """Click "Export API" and read the downloaded prompt."""
    with page.expect_download() as download_info:
        page.click("#export-api-button")
    prompt: dict[str, Any] = json.loads(Path(download_info.value.path()).read_text())
    return prompt


def node_menu(page: Page, node_id: int) -> None:
    """Right-click a node's title bar and wait for its context menu."""
    page.mouse.click(*title_point(page, node_id), button="right")
    expect(page.locator(".context-menu").first).to_be_visible()


def pick_submenu(page: Page, parent_id: str, item_id: str) -> None:
    """Hover a menu item with a submenu, then click an item of that submenu."""
    page.locator(f'.context-menu[data-level="0"] .menu-item[data-id="{parent_id}"]').hover()
    page.locator(f'.context-menu[data-level="1"] .menu-item[data-id="{item_id}"]').click()
    expect(page.locator(".context-menu")).to_have_count(0)


def new_nodes(page: Page, before: set[int]) -> list[dict[str, Any]]:
    return [n for n in graph(page)["nodes"] if n["id"] not in before]


def node_ids(page: Page) -> set[int]:
    return {n["id"] for n in graph(page)["nodes"]}


# -- 1. unknown node types are kept and reported -----------------------------------------------


def test_missing_node_type_kept_and_reported(
    page: Page, live_server: str, screenshot: Shot, console: Any, tmp_path: Path
) -> None:
    console.allow(r"status of 400")  # the refused POST /prompt
    workflow = ui_workflow()
    decode = next(n for n in workflow["nodes"] if n["type"] == "VAEDecode")
    decode["outputs"][0]["links"].append(10)
    workflow["nodes"].append(
        {
            "id": 10,
            "type": "NoSuchNode",
            "pos": [30, 420],
            "size": [260, 110],
            "flags": {},
            "order": 7,
            "mode": 0,
            "inputs": [{"name": "image", "type": "IMAGE", "link": 10}],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [], "slot_index": 0}],
            "properties": {"Node name for S&R": "NoSuchNode"},
            "widgets_values": [7, "mystery"],
        }
    )
    workflow["links"].append([10, decode["id"], 0, 10, 0, "IMAGE"])
    workflow["last_node_id"] = 10
    workflow["last_link_id"] = 10
    path = tmp_path / "with_missing.json"
    path.write_text(json.dumps(workflow))

    open_editor(page, live_server)
    page.set_input_files("#load-input", str(path))
    page.wait_for_function(
        "() => window.nodegraph.graph().nodes.some((n) => n.type === 'NoSuchNode')"
    )
    summary = page.locator("#missing-summary")
    expect(summary).to_be_visible()
    expect(summary.locator("li")).to_have_text(["NoSuchNode"])
    loaded = graph(page)
    assert sorted(n["id"] for n in loaded["nodes"]) == sorted(n["id"] for n in workflow["nodes"])
    missing = node(page, 10)
    assert missing["widgets_values"] == [7, "mystery"]  # kept untouched
    assert [10, decode["id"], 0, 10, 0, "IMAGE"] in loaded["links"]
    assert page.evaluate("() => window.nodegraph.canvas.isMissing({type: 'NoSuchNode'})")
    screenshot("loaded")

    # the API export keeps the node (the server is the one to name it), as the Python converter
    prompt = exported_prompt(page)
    assert prompt["10"]["class_type"] == "NoSuchNode"
    assert prompt["10"]["inputs"] == {"image": [str(decode["id"]), 0]}
    object_info = http_json(f"{live_server}/object_info")
    assert prompt == ui_to_api(workflow, object_info.get)

    # queueing is refused by the server, which names the type; the editor marks the node
    page.click("#missing-summary button")
    expect(summary).to_have_count(0)
    page.click("#queue-button")
    error = page.locator(".toast.error")
    expect(error).to_be_visible()
    expect(error.first).to_contain_text("NoSuchNode")
    page.wait_for_function("() => window.nodegraph.canvas.stateOf(10)?.error")
    assert 10 in node_ids(page)  # still there after the refusal
    screenshot("queue-refused")


# -- 2. copy and paste keeps internal links only ------------------------------------------------


def test_copy_paste_keeps_internal_link(page: Page, live_server: str, screenshot: Shot) -> None:
    open_editor(page, live_server)
    (decode,) = nodes_of(page, "VAEDecode")
    (save,) = nodes_of(page, "SaveImage")
    before = graph(page)
    inner = [link for link in before["links"] if link[1] == decode["id"] and link[3] == save["id"]]
    assert len(inner) == 1
    assert any(link[3] == decode["id"] for link in before["links"])  # it has external inputs

    # Ctrl+drag a box from empty canvas above-left of VAEDecode into SaveImage
    first = node_rect(page, decode["id"])
    second = node_rect(page, save["id"])
    start = (first["x"] - 15, first["y"] - 25)
    end = (second["x"] + 30, second["y"] + second["h"] / 2)
    assert hit(page, start)["type"] == "empty"
    page.keyboard.press("Escape")  # nothing selected
    page.keyboard.down("Control")
    drag(page, start, end)
    page.keyboard.up("Control")
    assert selected(page) == {decode["id"], save["id"]}
    screenshot("box-selected")

    page.keyboard.press("Control+c")
    spot = empty_spot(page, canvas_box(page))
    page.mouse.move(*spot)
    page.keyboard.press("Control+v")
    page.wait_for_function(
        "(n) => window.nodegraph.graph().nodes.length === n + 2", arg=len(before["nodes"])
    )
    pasted = new_nodes(page, {n["id"] for n in before["nodes"]})
    assert sorted(n["type"] for n in pasted) == ["SaveImage", "VAEDecode"]
    by_type = {n["type"]: n for n in pasted}
    new_decode, new_save = by_type["VAEDecode"]["id"], by_type["SaveImage"]["id"]
    assert {new_decode, new_save}.isdisjoint({n["id"] for n in before["nodes"]})
    assert selected(page) == {new_decode, new_save}

    after = graph(page)
    added = [link for link in after["links"] if link not in before["links"]]
    assert len(added) == 1, added
    link_id, origin, origin_slot, target, target_slot, _ = added[0]
    assert (origin, origin_slot, target, target_slot) == (new_decode, 0, new_save, 0)
    assert link_id not in {link[0] for link in before["links"]}
    assert node(page, new_save)["inputs"][0]["link"] == link_id
    assert node(page, new_decode)["outputs"][0]["links"] == [link_id]
    # the external inputs of the copy stay unlinked; the originals keep theirs
    assert all(i["link"] is None for i in node(page, new_decode)["inputs"])
    assert all(link in after["links"] for link in before["links"])
    # pasted with its top-left node at the mouse
    x0 = min(n["pos"][0] for n in pasted)
    y0 = min(n["pos"][1] for n in pasted)
    mouse = to_canvas(page, spot)
    assert abs(x0 - mouse[0]) <= 1 and abs(y0 - mouse[1]) <= 1
    screenshot("pasted")


# -- 3. a reroute on a link keeps the prompt's link ---------------------------------------------


def test_reroute_on_link(page: Page, live_server: str, screenshot: Shot) -> None:
    open_editor(page, live_server)
    (sampler,) = nodes_of(page, "KSampler")
    (decode,) = nodes_of(page, "VAEDecode")
    slot = input_slot(decode, "samples")
    (link,) = [link for link in graph(page)["links"] if link[3] == decode["id"] and link[4] == slot]
    assert link[1] == sampler["id"]
    mid = page.evaluate("(id) => window.nodegraph.canvas.linkMidpoint(id)", link[0])
    assert hit(page, (mid[0], mid[1]))["type"] == "linkMid"
    before = node_ids(page)
    page.mouse.click(mid[0], mid[1], button="right")
    page.locator('.context-menu .menu-item[data-id="add-reroute"]').click()
    expect(page.locator(".context-menu")).to_have_count(0)

    (reroute,) = new_nodes(page, before)
    assert reroute["type"] == "Reroute"
    links = graph(page)["links"]
    assert link[0] not in {entry[0] for entry in links}
    into = [entry for entry in links if entry[3] == reroute["id"]]
    out = [entry for entry in links if entry[1] == reroute["id"]]
    assert [entry[1:5] for entry in into] == [[sampler["id"], 0, reroute["id"], 0]]
    assert [entry[1:5] for entry in out] == [[reroute["id"], 0, decode["id"], slot]]
    assert reroute["outputs"][0]["type"] == "LATENT"  # the type flowing through it
    screenshot("rerouted")

    # the prompt still links the sampler to the decoder; the reroute is not in it
    prompt = exported_prompt(page)
    assert prompt[str(decode["id"])]["inputs"]["samples"] == [str(sampler["id"]), 0]
    assert str(reroute["id"]) not in prompt
    object_info = http_json(f"{live_server}/object_info")
    assert prompt == ui_to_api(graph(page), object_info.get)


# -- 4. groups: made around the selection, moved with their nodes -------------------------------


def test_group_around_selection_moves_nodes(page: Page, live_server: str, screenshot: Shot) -> None:
    open_editor(page, live_server)
    encoders = nodes_of(page, "CLIPTextEncode")
    ids = [n["id"] for n in encoders]
    others = {n["id"]: n["pos"] for n in graph(page)["nodes"] if n["id"] not in ids}
    page.mouse.click(*title_point(page, ids[0]))
    page.keyboard.down("Shift")
    page.mouse.click(*title_point(page, ids[1]))
    page.keyboard.up("Shift")
    assert selected(page) == set(ids)

    node_menu(page, ids[1])
    page.locator('.context-menu .menu-item[data-id="group"]').click()
    groups = graph(page)["groups"]
    assert len(groups) == 1
    gx, gy, gw, gh = groups[0]["bounding"]
    for rect in (node_rect(page, i) for i in ids):  # the frame encloses both nodes
        x0, y0 = to_canvas(page, (rect["x"], rect["y"]))
        x1, y1 = to_canvas(page, (rect["x"] + rect["w"], rect["y"] + rect["h"]))
        assert gx < x0 and gy < y0 and x1 < gx + gw and y1 < gy + gh
    screenshot("grouped")

    # drag the group by its title bar
    title = page.evaluate(
        "([x, y]) => window.nodegraph.canvas.canvasToScreen([x, y])", [gx + gw / 2, gy + 10]
    )
    start = (title[0], title[1])
    assert hit(page, start) == {"type": "groupTitle", "group": "Group"}
    positions = {i: node(page, i)["pos"] for i in ids}
    drag(page, start, (start[0] + 90, start[1] + 70))
    (group,) = graph(page)["groups"]
    dx, dy = group["bounding"][0] - gx, group["bounding"][1] - gy
    assert dx > 0 and dy > 0
    assert group["bounding"][2:] == [gw, gh]
    for i in ids:
        assert node(page, i)["pos"] == [positions[i][0] + dx, positions[i][1] + dy]
    assert {i: node(page, i)["pos"] for i in others} == others  # the rest stayed
    screenshot("moved")


# -- 5. a combo widget's searchable list ---------------------------------------------------------


def test_combo_filter_and_pick(page: Page, live_server: str, screenshot: Shot) -> None:
    open_editor(page, live_server)
    (sampler,) = nodes_of(page, "KSampler")
    assert widget_value(page, sampler["id"], "sampler_name") != "dpmpp_2m"
    page.mouse.click(*widget_center(page, sampler["id"], "sampler_name"))
    expect(page.locator(".combo-overlay")).to_be_visible()
    choices = page.locator(".combo-item").count()
    expect(page.locator(".combo-filter")).to_be_focused()
    page.keyboard.type("dpmpp_2m", delay=10)
    items = page.locator(".combo-item")
    expect(items.first).to_have_attribute("data-value", "dpmpp_2m")
    shown = items.evaluate_all("(rows) => rows.map((r) => r.dataset.value)")
    assert 0 < len(shown) < choices
    assert all("dpmpp_2m" in value for value in shown)
    screenshot("filtered")
    page.locator('.combo-item[data-value="dpmpp_2m"]').click()
    expect(page.locator(".combo-overlay")).to_have_count(0)
    assert widget_value(page, sampler["id"], "sampler_name") == "dpmpp_2m"
    assert page.evaluate("() => window.nodegraph.app.history.canUndo()")  # recorded as an edit
    screenshot("picked")


# -- 6. convert a widget to an input, link it, convert it back ----------------------------------


def test_convert_seed_to_input_and_back(page: Page, live_server: str, screenshot: Shot) -> None:
    open_editor(page, live_server)
    (sampler,) = nodes_of(page, "KSampler")
    sid = sampler["id"]
    seed_slot = input_slot(sampler, "seed")
    seed = widget_value(page, sid, "seed")
    primitive = add_node_by_search(page, "PrimitiveInt", empty_spot(page, canvas_box(page)))
    set_number(page, primitive, "value", 1234)

    assert page.evaluate("(id) => window.nodegraph.canvas.widgetRect(id, 'seed')", sid)
    node_menu(page, sid)
    pick_submenu(page, "convert-to-input", "seed")
    # the seed row (and its control_after_generate row) became a socket
    assert page.evaluate("(id) => window.nodegraph.canvas.widgetRect(id, 'seed')", sid) is None
    assert (
        page.evaluate(
            "(id) => window.nodegraph.canvas.widgetRect(id, 'control_after_generate')", sid
        )
        is None
    )
    screenshot("converted")

    drag(page, socket(page, primitive, "output", 0), socket(page, sid, "input", seed_slot))
    link = node(page, sid)["inputs"][seed_slot]["link"]
    assert link is not None
    assert [entry[1:5] for entry in graph(page)["links"] if entry[0] == link] == [
        [primitive, 0, sid, seed_slot]
    ]
    prompt = exported_prompt(page)
    assert prompt[str(sid)]["inputs"]["seed"] == [str(primitive), 0]
    assert prompt[str(primitive)]["inputs"]["value"] == 1234
    screenshot("linked")

    node_menu(page, sid)
    pick_submenu(page, "convert-to-widget", "seed")
    assert node(page, sid)["inputs"][seed_slot]["link"] is None
    assert not [
        entry for entry in graph(page)["links"] if entry[3] == sid and entry[4] == seed_slot
    ]
    assert page.evaluate("(id) => window.nodegraph.canvas.widgetRect(id, 'seed')", sid)
    assert widget_value(page, sid, "seed") == seed
    assert exported_prompt(page)[str(sid)]["inputs"]["seed"] == seed
    screenshot("back")


# -- 7. the category menu adds a node where it was opened ---------------------------------------


def test_category_menu_adds_node(page: Page, live_server: str, screenshot: Shot) -> None:
    open_editor(page, live_server)
    spot = empty_spot(page, canvas_box(page))
    before = node_ids(page)
    page.mouse.click(*spot, button="right")
    page.locator('.context-menu[data-level="0"] .menu-item[data-id="add-node"]').hover()
    level1 = page.locator('.context-menu[data-level="1"]')
    level1.locator(".menu-item.has-submenu", has_text=re.compile(r"^latent$")).hover()
    item = page.locator('.context-menu[data-level="2"] .menu-item[data-id="EmptyLatentImage"]')
    expect(item).to_have_text("Empty Latent Image")
    screenshot("menu")
    item.click()
    expect(page.locator(".context-menu")).to_have_count(0)
    (added,) = new_nodes(page, before)
    assert added["type"] == "EmptyLatentImage"
    # at the point that was right-clicked (rounded to whole canvas units)
    expected = to_canvas(page, spot)
    assert all(abs(a - b) <= 0.5 for a, b in zip(added["pos"], expected, strict=True))
    assert selected(page) == {added["id"]}
    screenshot("added")


# -- 8. LoadImage: drop an image on the node, or pick one with its upload row -------------------


def drop_file(page: Page, point: Point, name: str, data: bytes, mime: str = "image/png") -> None:
    """Drop a file at a client point as the browser does for a file dragged from the desktop
    (Playwright's mouse cannot carry files, so the drag events are dispatched)."""
    page.evaluate(
        """([x, y, name, bytes, mime]) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], name, {type: mime}));
        const target = document.elementFromPoint(x, y);
        for (const type of ['dragenter', 'dragover', 'drop']) {
          target.dispatchEvent(new DragEvent(type, {
            bubbles: true, cancelable: true, dataTransfer: transfer, clientX: x, clientY: y}));
        }
      }""",
        [point[0], point[1], name, list(data), mime],
    )


def test_load_image_upload(page: Page, live_server: str, screenshot: Shot, tmp_path: Path) -> None:
    picture = (REPO / "workflows" / "input" / "shapes.png").read_bytes()
    open_editor(page, live_server)
    loader = add_node_by_search(page, "LoadImage", empty_spot(page, canvas_box(page)))
    rect = node_rect(page, loader)
    center = (rect["x"] + rect["w"] / 2, rect["y"] + rect["h"] / 2)
    assert hit(page, center).get("nodeId") == loader

    # dropped onto the node: uploaded to the input folder and selected
    dropped = f"dropped-{uuid.uuid4().hex[:8]}.png"
    drop_file(page, center, dropped, picture)
    page.wait_for_function(
        "([id, name]) => window.nodegraph.graph().nodes.find((n) => n.id === id)"
        ".widgets_values[0] === name",
        arg=[loader, dropped],
    )
    expect(page.locator(".toast.info", has_text=dropped)).to_be_visible()
    view = page.request.get(f"{live_server}/view", params={"filename": dropped, "type": "input"})
    assert view.status == 200 and view.body() == picture
    assert widget_value(page, loader, "image") == dropped
    # the node shows the picture it now loads
    page.wait_for_function(
        "(name) => [...window.nodegraph.canvas.imageCache].some(([url, img]) =>"
        " url.includes(encodeURIComponent(name)) && img.complete && img.naturalWidth > 0)",
        arg=dropped,
    )
    assert len(nodes_of(page, "LoadImage")) == 1  # no workflow was loaded instead
    screenshot("dropped")

    # the upload row opens a file chooser
    picked = tmp_path / f"picked-{uuid.uuid4().hex[:8]}.png"
    picked.write_bytes((REPO / "workflows" / "input" / "example.png").read_bytes())
    with page.expect_file_chooser() as chooser_info:
        page.mouse.click(*widget_center(page, loader, "upload"))
    chooser_info.value.set_files(str(picked))
    page.wait_for_function(
        "([id, name]) => window.nodegraph.graph().nodes.find((n) => n.id === id)"
        ".widgets_values[0] === name",
        arg=[loader, picked.name],
    )
    view = page.request.get(
        f"{live_server}/view", params={"filename": picked.name, "type": "input"}
    )
    assert view.status == 200 and view.body() == picked.read_bytes()
    # both uploads are choices of the image combo now
    page.mouse.click(*widget_center(page, loader, "image"))
    for name in (dropped, picked.name):
        expect(page.locator(f'.combo-item[data-value="{name}"]')).to_have_count(1)
    expect(page.locator(".combo-filter")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(".combo-overlay")).to_have_count(0)
    screenshot("picked")


# -- 9. live sampling previews ------------------------------------------------------------------


def test_live_previews_on_sampler(page: Page, live_server: str, screenshot: Shot) -> None:
    # live_server runs with --previews latent
    open_editor(page, live_server)
    (sampler,) = nodes_of(page, "KSampler")
    (save,) = nodes_of(page, "SaveImage")
    sid = sampler["id"]
    set_number(page, sid, "steps", PREVIEW_STEPS)
    record_events(page)
    # previews as they arrive, with the running state of their node at that moment
    page.evaluate(
        """() => {
        const canvas = window.nodegraph.canvas;
        const setState = canvas.setState;
        window.__previews = [];
        canvas.setState = (id, patch) => {
          const state = setState(id, patch);
          if (patch.preview) {
            window.__previews.push({id: String(id), running: state.running,
              progress: state.progress, width: patch.preview.width});
          }
          return state;
        };
      }"""
    )
    page.click("#queue-button")
    page.wait_for_function(
        "(id) => window.__previews.some((p) => p.id === String(id) && p.running)",
        arg=sid,
        timeout=RUN_TIMEOUT_MS,
    )
    screenshot("previewing")
    page.wait_for_function(
        "(id) => (window.nodegraph.canvas.stateOf(id)?.images || []).length > 0",
        arg=save["id"],
        timeout=RUN_TIMEOUT_MS,
    )
    previews = page.evaluate("() => window.__previews")
    ours = [p for p in previews if p["id"] == str(sid)]
    assert ours and all(p["width"] > 0 for p in ours)
    assert {p["id"] for p in previews} == {str(sid)}  # only the sampler previews
    assert any(p["progress"] and p["progress"][0] < PREVIEW_STEPS for p in ours if p["running"])
    state = runtime(page, sid)
    assert state and state["preview"] and not state["running"]
    # the node gives its preview an image area below its widgets
    assert page.evaluate(
        "(id) => { const c = window.nodegraph.canvas; return c.layoutOf(c.nodeById(id)).image; }",
        sid,
    )
    progress = [e for e in events(page, "progress") if str(e["node"]) == str(sid)]
    assert progress and progress[-1]["max"] == PREVIEW_STEPS
    screenshot("finished")


# -- 10. a history entry of the queue panel loads its workflow ---------------------------------


def test_history_item_loads_workflow(page: Page, live_server: str, screenshot: Shot) -> None:
    """A cheap graph (LoadImage -> SaveImage: no sampling) queued from the editor comes back
    from the history after the canvas was cleared."""
    open_editor(page, live_server)
    page.click("#clear-button")
    loader = add_node_by_search(page, "LoadImage", empty_spot(page, canvas_box(page)))
    save = add_node_by_search(page, "SaveImage", empty_spot(page, canvas_box(page)))
    connect(page, loader, 0, save, "images")
    marker = f"history-{uuid.uuid4().hex[:8]}"
    page.mouse.click(*widget_center(page, save, "filename_prefix"))
    editor = page.locator(".prompt-input")
    expect(editor).to_be_focused()
    editor.fill(marker)
    editor.press("Enter")
    assert widget_value(page, save, "filename_prefix") == marker
    queued = graph(page)
    record_events(page)
    page.click("#queue-button")
    page.wait_for_function(
        "() => window.__events.some((e) => e.type === 'execution_success')",
        timeout=RUN_TIMEOUT_MS,
    )
    prompt_id = events(page, "execution_success")[0]["prompt_id"]

    page.click("#clear-button")
    assert graph(page)["nodes"] == []
    page.click("#queue-panel-button")
    row = page.locator(f'#queue-panel .history-item[data-prompt-id="{prompt_id}"]')
    expect(row).to_have_class(re.compile(r"\bloadable\b"))
    expect(row.locator(".queue-thumb")).to_have_attribute("title", re.compile(marker))
    screenshot("panel")
    row.locator(".queue-text").click()
    page.wait_for_function("() => window.nodegraph.graph().nodes.length === 2")
    loaded = graph(page)
    assert sorted((n["id"], n["type"]) for n in loaded["nodes"]) == sorted(
        (n["id"], n["type"]) for n in queued["nodes"]
    )
    assert loaded["links"] == queued["links"]
    assert widget_value(page, save, "filename_prefix") == marker
    assert [n["widgets_values"] for n in loaded["nodes"]] == [
        n["widgets_values"] for n in queued["nodes"]
    ]
    # a fresh history: loading is not an edit to undo
    assert not page.evaluate("() => window.nodegraph.app.history.canUndo()")
    screenshot("loaded")
