"""The pure path-safety helpers behind the file routes: spelling checks, real-path
containment, upload-name sanitising, header-safe names and collision-safe atomic stores."""

from __future__ import annotations

import threading
from pathlib import Path

from nodegraph.paths import (
    content_disposition,
    resolve_inside,
    sanitize_upload_name,
    split_annotation,
    store_file,
    unsafe_reason,
)


def test_unsafe_reason() -> None:
    for ok in ("a.png", "a..png", "sub/dir", "", "...", "x/..y"):
        assert unsafe_reason(ok) is None, ok
    for bad in ("..", "../x", "x/..", "/abs", "a\\b", "a\x00b"):
        assert unsafe_reason(bad), bad


def test_resolve_inside(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / "d").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    (base / "link").symlink_to(tmp_path / "out", target_is_directory=True)
    assert resolve_inside(base, "d", "x.png") == (base / "d" / "x.png").resolve()
    assert resolve_inside(base, "") == base.resolve()
    assert resolve_inside(base, "link", "x") is None
    assert resolve_inside(base, "..", "base") is None
    assert resolve_inside(base, "/etc") is None


def test_sanitize_upload_name() -> None:
    assert sanitize_upload_name("../../a.png") == "a.png"
    assert sanitize_upload_name("C:\\Users\\me\\a b.png") == "a b.png"
    assert sanitize_upload_name("a\x00\x1b\nb.png") == "ab.png"
    for bad in ("", ".", "..", "dir/", " ", "\x00", "x" * 300):
        assert sanitize_upload_name(bad) is None, bad


def test_content_disposition_is_header_safe() -> None:
    assert content_disposition('a"b\r\n.png') == 'filename="a\\"b.png"'
    assert content_disposition("é.png") == "filename=\"?.png\"; filename*=UTF-8''%C3%A9.png"
    assert content_disposition("x.html", attachment=True) == 'attachment; filename="x.html"'


def test_store_file_concurrent_uploads_never_clobber(tmp_path: Path) -> None:
    names: list[str] = []
    payloads = [f"payload {i}".encode() for i in range(16)]

    def upload(data: bytes) -> None:
        names.append(store_file(tmp_path, "same.png", data, overwrite=False))

    threads = [threading.Thread(target=upload, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(names)) == len(payloads)
    assert sorted((tmp_path / n).read_bytes() for n in names) == sorted(payloads)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_split_annotation() -> None:
    assert split_annotation("x.png [output]") == ("x.png", "output")
    assert split_annotation("x.png [temp]") == ("x.png", "temp")
    assert split_annotation("x.png[input]") == ("x.png[input]", None)
    assert split_annotation("x.png") == ("x.png", None)


def test_store_file_overwrite_and_reuse(tmp_path: Path) -> None:
    assert store_file(tmp_path / "new", "a.png", b"1", overwrite=False) == "a.png"
    assert store_file(tmp_path / "new", "a.png", b"1", overwrite=False) == "a.png"
    assert store_file(tmp_path / "new", "a.png", b"2", overwrite=False) == "a (1).png"
    assert store_file(tmp_path / "new", "a.png", b"3", overwrite=True) == "a.png"
    assert (tmp_path / "new" / "a.png").read_bytes() == b"3"
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["a (1).png", "a.png"]
