"""Job records, their specs and their daily result rows (SQLite or PostgreSQL via SQLAlchemy)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, Session, mapped_column

from evapo.science.asce import Method, MethodChoice, Reference, RsoMethod
from evapo.store.db import Base, make_sessionmaker

_T = TypeVar("_T")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class JobStatus(StrEnum):
    """Lifecycle of a job; the last four are final."""

    QUEUED = "queued"
    """Stored and handed to the runner; not started yet."""
    RUNNING = "running"
    """A runner is executing the pipeline."""
    SUCCEEDED = "succeeded"
    """Finished; the daily result rows are stored."""
    FAILED = "failed"
    """Ended with an error (no usable source, internal error, or the process died)."""
    TIMED_OUT = "timed_out"
    """Passed its deadline (``Settings.job_deadline_s``)."""
    CANCELLED = "cancelled"
    """Stopped at the user's request (``DELETE /api/v1/jobs/{id}``)."""

    @property
    def final(self) -> bool:
        """True for succeeded, failed, timed_out and cancelled."""
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


def _iso_date(value: object) -> object:
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError(f"must be a date written YYYY-MM-DD, got {value!r}")
    if isinstance(value, int | float):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def method_allows(cls: type[BaseModel], value: str | None, info: ValidationInfo) -> str | None:
    """Validator of ``reference`` and ``rso``: refuse what ``method`` does not define.

    FAO-56 has no tall reference and no full Rso. Shared by job and batch specs.
    """
    method = info.data.get("method")
    if method is None:  # the method itself was refused: reported on its own field
        return value
    fields: dict[str, Any] = {"method": method, info.field_name or "": value}
    if info.field_name == "rso" and "reference" in info.data:
        fields["reference"] = info.data["reference"]
    try:
        MethodChoice(**fields)
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix(f"{info.field_name}: ")) from None
    return value


class JobSpec(BaseModel):
    """What a job computes: a point and a date range (modes follow from the dates)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lat: float = Field(
        ge=-90, le=90, allow_inf_nan=False, description="Latitude [deg], south negative."
    )
    lon: float = Field(
        ge=-180, le=180, allow_inf_nan=False, description="Longitude [deg], west negative."
    )
    start: IsoDate = Field(description="First day, YYYY-MM-DD.")
    end: IsoDate = Field(description="Last day (inclusive), YYYY-MM-DD.")
    sources: list[str] | None = Field(
        None, description="Sources to use (default: every source that can serve the days)."
    )
    elevation: float | None = Field(
        None,
        ge=-500,
        le=9000,
        allow_inf_nan=False,
        description="Elevation [m]; looked up when omitted.",
    )
    method: Method = Field(
        "fao56", description="Reference ET equation: FAO-56 Penman-Monteith or ASCE-EWRI 2005."
    )
    reference: Reference = Field(
        "short",
        description="Reference surface: short grass (ETo) or tall alfalfa (ETr, ASCE only).",
    )
    rso: RsoMethod | None = Field(
        None,
        description="Clear-sky radiation: simple or full (ASCE Appendix D, ASCE only); "
        "default: simple for FAO-56, full for ASCE.",
    )

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        from evapo.sources import SOURCE_NAMES

        unknown = [name for name in value if name not in SOURCE_NAMES]
        if unknown:
            raise ValueError(f"unknown source(s) {unknown}; known: {list(SOURCE_NAMES)}")
        if not value:
            raise ValueError("must name at least one source, or be omitted")
        return list(dict.fromkeys(value))

    _method_allows = field_validator("reference", "rso")(method_allows)

    @property
    def choice(self) -> MethodChoice:
        """The reference ET method this job computes with."""
        return MethodChoice(method=self.method, reference=self.reference, rso=self.rso)


class JobRow(Base):
    """One submitted job."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error_code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class JobResultRow(Base):
    """One day of a job's result: ET0 with its band, plus the whole row (weather, provenance)."""

    __tablename__ = "job_results"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    eto_mm: Mapped[float | None] = mapped_column(Float)
    eto_lo_mm: Mapped[float | None] = mapped_column(Float)
    eto_hi_mm: Mapped[float | None] = mapped_column(Float)
    flags: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


@dataclass(frozen=True)
class JobRecord:
    """A job as read from the store."""

    id: str
    status: JobStatus
    spec: JobSpec
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    cancel_requested: bool
    error_code: str | None
    message: str | None
    summary: dict[str, Any] | None


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _record(row: JobRow) -> JobRecord:
    created = _utc(row.created_at)
    assert created is not None
    return JobRecord(
        id=row.id,
        status=JobStatus(row.status),
        spec=JobSpec.model_validate(row.spec),
        created_at=created,
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
        attempts=row.attempts,
        cancel_requested=row.cancel_requested,
        error_code=row.error_code,
        message=row.message,
        summary=row.summary,
    )


def json_safe(value: Any) -> Any:
    """Replace NaN/inf floats (not valid JSON, refused by PostgreSQL) by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return json_safe(value.item())
    return value


_RESULT_COLUMNS = ("job_id", "day", "eto_mm", "eto_lo_mm", "eto_hi_mm", "flags", "data")
_SELECT_RESULT = text(
    "SELECT CAST(data AS TEXT) FROM job_results WHERE job_id = :job_id ORDER BY day"
)


def _insert_result_sql(dialect: str) -> str:
    """Driver-level INSERT of result rows (named parameters in the driver's own style)."""
    style = ":{}" if dialect == "sqlite" else "%({})s"
    names = ", ".join(_RESULT_COLUMNS)
    marks = ", ".join(style.format(c) for c in _RESULT_COLUMNS)
    return f"INSERT INTO job_results ({names}) VALUES ({marks})"


def _dumps(row: dict[str, Any]) -> str:
    try:
        return json.dumps(row, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError):  # NaN/inf or numpy scalars: clean, then serialise
        return json.dumps(json_safe(row), separators=(",", ":"), allow_nan=False)


def _result_params(job_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bind parameters of the result rows (``data`` pre-serialised; NaN becomes null)."""
    return [
        {
            "job_id": job_id,
            "day": date.fromisoformat(row["date"]),
            "eto_mm": _finite(row.get("eto_mm")),
            "eto_lo_mm": _finite(row.get("eto_lo_mm")),
            "eto_hi_mm": _finite(row.get("eto_hi_mm")),
            "flags": row.get("flags") or "",
            "data": _dumps(row),
        }
        for row in rows
    ]


def _finite(value: Any) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _now() -> datetime:
    return datetime.now(UTC)


_OPEN = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


def _in_session(engine: Engine, fn: Callable[[Session], _T]) -> _T:
    """``fn(session)`` in one committed transaction on a synchronous engine."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return fn(session)


class _WriteGate:
    """One writer at a time on a SQLite file, urgent writers (a person waiting) first.

    The API's store and the embedded runner's store (another thread, another loop) write the
    same file: waiting here costs microseconds where SQLite's busy handler sleeps 1-100 ms,
    and a submission never queues behind a backlog of job bookkeeping writes.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._urgent_waiting = 0
        self.waiting = 0
        """Writers blocked in ``hold`` right now."""

    @contextlib.contextmanager
    def hold(self, *, urgent: bool) -> Iterator[None]:
        """Hold the gate for one transaction."""
        with self._cond:
            self._urgent_waiting += urgent
            self.waiting += 1
            try:
                while self._busy or (not urgent and self._urgent_waiting):
                    self._cond.wait()
            finally:
                self._urgent_waiting -= urgent
                self.waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            self.release()

    def try_hold(self) -> bool:
        """Take the gate if it is free right now (then ``release`` it); never waits."""
        with self._cond:
            if self._busy:
                return False
            self._busy = True
            return True

    def release(self) -> None:
        """Give the gate back (after a successful ``try_hold``)."""
        with self._cond:
            self._busy = False
            self._cond.notify_all()


_GATES: dict[str, _WriteGate] = {}
_GATES_GUARD = threading.Lock()


def _write_gate(database: str) -> _WriteGate:
    """The process-wide gate of one SQLite file."""
    key = os.path.realpath(database)
    with _GATES_GUARD:
        return _GATES.setdefault(key, _WriteGate())


def _gated(gate: _WriteGate, urgent: bool, work: Callable[[], _T]) -> _T:
    with gate.hold(urgent=urgent):
        return work()


def _insert_jobs(session: Session, *, values: list[dict[str, Any]]) -> None:
    session.execute(insert(JobRow), values)


class _JobInserter:
    """The submit hot path on SQLite: job rows inserted on one plain sqlite3 connection.

    One ``executemany`` in one ``BEGIN IMMEDIATE`` transaction, with values through the columns'
    own bind processors (the form the ORM stores). No pool checkout and no SQLAlchemy
    transaction objects: those were half the cost of an inline insert (cProfile). Callers hold
    the file's :class:`_WriteGate`, so one thread at a time uses the connection.
    """

    def __init__(self, database: str, dialect: Dialect) -> None:
        self.database = database
        self.columns = _job_bind_processors(dialect)
        names = ", ".join(name for name, _ in self.columns)
        marks = ", ".join("?" for _ in self.columns)
        self.sql = f"INSERT INTO jobs ({names}) VALUES ({marks})"
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.database, timeout=30, check_same_thread=False, isolation_level=None
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self._conn = conn
        return conn

    def __call__(self, values: list[dict[str, Any]]) -> None:
        """Insert ``values`` (one dict per job) and commit; SQLAlchemy's error on failure."""
        rows = [
            tuple(value[name] if bind is None else bind(value[name]) for name, bind in self.columns)
            for value in values
        ]
        try:
            conn = self._conn or self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(self.sql, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # as SQLAlchemy would raise it (IntegrityError, ...)
            raise DBAPIError.instance(self.sql, None, exc, sqlite3.Error) from exc

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@functools.cache
def _job_bind_processors(dialect: Dialect) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Each column of ``jobs`` with the dialect's bind processor for its type (None: as is)."""
    return tuple(
        (column.key, column.type.bind_processor(dialect)) for column in JobRow.__table__.columns
    )


def _changed(result: Any) -> bool:
    """True when an UPDATE matched a row."""
    return bool(result.rowcount)


def _direct_sqlite_engine(engine: AsyncEngine) -> Engine | None:
    """A plain sqlite3 engine on the same file for the hot paths (submit, status reads).

    One worker-thread hop per operation instead of one per driver call through aiosqlite:
    about half the latency of a job submission on a busy machine. None for PostgreSQL and for
    in-memory SQLite (a second engine would not see the same database).
    """
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    direct = create_engine(
        url.set(drivername="sqlite"), connect_args={"timeout": 30, "check_same_thread": False}
    )

    @event.listens_for(direct, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return direct


class JobStore:
    """Repository of jobs and results. Every operation is one short transaction.

    Each operation is written once as a function of a synchronous :class:`Session`; on a SQLite
    file it runs in one hop to the store's own threads on a plain sqlite3 engine, on PostgreSQL
    through the async engine (``AsyncSession.run_sync``).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._session = make_sessionmaker(engine)
        # SQLite has one writer at a time and its busy handler sleeps while waiting; queueing
        # this process's writes on a lock instead keeps submit latency low under load.
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._flusher: asyncio.Future[None] | None = None
        self._direct = _direct_sqlite_engine(engine)
        self._gate = _write_gate(str(engine.url.database)) if self._direct is not None else None
        self._inserter = (
            _JobInserter(str(engine.url.database), self._direct.dialect)
            if self._direct is not None
            else None
        )
        # Its own threads: the default executor may be full of job computations.
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="evapo-store")

    async def _off_loop(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(*args)`` on the store's threads."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _run(
        self, fn: Callable[[Session], _T], *, write: bool = False, urgent: bool = False
    ) -> _T:
        """Run ``fn(session)`` in one transaction (committed when it returns).

        ``urgent`` writes (someone is waiting for the answer, the write is small) pass queued
        job bookkeeping, and run inline when the file is free.
        """
        lock = self._writing() if write else contextlib.nullcontext()
        async with lock:
            if self._direct is not None:
                work = functools.partial(_in_session, self._direct, fn)
                return await self._direct_call(work, write=write, urgent=urgent)
            async with self._session() as session, session.begin():
                result: _T = await session.run_sync(fn)
                return result

    async def _direct_call(self, work: Callable[[], _T], *, write: bool, urgent: bool) -> _T:
        """Run ``work`` on the direct SQLite engine: through the file's gate when writing.

        An urgent write that finds the file free commits right here, on the loop, rather than
        pay two thread hops (each up to a GIL switch interval when other threads are busy).
        """
        gate = self._gate if write else None
        if gate is None:
            return await self._off_loop(work)
        if urgent and gate.try_hold():
            try:
                return work()
            finally:
                gate.release()
        return await self._off_loop(_gated, gate, urgent, work)

    async def close(self) -> None:
        """Release the direct SQLite connections (the async engine belongs to the caller)."""
        if self._direct is not None:
            await self._off_loop(self._direct.dispose)
        if self._inserter is not None:
            await self._off_loop(self._inserter.close)
        self._executor.shutdown(wait=False)

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    async def init(self, *, create_tables: bool = True) -> None:
        """Create the job tables if missing (embedded mode; distributed mode runs migrations)."""
        if create_tables:
            async with self.engine.begin() as conn:
                await conn.run_sync(
                    Base.metadata.create_all,
                    tables=[JobRow.__table__, JobResultRow.__table__],  # type: ignore[list-item]
                )

    async def create(self, job_id: str, spec: JobSpec) -> JobRecord:
        """Store a new queued job (returns once committed).

        Concurrent calls are group-committed: rows waiting while a commit runs go together in
        the next transaction, so a burst of submissions costs a few commits, not one each.
        """
        created = _now()
        values: dict[str, Any] = {
            "id": job_id,
            "status": JobStatus.QUEUED.value,
            "spec": spec.model_dump(mode="json"),
            "created_at": created,
            "started_at": None,
            "finished_at": None,
            "attempts": 0,
            "cancel_requested": False,
            "error_code": None,
            "message": None,
            "summary": None,
        }
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((values, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_pending())
        await asyncio.shield(done)
        return JobRecord(
            id=job_id,
            status=JobStatus.QUEUED,
            spec=spec,
            created_at=created,
            started_at=None,
            finished_at=None,
            attempts=0,
            cancel_requested=False,
            error_code=None,
            message=None,
            summary=None,
        )

    async def _flush_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            values = [row for row, _ in batch]
            try:
                if self._inserter is not None:
                    async with self._writing():
                        work = functools.partial(self._inserter, values)
                        await self._direct_call(work, write=True, urgent=True)
                else:
                    await self._run(functools.partial(_insert_jobs, values=values), write=True)
            except BaseException as exc:  # every waiter gets the failure, none is left hanging
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def get(self, job_id: str) -> JobRecord | None:
        """The job, or None when unknown."""

        def read(session: Session) -> JobRecord | None:
            row = session.get(JobRow, job_id)
            return None if row is None else _record(row)

        return await self._run(read)

    async def list_recent(self, limit: int = 20) -> list[JobRecord]:
        """The newest jobs first."""
        query = select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id).limit(limit)
        return await self._run(lambda s: [_record(row) for row in s.scalars(query).all()])

    async def count_by_status(self) -> dict[JobStatus, int]:
        """How many jobs are in each status (every status present, zero when none)."""
        query = select(JobRow.status, func.count()).group_by(JobRow.status)
        rows = await self._run(lambda s: list(s.execute(query).all()))
        found = {JobStatus(status): int(n) for status, n in rows}
        return {status: found.get(status, 0) for status in JobStatus}

    async def claim(self, job_id: str) -> JobRecord | None:
        """Mark a queued (or redelivered running) job running; None when it is already final."""
        query = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status.in_(_OPEN))
            .values(
                status=JobStatus.RUNNING.value,
                started_at=_now(),
                attempts=JobRow.attempts + 1,
            )
            .returning(JobRow)
        )

        def write(session: Session) -> JobRecord | None:
            row = session.scalars(query).one_or_none()
            return None if row is None else _record(row)

        return await self._run(write, write=True)

    async def finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        error_code: str | None = None,
        message: str | None = None,
    ) -> bool:
        """Set a final status on an open job; False when it was already final."""
        if not status.final or status is JobStatus.SUCCEEDED:
            raise ValueError(f"finish() sets failed/timed_out/cancelled, not {status}")
        query = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status.in_(_OPEN))
            .values(status=status.value, finished_at=_now(), error_code=error_code, message=message)
        )
        return await self._run(lambda s: _changed(s.execute(query)), write=True)

    async def store_result(
        self, job_id: str, rows: list[dict[str, Any]], summary: dict[str, Any]
    ) -> bool:
        """Replace the job's result rows and mark it succeeded, in one transaction.

        Returns False (and stores nothing) when the job is no longer open, so a redelivered job
        never duplicates or overwrites a final result. Rows are serialised on the store's
        threads and inserted with one driver-level executemany.
        """
        values = await self._off_loop(_result_params, job_id, rows)
        mark = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status.in_(_OPEN))
            .values(
                status=JobStatus.SUCCEEDED.value,
                finished_at=_now(),
                summary=json_safe(summary),
                error_code=None,
                message=None,
            )
        )

        def write(session: Session) -> bool:
            if not _changed(session.execute(mark)):
                return False
            session.execute(delete(JobResultRow).where(JobResultRow.job_id == job_id))
            if values:
                conn = session.connection()
                conn.exec_driver_sql(_insert_result_sql(conn.dialect.name), values)
            return True

        return await self._run(write, write=True)

    async def result_json_rows(self, job_id: str) -> list[str]:
        """The job's daily rows as JSON texts, in date order (no parsing: fast to serve)."""
        found = await self._run(lambda s: s.execute(_SELECT_RESULT, {"job_id": job_id}).all())
        return [str(text_) for (text_,) in found]

    async def result_rows(self, job_id: str) -> list[dict[str, Any]]:
        """The job's daily rows in date order (empty when none stored)."""
        texts = await self.result_json_rows(job_id)
        return await self._off_loop(lambda: [json.loads(t) for t in texts])

    async def request_cancel(self, job_id: str) -> JobRecord | None:
        """Set the cancel flag of an open job; returns the job (None when unknown)."""
        query = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status.in_(_OPEN))
            .values(cancel_requested=True)
        )
        await self._run(lambda s: s.execute(query), write=True, urgent=True)
        return await self.get(job_id)

    async def is_cancel_requested(self, job_id: str) -> bool:
        """True when DELETE asked this job to stop."""
        query = select(JobRow.cancel_requested).where(JobRow.id == job_id)
        return await self._run(lambda s: bool(s.scalar(query)))

    async def open_jobs(self) -> list[str]:
        """Ids of jobs still queued or running."""
        query = select(JobRow.id).where(JobRow.status.in_(_OPEN)).order_by(JobRow.created_at)
        return await self._run(lambda s: list(s.scalars(query).all()))

    async def ping(self) -> bool:
        """True when the database answers."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (OSError, SQLAlchemyError):
            return False
        return True
