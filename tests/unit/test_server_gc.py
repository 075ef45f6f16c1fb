"""``evapo serve`` moves what start-up built out of the collector's reach once it is done."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from starlette.types import Message, Receive, Scope, Send

from evapo.api.server import GC_THRESHOLDS, frozen_after_startup


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


async def test_freezes_and_tunes_the_collector_when_startup_completes(restored_gc: None) -> None:
    seen: list[tuple[str, int]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        seen.append(("before", gc.get_freeze_count()))
        await send({"type": "lifespan.startup.complete"})

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        seen.append((message["type"], gc.get_freeze_count()))

    gc.unfreeze()
    await frozen_after_startup(app)({"type": "lifespan"}, receive, send)
    assert seen[0] == ("before", 0)
    assert seen[1][0] == "lifespan.startup.complete"
    assert seen[1][1] > 0
    assert gc.get_threshold() == GC_THRESHOLDS


async def test_requests_pass_through_untouched(restored_gc: None) -> None:
    calls: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope["type"])

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        return None

    before = gc.get_freeze_count()
    await frozen_after_startup(app)({"type": "http"}, receive, send)
    assert calls == ["http"]
    assert gc.get_freeze_count() == before
