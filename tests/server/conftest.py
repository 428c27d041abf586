"""Server fixtures: an app over the toy nodes (fast) with folders under tmp_path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from nodegraph.engine import Engine
from nodegraph.server.app import create_app
from nodegraph.server.keys import ServerSettings
from nodegraph.settings import Settings
from tests.engine.toy_nodes import make_registry

AiohttpClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """output/, input/, temp/ and models/ under tmp_path."""
    return Settings(base_dir=tmp_path)


@pytest.fixture
def server_settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(data_dir=tmp_path / "data")


@pytest.fixture
def toy_engine(settings: Settings) -> Engine:
    return Engine(settings, registry=make_registry())


@pytest.fixture
def make_client(
    aiohttp_client: AiohttpClient, toy_engine: Engine, server_settings: ServerSettings
) -> Callable[..., Awaitable[TestClient[Any, Any]]]:
    """Start an app (toy engine and tmp folders unless given) and return its test client."""

    async def make(
        engine: Engine | None = None,
        server: ServerSettings | None = None,
        start_worker: bool = True,
    ) -> TestClient[Any, Any]:
        app: web.Application = create_app(
            engine or toy_engine, server or server_settings, start_worker=start_worker
        )
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def client(
    make_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> TestClient[Any, Any]:
    return await make_client()
