"""Model folders: ComfyUI layout, legacy names, extra_model_paths.yaml, listing and safe lookup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nodegraph.settings import Settings
from nodes import folders
from nodes.loaders import checkpoint_names


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(base_dir=tmp_path)


def test_listing_is_recursive_sorted_filtered_and_live(settings: Settings) -> None:
    models = settings.models_dir
    touch(models / "checkpoints" / "b.safetensors")
    touch(models / "checkpoints" / "sub" / "a.ckpt")
    touch(models / "checkpoints" / "notes.txt")
    touch(models / "checkpoints" / ".git" / "x.safetensors")
    assert folders.list_files(settings, "checkpoints") == [
        "b.safetensors",
        "nodegraph-demo-sd1.safetensors",  # bundled, listed after the user's folders
        os.path.join("sub", "a.ckpt"),
    ]
    touch(models / "checkpoints" / "c.pt")  # appears without any restart
    assert "c.pt" in folders.list_files(settings, "checkpoints")


def test_legacy_folder_names_and_several_dirs(settings: Settings) -> None:
    touch(settings.models_dir / "clip" / "old.safetensors")
    touch(settings.models_dir / "text_encoders" / "new.safetensors")
    touch(settings.models_dir / "unet" / "u.safetensors")
    assert folders.list_files(settings, "clip") == ["new.safetensors", "old.safetensors"]
    assert folders.list_files(settings, "diffusion_models") == ["u.safetensors"]
    assert folders.full_path(settings, "unet", "u.safetensors") is not None


def test_lookup_refuses_names_escaping_the_folder(settings: Settings, tmp_path: Path) -> None:
    touch(tmp_path / "secret.safetensors")
    touch(settings.models_dir / "vae" / "ok.safetensors")
    assert folders.full_path(settings, "vae", "ok.safetensors") is not None
    for name in ("../../secret.safetensors", str(tmp_path / "secret.safetensors"), ".."):
        assert folders.full_path(settings, "vae", name) is None
    with pytest.raises(FileNotFoundError, match=r"VAELoader: vae_name 'gone\.pt' was not found"):
        folders.require(settings, "vae", "gone.pt", "VAELoader", "vae_name")


def test_extra_model_paths_yaml(settings: Settings, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    touch(shared / "models" / "Stable-diffusion" / "x.safetensors")
    touch(shared / "models" / "Lora" / "l.safetensors")
    touch(tmp_path / "cfg" / "rel" / "y.safetensors")
    touch(settings.models_dir / "checkpoints" / "local.safetensors")
    config = tmp_path / "cfg" / "paths.yaml"
    config.write_text(
        "a111:\n"
        f"  base_path: {shared}\n"
        "  checkpoints: models/Stable-diffusion\n"
        "  loras: |\n"
        "    models/Lora\n"
        "    models/LyCORIS\n"
        "mine:\n"
        "  is_default: true\n"
        "  checkpoints: rel\n"
    )
    settings.extra_model_paths = [config]
    dirs = folders.folder_dirs(settings, "checkpoints")
    assert dirs[0] == tmp_path / "cfg" / "rel"  # is_default first, relative to the YAML file
    assert settings.models_dir / "checkpoints" in dirs
    assert dirs[-1] == folders.BUNDLED_DIR / "checkpoints"  # the bundled demo family last
    assert folders.list_files(settings, "checkpoints") == [
        "local.safetensors",
        "nodegraph-demo-sd1.safetensors",
        "x.safetensors",
        "y.safetensors",
    ]
    assert folders.list_files(settings, "loras") == ["l.safetensors"]


def test_extra_model_paths_beside_the_base_dir(settings: Settings, tmp_path: Path) -> None:
    touch(tmp_path / "elsewhere" / "e.safetensors")
    (tmp_path / "extra_model_paths.yaml").write_text(f"x:\n  vae: {tmp_path / 'elsewhere'}\n")
    assert folders.list_files(settings, "vae") == ["e.safetensors"]


def test_malformed_yaml_names_the_file(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n- not sections\n")
    settings.extra_model_paths = [bad]
    with pytest.raises(folders.ModelPathsError, match=r"bad\.yaml"):
        folders.folder_dirs(settings, "checkpoints")


def test_checkpoint_list_shows_diffusers_folders_not_their_files(settings: Settings) -> None:
    ckpts = settings.models_dir / "checkpoints"
    touch(ckpts / "single.safetensors")
    touch(ckpts / "my-model" / "model_index.json")
    touch(ckpts / "my-model" / "unet" / "diffusion_pytorch_model.safetensors")
    assert checkpoint_names(settings) == [
        "my-model",
        "nodegraph-demo-sd1.safetensors",
        "single.safetensors",
    ]
