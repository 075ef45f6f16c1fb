"""Python client of the Evapo API: submit a job, follow its WebSocket (reconnecting), fetch results.

Async use::

    async with EvapoClient("http://127.0.0.1:8000") as client:
        job = await client.submit(lat=-5.09, lon=-42.8, start="2020-01-01", end="2020-12-31")
        final = await client.follow(job.job_id, on_message=print)
        rows = (await client.result(job.job_id))["rows"]

Sync use: ``run_job_sync(server, lat=..., lon=..., start=..., end=...)``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Required, TypedDict, Unpack
from urllib.parse import urlsplit, urlunsplit

import httpx2
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from evapo.events.messages import Event, Heartbeat, Message, is_terminal, message_adapter

OnMessage = Callable[[Message], Awaitable[None] | None]
"""Called with every message (replayed, live and HEARTBEAT), in order, without duplicates."""


class ClientError(Exception):
    """The server refused a request; ``status`` is the HTTP status, ``detail`` its body."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {_describe(detail)}")
        self.status = status
        self.detail = detail


def _describe(detail: Any) -> str:
    """FastAPI's 422 list as ``field: why; ...``; anything else as it is."""
    if isinstance(detail, list) and all(isinstance(d, dict) and "msg" in d for d in detail):
        return "; ".join(f"{d.get('loc', ['?'])[-1]}: {d['msg']}" for d in detail)
    return str(detail)


class JobNotFound(ClientError):
    """The server does not know the job (HTTP 404 or WebSocket close 4404)."""


class ConnectionLost(Exception):
    """The WebSocket kept failing more than ``max_reconnects`` times in a row."""


@dataclass(frozen=True)
class Submitted:
    """Answer of a submit: the job id and where to follow and fetch it."""

    job_id: str
    status_url: str
    ws_url: str
    result_url: str


class JobFields(TypedDict, total=False):
    """The job of :meth:`EvapoClient.submit`, as keywords that the helpers below pass on."""

    lat: Required[float]
    lon: Required[float]
    start: Required[date | str]
    end: Required[date | str]
    sources: Sequence[str] | None
    elevation: float | None
    method: str | None
    reference: str | None
    rso: str | None


def ws_url(server: str, job_id: str, after: int = 0) -> str:
    """The WebSocket URL of a job on ``server`` (http -> ws, https -> wss)."""
    parts = urlsplit(server.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = f"{parts.path}/ws/jobs/{job_id}"
    return urlunsplit((scheme, parts.netloc, path, f"after={after}", ""))


def _iso(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else value


class EvapoClient:
    """Async client of one Evapo server."""

    def __init__(
        self,
        server: str,
        *,
        timeout_s: float = 30.0,
        max_reconnects: int = 10,
        reconnect_delay_s: float = 0.2,
    ) -> None:
        self.server = server.rstrip("/")
        self.max_reconnects = max_reconnects
        self.reconnect_delay_s = reconnect_delay_s
        self._http = httpx2.AsyncClient(base_url=self.server, timeout=timeout_s)

    async def __aenter__(self) -> EvapoClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx2.TransportError as exc:
            raise ConnectionError(f"cannot reach {self.server}: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            error = JobNotFound if response.status_code == 404 else ClientError
            raise error(response.status_code, detail)
        return response

    async def submit(
        self,
        *,
        lat: float,
        lon: float,
        start: date | str,
        end: date | str,
        sources: Sequence[str] | None = None,
        elevation: float | None = None,
        method: str | None = None,
        reference: str | None = None,
        rso: str | None = None,
    ) -> Submitted:
        """Create a job; raises :class:`ClientError` (422 with per-field details) when refused.

        ``method`` (``fao56``/``asce``), ``reference`` (``short``/``tall``) and ``rso``
        (``simple``/``full``) choose the reference ET equation; omitted ones take the server's
        defaults (FAO-56 grass).
        """
        body: dict[str, Any] = {"lat": lat, "lon": lon, "start": _iso(start), "end": _iso(end)}
        if sources is not None:
            body["sources"] = list(sources)
        if elevation is not None:
            body["elevation"] = elevation
        for key, value in (("method", method), ("reference", reference), ("rso", rso)):
            if value is not None:
                body[key] = value
        data = (await self._request("POST", "/api/v1/jobs", json=body)).json()
        return Submitted(**{k: data[k] for k in ("job_id", "status_url", "ws_url", "result_url")})

    async def status(self, job_id: str) -> dict[str, Any]:
        """The job's status document."""
        data: dict[str, Any] = (await self._request("GET", f"/api/v1/jobs/{job_id}")).json()
        return data

    async def cancel(self, job_id: str) -> None:
        """Ask the server to cancel the job."""
        await self._request("DELETE", f"/api/v1/jobs/{job_id}")

    async def cancel_batch(self, batch_id: str) -> None:
        """Ask the server to cancel a batch (409 :class:`ClientError` when already final)."""
        await self._request("DELETE", f"/api/v1/batches/{batch_id}")

    async def result(self, job_id: str, format: Literal["json", "csv"] = "json") -> Any:
        """The result: a dict (``summary``, ``rows``) for JSON, the CSV text for CSV."""
        path = f"/api/v1/jobs/{job_id}/result"
        response = await self._request("GET", path, params={"format": format})
        return response.json() if format == "json" else response.text

    async def follow(
        self, job_id: str, *, after: int = 0, on_message: OnMessage | None = None
    ) -> Event:
        """Follow the job's events until the terminal one (returned), reconnecting with after=."""
        last = after
        failures = 0
        while True:
            try:
                async with connect(ws_url(self.server, job_id, last), proxy=None) as socket:
                    failures = 0
                    async for raw in socket:
                        message = message_adapter.validate_json(raw)
                        if not isinstance(message, Heartbeat):
                            if message.seq <= last:
                                continue
                            last = message.seq
                        if on_message is not None:
                            outcome = on_message(message)
                            if outcome is not None:
                                await outcome
                        if not isinstance(message, Heartbeat) and is_terminal(message):
                            return message
                    code = socket.close_code
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
            except (OSError, InvalidHandshake, TimeoutError):
                code = None
            if code == 4404:
                raise JobNotFound(404, f"unknown job {job_id}")
            failures += 1
            if failures > self.max_reconnects:
                raise ConnectionLost(f"WebSocket of job {job_id} failed {failures} times in a row")
            await asyncio.sleep(self.reconnect_delay_s * min(failures, 10))


async def run_job(
    server: str, *, on_message: OnMessage | None = None, **spec: Unpack[JobFields]
) -> tuple[Event, dict[str, Any] | None]:
    """Submit, follow to the end and fetch the JSON result (None unless SUCCESS)."""
    async with EvapoClient(server) as client:
        job = await client.submit(**spec)
        final = await client.follow(job.job_id, on_message=on_message)
        result = await client.result(job.job_id) if final.type == "SUCCESS" else None
        return final, result


def run_job_sync(server: str, **spec: Unpack[JobFields]) -> tuple[Event, dict[str, Any] | None]:
    """Blocking :func:`run_job` for scripts and notebooks without an event loop."""
    return asyncio.run(run_job(server, **spec))


def _num(value: object, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else "n/a"


async def submit_with_progress(
    server: str, *, output: Path | None = None, **spec: Unpack[JobFields]
) -> bool:
    """Submit, show a rich progress bar while following, write ``output`` (.csv or .json).

    Returns True on SUCCESS; prints the error and returns False otherwise.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    async with EvapoClient(server) as client:
        job = await client.submit(**spec)
        console.print(f"job {job.job_id} submitted")
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("queued", total=100)

            def show(message: Message) -> None:
                if message.type == "PROGRESS":
                    bar.update(task, completed=message.progress, description=message.message)
                elif message.type == "SUCCESS":
                    bar.update(task, completed=100, description="done")

            final = await client.follow(job.job_id, on_message=show)
        if final.type != "SUCCESS":
            detail = f"{final.code}: {final.message}" if final.type == "ERROR" else final.message
            console.print(f"[red]job {job.job_id} {final.type}[/red] {detail}")
            return False
        summary = final.summary
        console.print(
            f"ET0 total {_num(summary.get('eto_total_mm'), '.1f')} mm, "
            f"mean {_num(summary.get('eto_mean_mm'), '.2f')} mm/day "
            f"over {summary.get('n_days')} days ({summary.get('eto_method', 'fao56')})"
        )
        if output is not None:
            if output.suffix.lower() == ".csv":
                text = await client.result(job.job_id, "csv")
            else:
                text = json.dumps(await client.result(job.job_id), indent=1)
            await asyncio.to_thread(output.write_text, text)
            console.print(f"result written to {output}")
        return True
