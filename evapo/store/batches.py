"""Batches of points, their per-point results, and regions (SQLite or PostgreSQL).

A batch is one date range over many points. Each point is a row keyed by (batch id, point
index) whose status moves queued -> running -> succeeded | failed exactly once: a finished point
is never claimed again, so no point is computed twice even when a task is redelivered. The batch
row takes the final status only through a single guarded UPDATE (:meth:`BatchStore.complete_if_done`
when no point is open, :meth:`BatchStore.end` when it is cancelled or given up, which marks its
open points ``skipped``), so exactly one process wins and writes the terminal event.

Point results are stored under a shared lock on the batch row (PostgreSQL ``FOR SHARE``) and their
events appended before that transaction commits; ending a batch takes the row's exclusive lock, so
its terminal event always comes after every point event.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    and_,
    case,
    false,
    func,
    inspect,
    literal,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from evapo.logging import get_logger
from evapo.science.asce import Method, MethodChoice, Reference, RsoMethod
from evapo.store.db import Base, make_sessionmaker
from evapo.store.jobs import JobStatus, json_safe

log = get_logger(__name__)


class PointStatus(StrEnum):
    """Lifecycle of one point of a batch; the last three are final."""

    QUEUED = "queued"
    """Waiting for a worker."""
    RUNNING = "running"
    """A worker claimed it (a redelivered task may claim it again until it is final)."""
    SUCCEEDED = "succeeded"
    """Its daily rows are stored."""
    FAILED = "failed"
    """It ended with an error (``error_code``/``message`` say why) after its retries."""
    SKIPPED = "skipped"
    """Not computed: the batch was cancelled or given up before this point's result was stored."""

    @property
    def final(self) -> bool:
        """True for succeeded, failed and skipped."""
        return self in (PointStatus.SUCCEEDED, PointStatus.FAILED, PointStatus.SKIPPED)


class BatchRow(Base):
    """One batch: a date range over many points (a region refresh run is a batch too)."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    sources: Mapped[list[str] | None] = mapped_column(JSON)
    n_points: Mapped[int] = mapped_column(Integer)
    region: Mapped[str | None] = mapped_column(String(100), index=True)
    """Name of the region this run refreshes (None for a user batch)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Set by ``DELETE /api/v1/batches/{id}``; workers stop before their next point."""
    method: Mapped[str] = mapped_column(String(16), default="fao56", server_default="fao56")
    """Reference ET equation of every point (``fao56`` or ``asce``), as for a job."""
    reference: Mapped[str] = mapped_column(String(8), default="short", server_default="short")
    """Reference surface: ``short`` grass or ``tall`` alfalfa (ASCE only)."""
    rso: Mapped[str | None] = mapped_column(String(8))
    """Clear-sky radiation form (``simple``/``full``); None: the method's default."""


class BatchPointRow(Base):
    """One point of a batch and, once it succeeded, its daily rows (a JSON list)."""

    __tablename__ = "batch_points"

    batch_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    elevation: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    """Who computed the point (host:pid), for the record and the tests."""
    error_code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    rows: Mapped[str | None] = mapped_column(Text)
    """The point's daily rows as one JSON text (NaN written as null)."""
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Last change (created, claimed, re-queued, finished): the batch's progress clock."""


class RegionRow(Base):
    """A named set of points whose map is refreshed on a schedule."""

    __tablename__ = "regions"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    points: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    """How the points were given: ``{"kind": "points"}`` or ``{"kind": "bbox", ...}``."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class BatchRecord:
    """A batch as read from the store."""

    id: str
    status: JobStatus
    start: date
    end: date
    sources: list[str] | None
    n_points: int
    region: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error_code: str | None
    message: str | None
    cancel_requested: bool = False
    method: Method = "fao56"
    reference: Reference = "short"
    rso: RsoMethod | None = None

    @property
    def choice(self) -> MethodChoice:
        """The reference ET method every point of the batch computes with."""
        return MethodChoice(method=self.method, reference=self.reference, rso=self.rso)


@dataclass(frozen=True)
class PointRecord:
    """One point of a batch as read from the store (``rows`` only when asked for)."""

    idx: int
    name: str
    lat: float
    lon: float
    elevation: float | None
    status: PointStatus
    attempts: int
    worker: str | None
    error_code: str | None
    message: str | None
    rows: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Counts:
    """Points of a batch by state."""

    total: int
    done: int
    failed: int
    skipped: int = 0
    """Points never computed (the batch was cancelled or given up first)."""

    @property
    def finished(self) -> int:
        """Points computed to an end (succeeded or failed)."""
        return self.done + self.failed

    @property
    def open(self) -> int:
        """Points still queued or running."""
        return self.total - self.done - self.failed - self.skipped


@dataclass(frozen=True)
class OpenBatch:
    """What the sweeper needs to know about a queued or running batch."""

    id: str
    cancel_requested: bool
    open_points: int
    """Points queued or running."""
    running_points: int
    last_change: datetime
    """Latest of its creation, its start and any change of one of its points."""


@dataclass(frozen=True)
class RegionRecord:
    """A region as read from the store."""

    name: str
    points: list[dict[str, Any]]
    definition: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class PointOutcome:
    """How one point ended: its daily rows, or an error code and message."""

    idx: int
    rows: list[dict[str, Any]] | None
    error_code: str | None = None
    message: str | None = None


def _rows_text(rows: list[dict[str, Any]]) -> str:
    """The rows as one JSON text (NaN/inf and numpy scalars cleaned only when present)."""
    try:
        return json.dumps(rows, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError):
        return json.dumps(json_safe(rows), separators=(",", ":"), allow_nan=False)


def _outcome_values(outcome: PointOutcome) -> dict[str, Any]:
    if outcome.rows is not None:
        text = _rows_text(outcome.rows)
        return {
            "status": PointStatus.SUCCEEDED.value,
            "rows": text,
            "error_code": None,
            "message": None,
            "updated_at": _now(),
        }
    return {
        "status": PointStatus.FAILED.value,
        "error_code": outcome.error_code or "failed",
        "message": outcome.message or "",
        "updated_at": _now(),
    }


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _batch(row: BatchRow) -> BatchRecord:
    created = _utc(row.created_at)
    assert created is not None
    return BatchRecord(
        id=row.id,
        status=JobStatus(row.status),
        start=row.start,
        end=row.end,
        sources=row.sources,
        n_points=row.n_points,
        region=row.region,
        created_at=created,
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
        error_code=row.error_code,
        message=row.message,
        cancel_requested=bool(row.cancel_requested),
        method=cast("Method", row.method or "fao56"),
        reference=cast("Reference", row.reference or "short"),
        rso=cast("RsoMethod | None", row.rso),
    )


def _point(row: BatchPointRow, *, with_rows: bool) -> PointRecord:
    rows = json.loads(row.rows) if with_rows and row.rows else None
    return PointRecord(
        idx=row.idx,
        name=row.name,
        lat=row.lat,
        lon=row.lon,
        elevation=row.elevation,
        status=PointStatus(row.status),
        attempts=row.attempts,
        worker=row.worker,
        error_code=row.error_code,
        message=row.message,
        rows=rows,
    )


_OPEN_POINT = (PointStatus.QUEUED.value, PointStatus.RUNNING.value)
_OPEN_BATCH = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
Report = Callable[[list[int], Counts], Awaitable[None]]
"""Called inside :meth:`BatchStore.finish_points`'s transaction with the indices stored and the
batch's counts after them (appends the point events before the results commit)."""
TABLES: tuple[Table, ...] = (
    BatchRow.__table__,  # type: ignore[assignment]
    BatchPointRow.__table__,
    RegionRow.__table__,
)


def _add_missing_columns(conn: Connection) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for model columns an existing table lacks."""
    found = inspect(conn)
    for table in TABLES:
        have = {c["name"] for c in found.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            default = ""
            if column.server_default is not None:
                clause = column.server_default.arg  # type: ignore[attr-defined]
                if isinstance(clause, str):
                    clause = literal(clause)
                sql = clause.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                default = f" DEFAULT {sql}"
            null = "" if column.nullable or default else " NOT NULL"
            conn.exec_driver_sql(
                f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{default}{null}'
            )
            log.info("column_added", table=table.name, column=column.name)


def _finish_statement(batch_id: str, outcomes: list[PointOutcome]) -> Any:
    """One UPDATE storing every outcome whose point is still open, while the batch is open
    (its row share-locked until commit); RETURNING the indices stored."""
    point = BatchPointRow
    values = {o.idx: _outcome_values(o) for o in outcomes}
    batch_open = (
        select(BatchRow.id)
        .where(BatchRow.id == batch_id, BatchRow.status.in_(_OPEN_BATCH))
        .with_for_update(read=True)
        .exists()
    )

    def per_point(column: str) -> Any:
        given = {i: v[column] for i, v in values.items() if column in v}
        if not given:
            return getattr(point, column)
        return case(given, value=point.idx, else_=getattr(point, column))

    return (
        update(point)
        .where(
            point.batch_id == batch_id,
            point.idx.in_(list(values)),
            point.status.in_(_OPEN_POINT),
            batch_open,
        )
        .values(
            {
                column: per_point(column)
                for column in ("status", "rows", "error_code", "message", "updated_at")
            }
        )
        .returning(point.idx)
        .execution_options(synchronize_session=False)
    )


async def _counts(session: AsyncSession, batch_id: str) -> Counts:
    status = BatchPointRow.status

    def count(value: PointStatus) -> Any:
        return func.sum(case((status == value.value, 1), else_=0))

    query = select(
        func.count(),
        count(PointStatus.SUCCEEDED),
        count(PointStatus.FAILED),
        count(PointStatus.SKIPPED),
    ).where(BatchPointRow.batch_id == batch_id)
    total, done, failed, skipped = (await session.execute(query)).one()
    return Counts(int(total or 0), int(done or 0), int(failed or 0), int(skipped or 0))


class BatchStore:
    """Repository of batches, their points and regions. Every write is one short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._session = make_sessionmaker(engine)

    async def init(self, *, create_tables: bool = True) -> None:
        """Create the tables if missing (embedded mode; distributed mode runs migrations).

        A database made by an older version gets the columns added since (all nullable or
        with a server default), so an embedded user's file keeps working after an upgrade.
        """
        if create_tables:
            async with self.engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all, tables=list(TABLES))
                await conn.run_sync(_add_missing_columns)

    async def create(
        self,
        batch_id: str,
        *,
        start: date,
        end: date,
        points: list[dict[str, Any]],
        sources: list[str] | None = None,
        region: str | None = None,
        choice: MethodChoice | None = None,
    ) -> BatchRecord:
        """Store a queued batch and its queued points (``points``: name, lat, lon, elevation).

        ``choice``: the reference ET method of every point (default FAO-56 grass).
        """
        choice = choice or MethodChoice()
        row = BatchRow(
            id=batch_id,
            status=JobStatus.QUEUED.value,
            start=start,
            end=end,
            sources=sources,
            n_points=len(points),
            region=region,
            created_at=_now(),
            cancel_requested=False,
            method=choice.method,
            reference=choice.reference,
            rso=choice.rso,
        )
        async with self._session() as session, session.begin():
            session.add(row)
            await session.flush()
            session.add_all(
                BatchPointRow(
                    batch_id=batch_id,
                    idx=i,
                    name=str(p["name"]),
                    lat=float(p["lat"]),
                    lon=float(p["lon"]),
                    elevation=None if p.get("elevation") is None else float(p["elevation"]),
                    status=PointStatus.QUEUED.value,
                    attempts=0,
                    updated_at=row.created_at,
                )
                for i, p in enumerate(points)
            )
        return _batch(row)

    async def get(self, batch_id: str) -> BatchRecord | None:
        """The batch, or None when unknown."""
        async with self._session() as session:
            row = await session.get(BatchRow, batch_id)
            return None if row is None else _batch(row)

    async def points(
        self, batch_id: str, indices: list[int] | None = None, *, with_rows: bool = False
    ) -> list[PointRecord]:
        """The batch's points in index order (only ``indices`` when given)."""
        query = select(BatchPointRow).where(BatchPointRow.batch_id == batch_id)
        if indices is not None:
            query = query.where(BatchPointRow.idx.in_(indices))
        async with self._session() as session:
            rows = (await session.scalars(query.order_by(BatchPointRow.idx))).all()
            return [_point(r, with_rows=with_rows) for r in rows]

    async def counts(self, batch_id: str) -> Counts:
        """How many points there are, succeeded, failed and skipped."""
        async with self._session() as session:
            return await _counts(session, batch_id)

    async def stop_requested(self, batch_id: str) -> bool:
        """True when the batch was asked to cancel or is already final (unknown: True)."""
        query = select(BatchRow.cancel_requested, BatchRow.status).where(BatchRow.id == batch_id)
        async with self._session() as session:
            found = (await session.execute(query)).one_or_none()
        return found is None or bool(found[0]) or found[1] not in _OPEN_BATCH

    async def request_cancel(self, batch_id: str) -> bool:
        """Set the cancel flag of an open batch (False when it is unknown or already final)."""
        query = (
            update(BatchRow)
            .where(BatchRow.id == batch_id, BatchRow.status.in_(_OPEN_BATCH))
            .values(cancel_requested=True)
        )
        async with self._session() as session, session.begin():
            return bool((await session.execute(query)).rowcount)

    async def start(self, batch_id: str) -> bool:
        """Mark a queued batch running (False when it was not queued)."""
        query = (
            update(BatchRow)
            .where(BatchRow.id == batch_id, BatchRow.status == JobStatus.QUEUED.value)
            .values(status=JobStatus.RUNNING.value, started_at=_now())
        )
        async with self._session() as session, session.begin():
            return bool((await session.execute(query)).rowcount)

    async def claim_point(self, batch_id: str, idx: int, *, worker: str) -> PointRecord | None:
        """Mark an open point running (one more attempt); None when it is already final."""
        query = (
            update(BatchPointRow)
            .where(
                BatchPointRow.batch_id == batch_id,
                BatchPointRow.idx == idx,
                BatchPointRow.status.in_(_OPEN_POINT),
            )
            .values(
                status=PointStatus.RUNNING.value,
                attempts=BatchPointRow.attempts + 1,
                worker=worker,
                updated_at=_now(),
            )
        )
        async with self._session() as session, session.begin():
            if not (await session.execute(query)).rowcount:
                return None
        found = await self.points(batch_id, [idx])
        return found[0] if found else None

    async def claim_points(
        self, batch_id: str, indices: list[int] | None, *, worker: str
    ) -> list[PointRecord]:
        """Mark the open points among ``indices`` (all when None) running, in one statement.

        Returns the points claimed (one more attempt each); finished points are left alone.
        """
        where = [BatchPointRow.batch_id == batch_id, BatchPointRow.status.in_(_OPEN_POINT)]
        if indices is not None:
            where.append(BatchPointRow.idx.in_(indices))
        query = (
            update(BatchPointRow)
            .where(*where)
            .values(
                status=PointStatus.RUNNING.value,
                attempts=BatchPointRow.attempts + 1,
                worker=worker,
                updated_at=_now(),
            )
            .returning(BatchPointRow)
            .execution_options(synchronize_session=False)
        )
        async with self._session() as session, session.begin():
            rows = (await session.scalars(query)).all()
            return sorted((_point(row, with_rows=False) for row in rows), key=lambda p: p.idx)

    async def finish_points(
        self, batch_id: str, outcomes: list[PointOutcome], *, report: Report | None = None
    ) -> list[int]:
        """Store several points' rows or errors in one transaction; return the indices stored.

        A point already final is skipped (never stored twice), and nothing is stored once the
        batch is final. ``report`` runs inside the transaction (under the batch row's shared
        lock) with the stored indices and the counts after them.
        """
        if not outcomes:
            return []
        async with self._session() as session, session.begin():
            stored = sorted(await session.scalars(_finish_statement(batch_id, outcomes)))
            if report is not None and stored:
                await report(stored, await _counts(session, batch_id))
        return stored

    async def requeue_point(
        self, batch_id: str, idx: int, *, error_code: str, message: str
    ) -> bool:
        """Put a running point back in the queue for a retry, noting why the attempt failed."""
        query = (
            update(BatchPointRow)
            .where(
                BatchPointRow.batch_id == batch_id,
                BatchPointRow.idx == idx,
                BatchPointRow.status == PointStatus.RUNNING.value,
            )
            .values(
                status=PointStatus.QUEUED.value,
                error_code=error_code,
                message=message,
                updated_at=_now(),
            )
        )
        async with self._session() as session, session.begin():
            return bool((await session.execute(query)).rowcount)

    async def finish_point(
        self,
        batch_id: str,
        idx: int,
        *,
        rows: list[dict[str, Any]] | None,
        error_code: str | None = None,
        message: str | None = None,
    ) -> bool:
        """Store a point's rows (succeeded) or its error (failed); False when already final."""
        values = _outcome_values(PointOutcome(idx, rows, error_code, message))
        query = (
            update(BatchPointRow)
            .where(
                BatchPointRow.batch_id == batch_id,
                BatchPointRow.idx == idx,
                BatchPointRow.status.in_(_OPEN_POINT),
            )
            .values(**values)
        )
        async with self._session() as session, session.begin():
            return bool((await session.execute(query)).rowcount)

    async def complete_if_done(self, batch_id: str) -> BatchRecord | None:
        """Give the batch its final status once no point is open; the record only to the winner.

        Succeeded when at least one point succeeded, failed when every point failed.
        """
        counts = await self.counts(batch_id)
        if counts.open:
            return None
        ok = counts.done > 0
        no_open = ~(
            select(BatchPointRow.idx)
            .where(and_(BatchPointRow.batch_id == batch_id, BatchPointRow.status.in_(_OPEN_POINT)))
            .exists()
        )
        query = (
            update(BatchRow)
            .where(BatchRow.id == batch_id, BatchRow.status.in_(_OPEN_BATCH), no_open)
            .values(
                status=(JobStatus.SUCCEEDED if ok else JobStatus.FAILED).value,
                finished_at=_now(),
                error_code=None if ok else "all_points_failed",
                message=None if ok else f"every one of the {counts.total} point(s) failed",
            )
        )
        async with self._session() as session, session.begin():
            if not (await session.execute(query)).rowcount:
                return None
        return await self.get(batch_id)

    async def end(
        self,
        batch_id: str,
        status: JobStatus,
        *,
        error_code: str,
        message: str,
        only_if_idle: bool = False,
        stalled_since: datetime | None = None,
    ) -> BatchRecord | None:
        """End an open batch as failed, cancelled or timed out; its open points become skipped.

        ``only_if_idle``: only when none of its points is running. ``stalled_since``: only when
        neither the batch nor any of its points changed since then. Returns the final record to
        the one caller that ended it (None when it was already final, or busy).
        """
        if not status.final or status is JobStatus.SUCCEEDED:
            raise ValueError(f"end() sets failed/timed_out/cancelled, not {status}")
        where = [BatchRow.id == batch_id, BatchRow.status.in_(_OPEN_BATCH)]
        if stalled_since is not None:
            moved = (
                select(BatchPointRow.idx)
                .where(
                    BatchPointRow.batch_id == batch_id,
                    BatchPointRow.updated_at >= stalled_since,
                )
                .exists()
            )
            where += [
                func.coalesce(BatchRow.started_at, BatchRow.created_at) < stalled_since,
                ~moved,
            ]
        if only_if_idle:
            running = (
                select(BatchPointRow.idx)
                .where(
                    BatchPointRow.batch_id == batch_id,
                    BatchPointRow.status == PointStatus.RUNNING.value,
                )
                .exists()
            )
            where.append(~running)
        async with self._session() as session, session.begin():
            ended = await session.execute(
                update(BatchRow)
                .where(*where)
                .values(
                    status=status.value,
                    finished_at=_now(),
                    error_code=error_code,
                    message=message,
                )
            )
            if not ended.rowcount:
                return None
            await session.execute(
                update(BatchPointRow)
                .where(BatchPointRow.batch_id == batch_id, BatchPointRow.status.in_(_OPEN_POINT))
                .values(
                    status=PointStatus.SKIPPED.value,
                    error_code=error_code,
                    message=message,
                    updated_at=_now(),
                )
            )
        return await self.get(batch_id)

    async def fail(self, batch_id: str, *, error_code: str, message: str) -> bool:
        """End an open batch as failed (its open points are skipped)."""
        ended = await self.end(batch_id, JobStatus.FAILED, error_code=error_code, message=message)
        return ended is not None

    async def open_batch_states(self) -> list[OpenBatch]:
        """Every queued or running batch with its open and running points and last change."""
        point = BatchPointRow
        query = (
            select(
                BatchRow.id,
                BatchRow.cancel_requested,
                BatchRow.created_at,
                BatchRow.started_at,
                func.sum(case((point.status.in_(_OPEN_POINT), 1), else_=0)),
                func.sum(case((point.status == PointStatus.RUNNING.value, 1), else_=0)),
                func.max(point.updated_at),
            )
            .select_from(BatchRow)
            .outerjoin(point, point.batch_id == BatchRow.id)
            .where(BatchRow.status.in_(_OPEN_BATCH))
            .group_by(
                BatchRow.id, BatchRow.cancel_requested, BatchRow.created_at, BatchRow.started_at
            )
            .order_by(BatchRow.created_at)
        )
        async with self._session() as session:
            found = (await session.execute(query)).all()
        states = []
        for batch_id, cancel, created, started, n_open, n_running, touched in found:
            moments = [m for m in (_utc(created), _utc(started), _utc(touched)) if m is not None]
            states.append(
                OpenBatch(
                    id=batch_id,
                    cancel_requested=bool(cancel),
                    open_points=int(n_open or 0),
                    running_points=int(n_running or 0),
                    last_change=max(moments),
                )
            )
        return states

    async def open_batches(self) -> list[str]:
        """Ids of batches still queued or running, oldest first."""
        query = (
            select(BatchRow.id)
            .where(BatchRow.status.in_(_OPEN_BATCH))
            .order_by(BatchRow.created_at)
        )
        async with self._session() as session:
            return list((await session.scalars(query)).all())

    async def region_runs(self, region: str, *, limit: int = 20) -> list[BatchRecord]:
        """The region's refresh runs, newest first."""
        query = (
            select(BatchRow)
            .where(BatchRow.region == region)
            .order_by(BatchRow.created_at.desc(), BatchRow.id)
            .limit(limit)
        )
        async with self._session() as session:
            return [_batch(r) for r in (await session.scalars(query)).all()]

    async def last_completed_run(self, region: str) -> BatchRecord | None:
        """The region's newest succeeded run (None before the first one)."""
        query = (
            select(BatchRow)
            .where(BatchRow.region == region, BatchRow.status == JobStatus.SUCCEEDED.value)
            .order_by(BatchRow.finished_at.desc(), BatchRow.id)
            .limit(1)
        )
        async with self._session() as session:
            row = (await session.scalars(query)).first()
            return None if row is None else _batch(row)

    async def put_region(
        self, name: str, points: list[dict[str, Any]], definition: dict[str, Any]
    ) -> RegionRecord:
        """Create or replace a region."""
        async with self._session() as session, session.begin():
            row = await session.get(RegionRow, name)
            if row is None:
                row = RegionRow(name=name, created_at=_now())
                session.add(row)
            row.points = json_safe(points)
            row.definition = json_safe(definition)
            row.created_at = _now()
        return RegionRecord(name, points, definition, row.created_at)

    async def get_region(self, name: str) -> RegionRecord | None:
        """The region, or None when unknown."""
        async with self._session() as session:
            row = await session.get(RegionRow, name)
            if row is None:
                return None
            created = _utc(row.created_at)
            assert created is not None
            return RegionRecord(row.name, row.points, row.definition, created)

    async def regions(self) -> list[RegionRecord]:
        """Every region by name."""
        async with self._session() as session:
            rows = (await session.scalars(select(RegionRow).order_by(RegionRow.name))).all()
        return [
            RegionRecord(r.name, r.points, r.definition, _utc(r.created_at) or _now()) for r in rows
        ]
