"""Run the fake upstream APIs: in the foreground (CLI) or in a background thread (tests, demos)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from evapo.fakeapi.app import create_app


def serve(data_dir: Path | str, *, host: str = "127.0.0.1", port: int = 9100) -> None:
    """Serve the fake APIs until interrupted."""
    uvicorn.run(create_app(data_dir), host=host, port=port, log_level="warning", access_log=False)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def run_in_thread(
    data_dir: Path | str, *, host: str = "127.0.0.1", port: int | None = None
) -> Iterator[str]:
    """Start the fake in a daemon thread on a free port; yield its base URL, stop on exit.

    Use the URL as ``EVAPO_UPSTREAM_URL`` (``Settings(upstream_url=url)``); control endpoints are
    at ``{url}/_control/...``.
    """
    config = uvicorn.Config(
        create_app(data_dir),
        host=host,
        port=port or free_port(host),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="evapo-fake-apis", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"fake APIs did not start on {host}:{config.port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5.0)
