"""WebSocket/event messages: one discriminated union, the single source of the protocol."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str
    seq: int = Field(0, ge=0, description="Per-job increasing sequence number (1, 2, ...).")
    ts: float = Field(0.0, description="Unix time (s) at which the event was emitted.")


class Progress(_Message):
    """A real step of the job happened."""

    type: Literal["PROGRESS"] = "PROGRESS"
    progress: float = Field(ge=0, le=100, description="Percent done.")
    step: str = Field(description="Machine-readable step name, e.g. 'fetch:nasa_power'.")
    message: str = Field(description="Human-readable description of the step.")
    data: dict[str, Any] | None = Field(None, description="Optional step details.")


class Success(_Message):
    """Terminal: the job finished and its result is stored."""

    type: Literal["SUCCESS"] = "SUCCESS"
    summary: dict[str, Any]
    result_url: str


class Error(_Message):
    """Terminal: the job failed."""

    type: Literal["ERROR"] = "ERROR"
    code: str = Field(description="Stable error code, e.g. 'no_source', 'cancelled', 'internal'.")
    message: str


class Timeout(_Message):
    """Terminal: the job passed its deadline."""

    type: Literal["TIMEOUT"] = "TIMEOUT"
    message: str


class Heartbeat(BaseModel):
    """Sent on an idle socket; not part of the job's log (no seq)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["HEARTBEAT"] = "HEARTBEAT"
    job_id: str
    ts: float


Event = Annotated[Progress | Success | Error | Timeout, Field(discriminator="type")]
"""A logged job event (has a seq)."""
Message = Annotated[Progress | Success | Error | Timeout | Heartbeat, Field(discriminator="type")]
"""Anything the WebSocket sends."""

TERMINAL_TYPES: frozenset[str] = frozenset({"SUCCESS", "ERROR", "TIMEOUT"})

event_adapter: TypeAdapter[Event] = TypeAdapter(Event)
message_adapter: TypeAdapter[Message] = TypeAdapter(Message)


def is_terminal(event: Event) -> bool:
    """True for SUCCESS, ERROR and TIMEOUT."""
    return event.type in TERMINAL_TYPES


def messages_json_schema() -> dict[str, Any]:
    """JSON Schema of every WebSocket message."""
    return message_adapter.json_schema()
