"""The editor's files served at `/`: types, caching, containment, and the missing-editor 404."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from nodegraph.server.keys import ServerSettings, default_web_dir

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]
INDEX = "<!doctype html><title>editor</title><script type=module src=js/app.js></script>"


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    """A small editor: index.html, a module, a stylesheet, a hidden file, and a secret beside."""
    root = tmp_path / "web"
    (root / "js" / "sub").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "js" / "app.js").write_text("export const answer = 42;\n")
    (root / "js" / "sub" / "deep.mjs").write_text("export default 1;\n")
    (root / "style.css").write_text("body { margin: 0 }\n")
    (root / ".env").write_text("SECRET=1\n")
    (tmp_path / "secret.txt").write_text("not for the web\n")
    return root


@pytest.fixture
async def web_client(make_client: MakeClient, tmp_path: Path, web_dir: Path) -> Any:
    return await make_client(server=ServerSettings(data_dir=tmp_path / "data", web_dir=web_dir))


async def test_index_not_cached(web_client: Any) -> None:
    response = await web_client.get("/")
    assert response.status == 200
    assert await response.text() == INDEX
    assert response.content_type == "text/html"
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    ("path", "content_type", "start"),
    [
        ("/js/app.js", "text/javascript", "export const answer"),
        ("/js/sub/deep.mjs", "text/javascript", "export default"),
        ("/style.css", "text/css", "body"),
        ("/index.html", "text/html", "<!doctype"),
    ],
)
async def test_files_typed(web_client: Any, path: str, content_type: str, start: str) -> None:
    response = await web_client.get(path)
    assert response.status == 200
    assert response.content_type == content_type  # ES modules need a JavaScript type
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert (await response.text()).startswith(start)


async def test_revalidation_answers_304(web_client: Any) -> None:
    first = await web_client.get("/js/app.js")
    again = await web_client.get("/js/app.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304


@pytest.mark.parametrize(
    "path",
    [
        "/js/",  # no listings
        "/js",
        "/js/missing.js",
        "/.env",  # hidden files stay hidden
        "/js/../../secret.txt",
        "/js/%2e%2e/%2e%2e/secret.txt",
        "/%2e%2e/secret.txt",
        "/js/..%2f..%2fsecret.txt",
        "/api/js/app.js",  # not duplicated under /api
        "/api/index.html",
        "/api/",
    ],
)
async def test_refused(web_client: Any, path: str) -> None:
    response = await web_client.get(path)
    assert response.status == 404
    assert "not for the web" not in await response.text()


async def test_symlink_out_of_web_refused(web_client: Any, web_dir: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path / "secret.txt", web_dir / "js" / "link.js")
    response = await web_client.get("/js/link.js")
    assert response.status == 404
    assert (await response.json())["error"] == "Not found: /js/link.js"


async def test_api_routes_win(web_client: Any, web_dir: Path) -> None:
    (web_dir / "prompt").write_text("shadowed?")
    assert (await (await web_client.get("/prompt")).json())["exec_info"] == {"queue_remaining": 0}
    # unknown API paths and methods keep their answers
    assert (await web_client.get("/jobs")).status == 404
    assert (await web_client.post("/js/app.js")).status == 405
    assert (await web_client.post("/nothing")).status == 404


async def test_missing_editor_is_explained(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(server=ServerSettings(data_dir=tmp_path / "data", web_dir=None))
    response = await client.get("/")
    assert response.status == 404
    assert "editor files are missing" in (await response.json())["error"]
    assert (await client.get("/js/app.js")).status == 404


async def test_missing_index_is_explained(make_client: MakeClient, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    client = await make_client(server=ServerSettings(data_dir=tmp_path / "data", web_dir=empty))
    response = await client.get("/")
    assert response.status == 404
    assert "index.html does not exist" in (await response.json())["error"]


async def test_token_guards_the_editor(
    make_client: MakeClient, tmp_path: Path, web_dir: Path
) -> None:
    server = ServerSettings(data_dir=tmp_path / "data", web_dir=web_dir, token="s3cret")
    client = await make_client(server=server)
    assert (await client.get("/")).status == 401
    assert (await client.get("/js/app.js")).status == 401
    opened = await client.get("/?token=s3cret")
    assert opened.status == 200 and opened.cookies["nodegraph_token"]["httponly"]
    assert (await client.get("/js/app.js")).status == 200  # the browser's module loads by cookie


def test_default_web_dir_is_the_repository_folder() -> None:
    repo_web = Path(__file__).resolve().parents[2] / "web"
    assert default_web_dir() == (repo_web if repo_web.is_dir() else None)
    assert ServerSettings().web_dir == default_web_dir()
