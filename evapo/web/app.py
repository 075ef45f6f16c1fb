"""Create the Dash dashboard on the API's FastAPI server and serve it at ``/``."""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from dash import Dash
from fastapi import FastAPI, Response

from evapo.config import Settings
from evapo.logging import get_logger
from evapo.web.callbacks import register_callbacks
from evapo.web.layout import build_layout

ASSETS = Path(__file__).with_name("assets")
#: Route of the built-in plain tile, usable as ``EVAPO_TILE_URL`` when offline.
LOCAL_TILE_ROUTE = "/_evapo/tiles/{z}/{x}/{y}.png"

log = get_logger(__name__)


class _Dash(Dash):
    """Dash without its WebSocket callback channel: no callback here uses it, so the renderer
    opens no socket of its own (the only sockets a page opens are its jobs' ``/ws/jobs/{id}``)."""

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = super()._config()  # type: ignore[no-untyped-call]
        config.pop("websocket", None)
        return config


@lru_cache(maxsize=1)
def plain_tile_png() -> bytes:
    """A 256 x 256 light-grey PNG tile (built once, no imaging library needed)."""
    size = 256
    row = b"\x00" + bytes((0xE8, 0xEC, 0xEF)) * size
    raw = row * size

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def mount_dashboard(app: FastAPI, settings: Settings) -> None:
    """Create the Dash app on ``app`` (call after every API route is registered); serve at ``/``."""

    async def plain_tile(z: int, x: int, y: int) -> Response:
        return Response(
            plain_tile_png(),
            media_type="image/png",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.add_api_route(LOCAL_TILE_ROUTE, plain_tile, methods=["GET"], include_in_schema=False)
    dash_app = _Dash(
        "evapo.web",
        server=cast(Any, app),
        assets_folder=str(ASSETS),
        serve_locally=True,
        title="Evapo",
        update_title=cast(Any, None),
        compress=False,
    )
    dash_app.layout = build_layout(settings.tile_url)
    register_callbacks(dash_app)
    log.info("dashboard_mounted", path="/", tile_url=settings.tile_url or None)
