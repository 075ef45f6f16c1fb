"""``evapo batch``: a CSV of points over one date range, in-process or on a server, with progress.

Without ``--server`` the batch runs in this process (the configured database and weather cache,
the embedded batch runner); with it, the CSV is uploaded to ``POST /api/v1/batches`` and the
batch WebSocket drives the progress bar, and Ctrl-C asks the server to cancel the batch
(``DELETE /api/v1/batches/{id}``) before exiting. The table is written as Parquet or CSV by the
output's suffix.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evapo.batches import BatchCreate, BatchInputError, parse_points_csv
from evapo.config import Settings

FORMATS = {".parquet": "parquet", ".csv": "csv"}


class BatchCliError(ValueError):
    """Bad input for ``evapo batch`` (the message says which option and why)."""


def output_format(output: Path) -> str:
    """``parquet`` or ``csv`` from the output file's suffix."""
    fmt = FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise BatchCliError(f"-o/--output: use a .parquet or .csv file name, got {output.name!r}")
    return fmt


def _given(choice: dict[str, str | None]) -> dict[str, str]:
    """The method options that were given (the others take the server's defaults)."""
    return {key: value for key, value in choice.items() if value is not None}


def read_body(
    points_csv: Path,
    start: str,
    end: str,
    *,
    limit: int,
    method: str | None = None,
    reference: str | None = None,
    rso: str | None = None,
) -> BatchCreate:
    """The batch body from the points file, dates and method options (errors name the line or
    option)."""
    try:
        text = points_csv.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchCliError(f"POINTS_CSV: cannot read {points_csv}: {exc}") from None
    try:
        points = parse_points_csv(text, limit=limit)
    except BatchInputError as exc:
        raise BatchCliError(f"{points_csv.name} {exc.field}: {exc.message}") from None
    choice = _given({"method": method, "reference": reference, "rso": rso})
    try:
        return BatchCreate.model_validate(
            {"points": [p.model_dump() for p in points], "start": start, "end": end} | choice
        )
    except ValidationError as exc:
        fields = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        where = "/".join(f"--{f}" for f in sorted(fields)) or "--start/--end"
        detail = "; ".join(e["msg"] for e in exc.errors())
        raise BatchCliError(f"{where}: {detail}") from None


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
    )


async def _track(
    events: AsyncIterator[dict[str, Any]], total: int, console: Console
) -> dict[str, Any]:
    """Drive the progress bar from batch events; return the terminal one."""
    with _bar(console) as bar:
        task = bar.add_task("points", total=total, detail="")
        async for event in events:
            if event["type"] == "PROGRESS" and event.get("data"):
                data = event["data"]
                bar.update(
                    task,
                    completed=data.get("done", 0) + data.get("failed", 0),
                    detail=f"done {data.get('done', 0)}, failed {data.get('failed', 0)}",
                )
            elif event["type"] in ("SUCCESS", "ERROR", "TIMEOUT"):
                return event
    raise ConnectionError("the batch's event stream ended before its last event")


async def run_local(
    body: BatchCreate, output: Path, settings: Settings, console: Console
) -> dict[str, Any]:
    """Compute the batch in this process and write its table; return the terminal event."""
    from evapo.batches import BatchRunner, batch_table, check_batch, create_batch, frame_bytes
    from evapo.services import close_services, open_services
    from evapo.store.batches import BatchStore

    problems = check_batch(body, settings)
    if problems:
        raise BatchCliError("; ".join(f"{p.field}: {p.message}" for p in problems))
    services = await open_services(settings, runner=False)
    try:
        store = BatchStore(services.engine)
        await store.init(create_tables=settings.mode == "embedded")
        batch = await create_batch(services, uuid4().hex, body)
        runner = BatchRunner(services)
        await runner.submit(batch.id, batch.n_points)

        async def events() -> AsyncIterator[dict[str, Any]]:
            async for event in services.events.follow(batch.id):
                if event is not None:
                    yield event.model_dump()

        last = await _track(events(), batch.n_points, console)
        await runner.wait(batch.id)
        final = await store.get(batch.id)
        assert final is not None
        if last["type"] == "SUCCESS":
            frame = await batch_table(final, services)
            data = await asyncio.to_thread(frame_bytes, frame, output_format(output))
            await asyncio.to_thread(output.write_bytes, data)
        return last
    finally:
        await close_services(services)


async def run_remote(
    points_csv: Path,
    *,
    start: str,
    end: str,
    server: str,
    output: Path,
    console: Console,
    choice: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Upload the CSV to ``server``, follow the batch socket, download the table.

    ``choice``: the ``method``/``reference``/``rso`` options given (None values are left out).
    """
    import httpx2
    from websockets.asyncio.client import connect

    fmt = output_format(output)
    async with httpx2.AsyncClient(base_url=server.rstrip("/"), timeout=120) as http:
        raw = await asyncio.to_thread(points_csv.read_bytes)
        files = {"file": (points_csv.name, raw, "text/csv")}
        form = {"start": start, "end": end} | _given(choice or {})
        answer = await http.post("/api/v1/batches", files=files, data=form)
        if answer.status_code != 202:
            raise BatchCliError(
                f"the server refused the batch ({answer.status_code}): {answer.text}"
            )
        accepted = answer.json()
        status = (await http.get(accepted["status_url"])).json()

        async def events() -> AsyncIterator[dict[str, Any]]:
            async with connect(accepted["ws_url"], proxy=None) as socket:
                async for raw in socket:
                    yield json.loads(raw)

        try:
            last = await _track(events(), int(status["points_total"]), console)
        except asyncio.CancelledError:  # Ctrl-C: stop the batch rather than leave it running
            await _cancel_remote(http, accepted, console)
            raise
        if last["type"] == "SUCCESS":
            table = await http.get(accepted["result_url"], params={"format": fmt})
            table.raise_for_status()
            await asyncio.to_thread(output.write_bytes, table.content)
    return last


async def _cancel_remote(
    http: Any, accepted: dict[str, Any], console: Console, *, timeout_s: float = 10.0
) -> None:
    """Ask the server to cancel the batch (``DELETE``) and say what it answered."""
    import httpx2

    batch_id = accepted["batch_id"]
    try:
        answer = await asyncio.wait_for(http.delete(accepted["status_url"]), timeout_s)
    except (httpx2.TransportError, TimeoutError) as exc:
        console.print(f"batch {batch_id}: could not ask the server to cancel it: {exc!r}")
        return
    if answer.status_code == 202:
        console.print(f"batch {batch_id}: cancel requested")
    else:
        console.print(f"batch {batch_id}: not cancelled ({answer.status_code}): {answer.text}")


def report(last: dict[str, Any], output: Path, console: Console) -> bool:
    """Print the outcome; True when the batch succeeded."""
    if last["type"] == "SUCCESS":
        s = last["summary"]
        console.print(
            f"{s['points_done']} of {s['points_total']} point(s) done, "
            f"{s['points_failed']} failed; table written to {output}"
        )
        return True
    console.print(f"[red]batch failed[/red]: {last.get('code', '')} {last.get('message', '')}")
    return False
