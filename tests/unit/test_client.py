"""Client: URL building, and follow() over a real WebSocket server that drops the connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from evapo.client import ConnectionLost, EvapoClient, JobNotFound, ws_url
from evapo.events.messages import Message, Progress, Success


def test_ws_url_maps_scheme_and_keeps_prefix() -> None:
    assert ws_url("http://h:8000", "j1") == "ws://h:8000/ws/jobs/j1?after=0"
    assert ws_url("https://h/evapo/", "j1", 7) == "wss://h/evapo/ws/jobs/j1?after=7"


def _events(job: str) -> list[str]:
    out = [
        Progress(job_id=job, seq=i, ts=1.0, progress=i * 10, step=f"s{i}", message="m")
        for i in range(1, 6)
    ]
    done = Success(job_id=job, seq=6, ts=1.0, summary={"total": 1.0}, result_url="/r")
    return [e.model_dump_json() for e in out] + [done.model_dump_json()]


class FlakyServer:
    """Honours ?after=; the first connection dies (no close frame) after 3 events."""

    def __init__(self, *, ignore_after: bool = False) -> None:
        self.afters: list[int] = []
        self.ignore_after = ignore_after

    async def handler(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        query = parse_qs(urlsplit(connection.request.path).query)
        job = connection.request.path.split("/")[3].split("?")[0]
        if job == "missing":
            await connection.close(4404, "unknown job")
            return
        after = int(query["after"][0])
        self.afters.append(after)
        events = _events(job)
        start = 0 if self.ignore_after else after
        for i, raw in enumerate(events[start:], start=start):
            await connection.send(raw)
            if len(self.afters) == 1 and i == 2:
                connection.transport.abort()  # a dropped connection, not a clean close
                return
        await connection.close(1000)


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[FlakyServer, str]]:
    state = FlakyServer()
    server: Server
    async with serve(state.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield state, f"http://127.0.0.1:{port}"


async def test_follow_reconnects_with_after_and_misses_nothing(
    flaky: tuple[FlakyServer, str],
) -> None:
    state, url = flaky
    seen: list[Message] = []
    async with EvapoClient(url, reconnect_delay_s=0.01) as client:
        final = await client.follow("job1", on_message=seen.append)
    assert final.type == "SUCCESS"
    assert [m.seq for m in seen if m.type != "HEARTBEAT"] == [1, 2, 3, 4, 5, 6]
    assert state.afters == [0, 3]


async def test_follow_drops_duplicates_from_a_replaying_server(
    flaky: tuple[FlakyServer, str],
) -> None:
    state, url = flaky
    state.ignore_after = True  # the server replays everything on reconnect
    seen: list[Message] = []
    async with EvapoClient(url, reconnect_delay_s=0.01) as client:
        await client.follow("job1", on_message=seen.append)
    assert [m.seq for m in seen if m.type != "HEARTBEAT"] == [1, 2, 3, 4, 5, 6]


async def test_follow_unknown_job_raises(flaky: tuple[FlakyServer, str]) -> None:
    _, url = flaky
    async with EvapoClient(url) as client:
        with pytest.raises(JobNotFound):
            await client.follow("missing")


async def test_follow_gives_up_when_nothing_listens() -> None:
    async with EvapoClient("http://127.0.0.1:9", max_reconnects=2, reconnect_delay_s=0.01) as c:
        with pytest.raises(ConnectionLost, match="3 times"):
            await c.follow("job1")
        with pytest.raises(ConnectionError, match="cannot reach"):
            await c.status("job1")
