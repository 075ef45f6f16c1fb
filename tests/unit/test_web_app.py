"""Mounting the dashboard on a FastAPI app: page at /, every asset local, built-in tile."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from evapo.config import Settings
from evapo.web import LOCAL_TILE_ROUTE, mount_dashboard
from evapo.web.app import plain_tile_png


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()

    @app.get("/api/v1/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    mount_dashboard(app, Settings(tile_url=LOCAL_TILE_ROUTE))
    with TestClient(app) as test_client:
        yield test_client


def test_index_is_the_dashboard_and_api_routes_still_answer(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "<title>Evapo</title>" in page.text
    assert client.get("/api/v1/ping").json() == {"pong": "yes"}


def test_every_script_and_stylesheet_is_served_locally(client: TestClient) -> None:
    html = client.get("/").text
    urls = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert any("bootstrap.min.css" in u for u in urls)
    assert any("evapo.js" in u for u in urls)
    assert any("dash_leaflet" in u for u in urls)
    for url in urls:
        assert url.startswith("/"), f"not local: {url}"
        assert client.get(url).status_code == 200, url


def test_page_config_opens_no_dash_websocket(client: TestClient) -> None:
    html = client.get("/").text
    config = re.search(r'<script id="_dash-config"[^>]*>(.*?)</script>', html, re.S)
    assert config is not None
    assert '"websocket"' not in config.group(1)


def test_vendored_bootstrap_keeps_its_licence_header(client: TestClient) -> None:
    css = client.get("/assets/bootstrap.min.css").text
    assert "Bootstrap  v5.3.9" in css[:200]
    assert "Licensed under MIT" in css[:300]
    assert "sourceMappingURL" not in css


def test_builtin_tile_is_a_valid_png(client: TestClient) -> None:
    answer = client.get("/_evapo/tiles/3/2/4.png")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    png = answer.content
    assert png == plain_tile_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (256, 256)
    # Every chunk's CRC is right (a browser would refuse the image otherwise).
    pos = 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        tag_data = png[pos + 4 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(tag_data) & 0xFFFFFFFF == crc
        pos += 12 + length


def test_no_tile_layer_when_the_tile_url_is_empty() -> None:
    app = FastAPI()
    mount_dashboard(app, Settings(tile_url=""))
    with TestClient(app) as test_client:
        layout = test_client.get("/_dash-layout").text
    assert "TileLayer" not in layout
    assert '"id":"map"' in layout.replace(" ", "")
