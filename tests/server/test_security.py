"""Token, origin guard, exposure warning and the JSON 500 fallback."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from nodegraph.server.keys import ServerSettings
from nodegraph.server.security import errors, exposure_warning, is_loopback, same_origin


@pytest.fixture
async def guarded(make_client: Any, tmp_path: Any) -> Any:
    return await make_client(server=ServerSettings(data_dir=tmp_path / "d", token="s3cret"))


@pytest.mark.parametrize("path", ["/prompt", "/queue", "/object_info", "/api/history", "/ws"])
async def test_token_required_everywhere(guarded: Any, path: str) -> None:
    response = await guarded.get(path)
    assert response.status == 401
    assert "token" in (await response.json())["error"]["message"]
    wrong = await guarded.get(path, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401


async def test_token_by_header_query_and_cookie(guarded: Any) -> None:
    ok = await guarded.get("/prompt", headers={"Authorization": "Bearer s3cret"})
    assert ok.status == 200
    by_query = await guarded.get("/prompt?token=s3cret")
    assert by_query.status == 200
    assert by_query.cookies["nodegraph_token"]["httponly"]
    # the cookie set by ?token= lets a browser's later requests through
    assert (await guarded.get("/queue")).status == 200


async def test_websocket_with_token(guarded: Any) -> None:
    socket = await guarded.ws_connect("/ws?clientId=x&token=s3cret")
    assert (await socket.receive_json(timeout=5))["type"] == "status"
    await socket.close()


async def test_cross_origin_requests_refused(client: Any) -> None:
    host = f"{client.server.host}:{client.server.port}"
    evil = await client.post(
        "/prompt", json={"prompt": {}}, headers={"Origin": "http://evil.example", "Host": host}
    )
    assert evil.status == 403
    same = await client.get("/prompt", headers={"Origin": f"http://{host}", "Host": host})
    assert same.status == 200
    assert (await client.get("/prompt")).status == 200  # no Origin: not a browser page
    options = await client.options("/prompt", headers={"Origin": "http://evil.example"})
    assert options.status == 200 and await options.text() == ""


async def test_allowed_origin(make_client: Any, tmp_path: Any) -> None:
    server = ServerSettings(data_dir=tmp_path / "d", allowed_origins=("https://app.example",))
    client = await make_client(server=server)
    ok = await client.get("/prompt", headers={"Origin": "https://app.example"})
    assert ok.status == 200
    assert (await client.get("/prompt", headers={"Origin": "https://x.example"})).status == 403


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:8188", "127.0.0.1:8188", True),
        ("http://localhost:8188", "127.0.0.1:8188", False),
        ("http://127.0.0.1:9999", "127.0.0.1:8188", False),
        ("http://127.0.0.1", "127.0.0.1:8188", True),
        ("null", "127.0.0.1:8188", False),
        ("http://[::1]:8188", "[::1]:8188", True),
        ("garbage", "127.0.0.1:8188", False),
    ],
)
def test_same_origin(origin: str, host: str, same: bool) -> None:
    assert same_origin(origin, host) is same


def test_exposure_warning() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1,localhost")
    assert not is_loopback("0.0.0.0,::")
    assert exposure_warning(ServerSettings(host="127.0.0.1")) is None
    assert exposure_warning(ServerSettings(host="0.0.0.0", token="t")) is None
    warning = exposure_warning(ServerSettings(host="0.0.0.0"))
    assert warning is not None and "WITHOUT --token" in warning


async def test_unexpected_errors_are_json_500(aiohttp_client: Any) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise KeyError("oops")

    app = web.Application(middlewares=[errors])
    app.router.add_get("/x", broken)
    client = await aiohttp_client(app)
    response = await client.get("/x")
    assert response.status == 500
    assert "KeyError" in (await response.json())["error"]["message"]
