from __future__ import annotations

import pytest
from pydantic import ValidationError

from evapo.config import Settings


def test_upstream_url_maps_every_api_to_host_path() -> None:
    s = Settings(upstream_url="http://127.0.0.1:9100/")
    assert s.api_base("nasa_power") == "http://127.0.0.1:9100/power.larc.nasa.gov"
    assert s.api_base("met_norway") == "http://127.0.0.1:9100/api.met.no"


def test_real_hosts_by_default() -> None:
    assert Settings().api_base("openmeteo_archive") == "https://archive-api.open-meteo.com"


@pytest.mark.parametrize(
    ("field", "value"),
    [("nws_url", "ftp://x"), ("database_url", "mysql://x"), ("redis_url", "http://x")],
)
def test_bad_url_names_the_setting(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(**{field: value})  # type: ignore[arg-type]
    assert field in str(info.value)


def test_distributed_refuses_sqlite() -> None:
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Settings(mode="distributed")


@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"])
def test_in_memory_sqlite_is_refused_with_the_reason(url: str) -> None:
    with pytest.raises(ValidationError, match="in-memory SQLite is not supported"):
        Settings(database_url=url)
