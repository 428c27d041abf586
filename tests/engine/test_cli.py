"""The command line as a user runs it: exit codes, messages, outputs, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOY = ["--nodes", "tests.engine.toy_nodes"]

GOOD = {
    "1": {"class_type": "ToyInt", "inputs": {"value": 2}, "_meta": {"title": "two"}},
    "2": {"class_type": "ToyAdd", "inputs": {"a": ["1", 0], "b": 40}},
    "3": {"class_type": "ToySink", "inputs": {"value": ["2", 0]}},
}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nodegraph", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def write(tmp_path: Path, data: Any, name: str = "wf.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_help_lists_commands() -> None:
    done = cli("--help")
    assert done.returncode == 0
    for command in ("run", "validate", "object-info"):
        assert command in done.stdout


def test_validate_accepts_a_good_workflow(tmp_path: Path) -> None:
    done = cli(*TOY, "validate", write(tmp_path, GOOD))
    assert done.returncode == 0, done.stderr
    assert "valid: outputs 3 can run" in done.stderr


def test_validate_prints_comfyui_error_json_and_exits_1(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["2"]["inputs"]["b"] = 5000
    done = cli(*TOY, "validate", write(tmp_path, bad))
    assert done.returncode == 1
    body = json.loads(done.stdout)
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["node_errors"]["2"]["errors"][0]["type"] == "value_bigger_than_max"
    assert "Traceback" not in done.stderr


def test_run_prints_outputs_and_applies_set_overrides(tmp_path: Path) -> None:
    done = cli(*TOY, "run", write(tmp_path, GOOD), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "executing 2 (ToyAdd)" in done.stderr
    done = cli(*TOY, "run", write(tmp_path, GOOD), "--set", "2.b=100", "--set", "1.value=1")
    assert done.returncode == 0, done.stderr


def test_run_reports_node_failure_without_traceback(tmp_path: Path) -> None:
    wf = {
        "1": {"class_type": "ToyInt", "inputs": {"value": 2}},
        "2": {"class_type": "ToyFail", "inputs": {"value": ["1", 0], "message": "no luck"}},
        "3": {"class_type": "ToySink", "inputs": {"value": ["2", 0]}},
    }
    done = cli(*TOY, "run", write(tmp_path, wf))
    assert done.returncode == 1
    assert "error in node 2 (ToyFail): RuntimeError: no luck" in done.stderr
    assert "Traceback" not in done.stderr
    verbose = cli(*TOY, "run", write(tmp_path, wf), "--verbose")
    assert "toy_nodes.py" in verbose.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{ not json", "invalid JSON at line 1 column 3"),
        ("[1, 2]", "a workflow is a JSON object, got list"),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "wf.json"
    if content is not None:
        path.write_text(content)
    for command in ("run", "validate"):
        done = cli(*TOY, command, str(path))
        assert done.returncode == 2
        assert message in done.stderr
        assert "Traceback" not in done.stderr


def test_unknown_node_type_is_reported(tmp_path: Path) -> None:
    wf = {"1": {"class_type": "NoSuchNode", "inputs": {}}}
    done = cli(*TOY, "run", write(tmp_path, wf))
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["type"] == "missing_node_type"


def test_bad_set_syntax_and_unknown_node(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    assert "expected NODE_ID.INPUT=VALUE" in cli(*TOY, "run", path, "--set", "oops").stderr
    done = cli(*TOY, "run", path, "--set", "99.value=1")
    assert done.returncode == 2 and "no node with id '99'" in done.stderr


def test_ui_format_and_png_workflows_are_accepted(tmp_path: Path) -> None:
    ui = {
        "last_node_id": 3,
        "last_link_id": 2,
        "nodes": [
            {"id": 1, "type": "ToyInt", "mode": 0, "inputs": [],
             "outputs": [{"name": "INT", "type": "INT", "links": [1]}],
             "widgets_values": [2, "fixed"]},
            {"id": 2, "type": "ToyAdd", "mode": 0,
             "inputs": [{"name": "a", "type": "INT", "widget": {"name": "a"}, "link": 1}],
             "outputs": [{"name": "INT", "type": "INT", "links": [2]}],
             "widgets_values": [0, 40]},
            {"id": 3, "type": "ToySink", "mode": 0,
             "inputs": [{"name": "value", "type": "*", "link": 2}], "outputs": []},
        ],
        "links": [[1, 1, 0, 2, 0, "INT"], [2, 2, 0, 3, 0, "INT"]],
        "groups": [],
        "version": 0.4,
    }  # fmt: skip
    done = cli(*TOY, "run", write(tmp_path, ui))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 (ToySink): " not in done.stdout  # ToySink's ui key is "value", not text/images

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(GOOD))
    info.add_text("workflow", json.dumps(ui))
    png = tmp_path / "made_by_saveimage.png"
    Image.new("RGB", (4, 4)).save(png, pnginfo=info)
    done = cli(*TOY, "validate", str(png))
    assert done.returncode == 0, done.stdout + done.stderr


def test_object_info_for_one_class_and_unknown_class() -> None:
    done = cli(*TOY, "object-info", "ToyAdd")
    assert done.returncode == 0
    assert json.loads(done.stdout)["ToyAdd"]["input_order"] == {"required": ["a", "b"]}
    done = cli(*TOY, "object-info", "Nope")
    assert done.returncode == 2 and "unknown node class 'Nope'" in done.stderr
