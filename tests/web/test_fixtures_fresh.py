"""The committed web fixtures must be exactly what make_fixtures.py produces now, so the
JavaScript converter is always compared with the current Python converter."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.web import make_fixtures


@pytest.fixture(scope="module")
def generated() -> dict[str, str | bytes]:
    return make_fixtures.build()


def png_texts(data: bytes) -> tuple[tuple[int, int], dict[str, str]]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size, dict(image.text)  # type: ignore[attr-defined]


def test_no_stale_or_missing_fixture_files(generated: dict[str, str | bytes]) -> None:
    committed = {p.name for p in make_fixtures.FIXTURES.iterdir()}
    assert committed == set(generated), "run: python tests/web/make_fixtures.py"


def test_fixtures_match_the_generator(generated: dict[str, str | bytes]) -> None:
    stale = []
    for name, content in generated.items():
        path = make_fixtures.FIXTURES / name
        if isinstance(content, bytes):  # PNG bytes depend on zlib; compare what matters
            if png_texts(path.read_bytes()) != png_texts(content):
                stale.append(name)
        elif path.read_text("utf-8") != content:
            stale.append(name)
    assert not stale, f"stale fixtures {stale}: run python tests/web/make_fixtures.py"


def test_fixtures_cover_the_cases_the_node_tests_need(generated: dict[str, str | bytes]) -> None:
    names = {n.removesuffix(".ui.json") for n in generated if n.endswith(".ui.json")}
    assert {
        "txt2img",
        "reroute",
        "bypass",
        "muted",
        "converted_widget",
        "note",
        "controls",
        "unknown",
        "v1",
    } <= names
    for name in names:
        assert f"{name}.expected.json" in generated
