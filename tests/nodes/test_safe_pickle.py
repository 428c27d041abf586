"""The restricted checkpoint unpickler: weights load, Lightning metadata is inert, no code runs."""

from __future__ import annotations

import os
import pickle
import sys
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from nodes.sd.safe_pickle import (
    CheckpointFormatError,
    LightningPlaceholder,
    UnsafeCheckpointError,
    load_torch_file,
)

FORMATS = pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])


def save(obj: object, path: Path, zip_format: bool = True) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
    return path


class ExecPayload:
    """Unpickling this runs exec(), which would create `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


class SystemPayload:
    """Unpickling this runs os.system("touch marker")."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def lightning() -> Iterator[dict[str, type]]:
    """Stand-in Lightning classes, importable only while a checkpoint is being written."""
    made: dict[str, type] = {}
    added = []

    def define(module: str, name: str, base: type = object) -> None:
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            mod_name = ".".join(parts[:i])
            if mod_name not in sys.modules:
                sys.modules[mod_name] = types.ModuleType(mod_name)
                added.append(mod_name)
        cls = type(name, (base,), {"__module__": module})
        setattr(sys.modules[module], name, cls)
        made[name] = cls

    define("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")
    define("pytorch_lightning.utilities.parsing", "AttributeDict", dict)
    define("pytorch_lightning.trainer.states", "TrainerState")
    yield made
    for mod_name in reversed(added):
        sys.modules.pop(mod_name, None)


def lightning_checkpoint(classes: dict[str, type], weights: dict[str, torch.Tensor]) -> dict:
    state = classes["TrainerState"]()
    state.fn = "fit"
    state.best = torch.tensor(0.5)
    return {
        "epoch": 6,
        "global_step": np.int64(470000),
        "pytorch-lightning_version": "1.4.2",
        "state_dict": weights,
        "callbacks": {classes["ModelCheckpoint"]: {"best_model_score": torch.tensor(0.1)}},
        "hyper_parameters": classes["AttributeDict"](lr=1e-4, scale=np.float32(0.18215)),
        "trainer_state": state,
        "tags": {"sd", "v1"},
    }


def unload(classes: dict[str, type]) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "pytorch_lightning"]:
        del sys.modules[name]


@FORMATS
def test_plain_tensor_checkpoint_loads(tmp_path: Path, zip_format: bool) -> None:
    weights = {"a.weight": torch.randn(3, 4), "b": torch.arange(5)}
    path = save({"state_dict": weights, "step": 3}, tmp_path / "plain.ckpt", zip_format)
    loaded = load_torch_file(path)
    assert loaded["step"] == 3
    assert torch.equal(loaded["state_dict"]["a.weight"], weights["a.weight"])
    assert torch.equal(loaded["state_dict"]["b"], weights["b"])


@FORMATS
def test_lightning_metadata_becomes_inert_placeholders(
    tmp_path: Path, lightning: dict[str, type], zip_format: bool
) -> None:
    weights = {"model.w": torch.randn(2, 2)}
    path = save(lightning_checkpoint(lightning, weights), tmp_path / "l.ckpt", zip_format)
    unload(lightning)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # the reason the fallback exists
    loaded = load_torch_file(path)
    assert torch.equal(loaded["state_dict"]["model.w"], weights["model.w"])
    assert loaded["global_step"] == 470000
    assert loaded["tags"] == {"sd", "v1"}
    (callback,) = loaded["callbacks"]
    assert issubclass(callback, LightningPlaceholder)
    assert callback.original_name == "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"
    assert isinstance(loaded["trainer_state"], LightningPlaceholder)
    assert not hasattr(loaded["trainer_state"], "fn")  # state dropped, nothing of it kept
    assert isinstance(loaded["hyper_parameters"], LightningPlaceholder)
    assert "pytorch_lightning" not in sys.modules


@FORMATS
@pytest.mark.parametrize("payload", [ExecPayload, SystemPayload], ids=["exec", "os.system"])
def test_malicious_pickle_is_refused_without_running(
    tmp_path: Path, zip_format: bool, payload: type
) -> None:
    marker = tmp_path / "pwned"
    obj = {"state_dict": {"w": torch.ones(1)}, "x": payload(marker)}
    path = save(obj, tmp_path / "e.ckpt", zip_format)
    with pytest.raises(UnsafeCheckpointError, match=r"exec|system") as info:
        load_torch_file(path)
    assert "e.ckpt" in str(info.value)
    assert not marker.exists()


def test_payload_is_real_when_loaded_unsafely(tmp_path: Path) -> None:
    """Control for the test above: the same payload does create the file with a plain load."""
    marker = tmp_path / "pwned"
    path = save({"x": ExecPayload(marker)}, tmp_path / "e.ckpt")
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_malicious_global_beside_lightning_metadata_is_refused(
    tmp_path: Path, lightning: dict[str, type]
) -> None:
    marker = tmp_path / "pwned"
    obj = lightning_checkpoint(lightning, {"w": torch.ones(1)})
    obj["evil"] = ExecPayload(marker)
    path = save(obj, tmp_path / "mixed.ckpt")
    unload(lightning)
    with pytest.raises(UnsafeCheckpointError, match="exec"):
        load_torch_file(path)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol 4")
def test_protocol_4_stack_global_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "raw.pt"
    path.write_bytes(pickle.dumps({"x": SystemPayload(marker)}, protocol=4))
    with pytest.raises(UnsafeCheckpointError, match="system"):
        load_torch_file(path)
    assert not marker.exists()


def test_unreadable_files_get_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointFormatError, match=r"empty\.ckpt: the file is empty"):
        load_torch_file(empty)
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(CheckpointFormatError, match=r"junk\.ckpt: not a readable"):
        load_torch_file(junk)
    text = tmp_path / "notes.pt"
    text.write_text("hello, this is text\n")
    with pytest.raises(CheckpointFormatError, match=r"notes\.pt"):
        load_torch_file(text)
    other_zip = tmp_path / "other.ckpt"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "not torch")
    with pytest.raises(CheckpointFormatError, match=r"other\.ckpt"):
        load_torch_file(other_zip)
    with pytest.raises(FileNotFoundError, match=r"missing\.ckpt"):
        load_torch_file(tmp_path / "missing.ckpt")


def test_non_dict_checkpoint_is_rejected(tmp_path: Path) -> None:
    path = save(torch.ones(3), tmp_path / "tensor.pt")
    with pytest.raises(CheckpointFormatError, match="holds a Tensor"):
        load_torch_file(path)
