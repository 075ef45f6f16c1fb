"""docs/PROTOCOL.md and docs/SETTINGS.md are generated: committed files equal a fresh render."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_protocol", ROOT / "scripts" / "gen_protocol.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_protocol_matches_the_models() -> None:
    generated = load_generator().render()
    committed = (ROOT / "docs" / "PROTOCOL.md").read_text()
    assert committed == generated, "docs/PROTOCOL.md is stale: run python scripts/gen_protocol.py"


def test_committed_settings_list_matches_the_config() -> None:
    generated = load_generator().render_settings()
    committed = (ROOT / "docs" / "SETTINGS.md").read_text()
    assert committed == generated, "docs/SETTINGS.md is stale: run python scripts/gen_protocol.py"


def test_settings_list_names_every_setting() -> None:
    from evapo.config import Settings

    text = load_generator().render_settings()
    for name in Settings.model_fields:
        assert f"`EVAPO_{name.upper()}`" in text, name
    assert "| `EVAPO_JOB_DEADLINE_S` | `float` | `300.0` | gt 0, le 24 * 3600 |" in text


def test_protocol_names_every_route_and_message() -> None:
    text = load_generator().render()
    for needle in (
        "| POST | `/api/v1/jobs`",
        "| GET | `/api/v1/jobs/{job_id}/result`",
        "| DELETE | `/api/v1/jobs/{job_id}`",
        "### PROGRESS",
        "### SUCCESS",
        "### ERROR",
        "### TIMEOUT",
        "### HEARTBEAT",
        "closes with code 4404",
        "- `/ws/jobs/{job_id}`",
    ):
        assert needle in text, needle


def test_type_rendering() -> None:
    gen = load_generator()
    assert gen.type_of({"type": "array", "items": {"$ref": "#/components/schemas/JobPublic"}}) == (
        "list[[JobPublic](#jobpublic)]"
    )
    assert gen.type_of({"anyOf": [{"type": "string"}, {"type": "null"}]}) == "string \\| null"
    assert gen.type_of({"type": "string", "format": "date"}) == "string (date)"
    assert gen.type_of({"const": "PROGRESS"}) == '`"PROGRESS"`'
