"""object_info, embeddings, models, system_stats and features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodegraph.engine import Engine
from nodegraph.settings import Settings


async def test_object_info_all_and_one(client: Any) -> None:
    info = await (await client.get("/object_info")).json()
    assert "ToySteps" in info and info["ToySteps"]["category"] == "toy"
    one = await (await client.get("/api/object_info/ToyInt")).json()
    assert list(one) == ["ToyInt"] and one["ToyInt"] == info["ToyInt"]
    unknown = await client.get("/object_info/Nope")
    assert unknown.status == 200 and await unknown.json() == {}


async def test_models_and_embeddings_without_a_folders_service(client: Any) -> None:
    assert await (await client.get("/models")).json() == []
    assert await (await client.get("/embeddings")).json() == []
    assert (await client.get("/models/checkpoints")).status == 404


async def test_models_and_embeddings_from_the_node_library(
    make_client: Any, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    (models / "checkpoints" / "sd").mkdir(parents=True)
    (models / "checkpoints" / "sd" / "b.safetensors").write_bytes(b"x")
    (models / "checkpoints" / "a.ckpt").write_bytes(b"x")
    (models / "checkpoints" / "notes.txt").write_text("not a model")
    (models / "embeddings" / "sub").mkdir(parents=True)
    (models / "embeddings" / "style.pt").write_bytes(b"x")
    (models / "embeddings" / "sub" / "neg.safetensors").write_bytes(b"x")
    engine = Engine(Settings(base_dir=tmp_path))
    client = await make_client(engine=engine)
    folders = await (await client.get("/models")).json()
    assert folders[0] == "checkpoints" and "loras" in folders and "hypernetworks" in folders
    files = await (await client.get("/models/checkpoints")).json()
    assert files == ["a.ckpt", "nodegraph-demo-sd1.safetensors", "sd/b.safetensors"]  # + bundled
    assert await (await client.get("/models/loras")).json() == []
    missing = await client.get("/models/nope")
    assert missing.status == 404
    assert sorted(await (await client.get("/embeddings")).json()) == ["style", "sub/neg"]


async def test_system_stats_and_features(client: Any) -> None:
    stats = await (await client.get("/system_stats")).json()
    system = stats["system"]
    assert system["ram_total"] > 0 and system["python_version"]
    assert isinstance(system["comfyui_version"], str) and system["argv"]
    device = stats["devices"][0]
    assert {"name", "type", "index", "vram_total", "vram_free"} <= set(device)
    features = await (await client.get("/features")).json()
    assert features["supports_preview_metadata"] is True
    assert features["max_upload_size"] == 100 * 1024 * 1024
