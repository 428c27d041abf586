"""`nodegraph run | validate | object-info`: the command line, where things are wired."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nodegraph import __version__
from nodegraph import events as ev
from nodegraph.context import InterruptFlag
from nodegraph.engine import Engine
from nodegraph.execute import RunResult
from nodegraph.plugins import PluginError, plugin_commands
from nodegraph.progress import ProgressPrinter
from nodegraph.settings import CacheSettings, Settings
from nodegraph.ui_workflow import WorkflowFormatError
from nodegraph.workflow_file import WorkflowFileError, load_workflow

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
BUILTIN_COMMANDS = frozenset({"validate", "run", "object-info", "serve"})


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


def build_parser(extra_commands: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nodegraph",
        description="Run ComfyUI-compatible Stable Diffusion workflows headless.",
    )
    parser.add_argument("--version", action="version", version=f"nodegraph {__version__}")
    parser.add_argument(
        "--nodes",
        action="append",
        default=[],
        metavar="MODULE",
        help="extra node module to load (importable name or .py file); repeatable",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser("validate", help="check a workflow; print ComfyUI's error JSON")
    validate.add_argument("workflow", help="API- or UI-format JSON, or a PNG made by SaveImage")
    _folder_options(validate)

    run = sub.add_parser("run", help="execute a workflow headless with progress")
    run.add_argument("workflow", help="API- or UI-format JSON, or a PNG made by SaveImage")
    run.add_argument("--out", metavar="DIR", help="output folder (default ./output)")
    _folder_options(run)
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NODE_ID.INPUT=VALUE",
        help="override an input before running (VALUE is JSON, or else a string); repeatable",
    )
    run.add_argument("--cache", choices=["lru", "none"], default="lru", help="output cache mode")
    run.add_argument("--verbose", action="store_true", help="show tracebacks of node errors")

    serve = sub.add_parser("serve", help="start the ComfyUI-compatible HTTP + WebSocket server")
    serve.add_argument(
        "--listen",
        default="127.0.0.1",
        nargs="?",
        const="0.0.0.0,::",
        metavar="HOST",
        help="address(es) to bind, comma-separated (bare --listen: all interfaces)",
    )
    serve.add_argument("--port", type=int, default=8188)
    serve.add_argument("--output-dir", metavar="DIR", help="output folder (default ./output)")
    serve.add_argument("--data-dir", metavar="DIR", help="queue/history database (default ./data)")
    serve.add_argument("--token", help="require this token on every request and the websocket")
    serve.add_argument(
        "--previews",
        choices=["none", "latent"],
        default="none",
        help="live sampling previews (sent only to websocket clients that opt in)",
    )
    serve.add_argument(
        "--max-upload-size", type=float, default=100, metavar="MB", help="request body limit"
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="browser origin allowed besides the server itself (e.g. https://app.example)",
    )
    serve.add_argument("--cache", choices=["lru", "none"], default="lru", help="output cache mode")
    _folder_options(serve)

    info = sub.add_parser("object-info", help="print /object_info JSON for all nodes or one")
    info.add_argument("class_type", nargs="?", metavar="CLASS")
    _folder_options(info)
    for name in extra_commands:
        sub.add_parser(name, help="provided by a node library (see its --help)", add_help=False)
    return parser


def _folder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", metavar="DIR", help="models folder (default ./models)")
    parser.add_argument("--input-dir", metavar="DIR", help="input folder (default ./input)")
    parser.add_argument(
        "--extra-model-paths-config",
        action="append",
        default=[],
        metavar="YAML",
        help="ComfyUI extra_model_paths.yaml adding model folders; repeatable",
    )


def _settings(args: argparse.Namespace) -> Settings:
    out = getattr(args, "out", None) or getattr(args, "output_dir", None)
    return Settings(
        output_dir=Path(out) if out else Path(),
        input_dir=Path(args.input_dir) if args.input_dir else Path(),
        models_dir=Path(args.models_dir) if args.models_dir else Path(),
        extra_model_paths=[Path(p) for p in args.extra_model_paths_config],
        cache=CacheSettings(mode=getattr(args, "cache", "lru")),
        previews=getattr(args, "previews", "none"),
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = plugin_commands()
    if argv and argv[0] in extra and argv[0] not in BUILTIN_COMMANDS:
        try:
            return extra[argv[0]](argv[1:])
        except PluginError as ex:
            print(f"nodegraph: error: {ex}", file=sys.stderr)
            return EXIT_USAGE
    args = build_parser(sorted(extra)).parse_args(argv)
    try:
        engine = Engine(_settings(args), node_modules=args.nodes)
        if args.command == "object-info":
            info = engine.object_info(args.class_type)
            if args.class_type and not info:
                raise UsageError(f"unknown node class {args.class_type!r}")
            print(json.dumps(info, indent=2))
            return EXIT_OK
        if args.command == "serve":
            return _serve(engine, args)
        workflow = engine.to_api(load_workflow(args.workflow))
        if args.command == "validate":
            return _validate(engine, workflow)
        return _run(engine, _apply_overrides(workflow, args.set), args.verbose)
    except (UsageError, PluginError, WorkflowFileError, WorkflowFormatError) as ex:
        print(f"nodegraph: error: {ex}", file=sys.stderr)
        return EXIT_USAGE


def _serve(engine: Engine, args: argparse.Namespace) -> int:
    from nodegraph.server.keys import ServerSettings
    from nodegraph.server.serve import serve

    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: expected 1-65535")
    if args.max_upload_size <= 0:
        raise UsageError("--max-upload-size must be positive")
    server = ServerSettings(
        host=args.listen,
        port=args.port,
        data_dir=Path(args.data_dir) if args.data_dir else engine.settings.base_dir / "data",
        token=args.token or None,
        max_upload_bytes=int(args.max_upload_size * 1024 * 1024),
        allowed_origins=tuple(args.allow_origin),
    )
    serve(engine, server)
    return EXIT_OK


def _validate(engine: Engine, workflow: dict[str, Any]) -> int:
    validation = engine.validate(workflow)
    if not validation.ok:
        print(json.dumps(validation.to_json(), indent=2))
        return EXIT_INVALID
    if validation.node_errors:
        print(json.dumps(validation.to_json(), indent=2))
        print("warning: some outputs fail validation and would be skipped", file=sys.stderr)
    print(f"valid: outputs {', '.join(validation.outputs)} can run", file=sys.stderr)
    return EXIT_OK


def _apply_overrides(workflow: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        target, sep, raw = item.partition("=")
        node_id, dot, name = target.rpartition(".")
        if not sep or not dot or not node_id or not name:
            raise UsageError(f"--set {item!r}: expected NODE_ID.INPUT=VALUE")
        node = workflow.get(node_id)
        if not isinstance(node, dict):
            raise UsageError(f"--set {item!r}: no node with id {node_id!r} in the workflow")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(value, list):
            value = {"__value__": value}
        node.setdefault("inputs", {})[name] = value
    return workflow


def _run(engine: Engine, workflow: dict[str, Any], verbose: bool) -> int:
    validation = engine.validate(workflow)
    if not validation.ok:
        print(json.dumps(validation.to_json(), indent=2))
        return EXIT_INVALID
    class_of = {nid: str(node.class_type) for nid, node in validation.prompt.items()}
    interrupt = InterruptFlag()
    outcome: list[RunResult] = []

    def work() -> None:
        outcome.append(
            engine.execute(
                validation,
                prompt_id="cli",
                on_event=ProgressPrinter(class_of),
                interrupt=interrupt,
            )
        )

    worker = threading.Thread(target=work, name="nodegraph-run", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        interrupt.set()
        print("interrupting...", file=sys.stderr)
        worker.join()
    result = outcome[0]
    _print_outputs(engine.settings, result, class_of)
    if result.status == "interrupted":
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.status == "error":
        err = result.error
        assert isinstance(err, ev.ExecutionError)
        print(
            f"error in node {err.node_id} ({err.node_type}): "
            f"{err.exception_type}: {err.exception_message}",
            file=sys.stderr,
        )
        if verbose:
            print("".join(err.traceback), file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _print_outputs(settings: Settings, result: RunResult, class_of: dict[str, str]) -> None:
    folders = {
        "output": settings.output_dir,
        "temp": settings.temp_dir,
        "input": settings.input_dir,
    }
    for nid, ui in result.outputs.items():
        label = f"{nid} ({class_of.get(nid, '?')})"
        for item in ui.get("images", []):
            if isinstance(item, dict) and "filename" in item:
                base = folders.get(item.get("type", "output"), settings.output_dir)
                print(f"{label}: wrote {base / item.get('subfolder', '') / item['filename']}")
        for text in ui.get("text", []):
            print(f"{label}: {text}")


if __name__ == "__main__":
    sys.exit(main())
