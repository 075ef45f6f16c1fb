"""The job-runner interface shared by the embedded and the Celery runner."""

from __future__ import annotations

from typing import Protocol


class JobRunner(Protocol):
    """Accepts job ids whose spec is already stored and gets their pipeline run.

    Implementations: :mod:`evapo.jobs.embedded` (asyncio tasks in the API process) and
    :mod:`evapo.jobs.distributed` (Celery tasks on workers).
    """

    async def start(self) -> None:
        """Acquire resources (called from the app's start-up hook)."""
        ...

    async def submit(self, job_id: str) -> None:
        """Queue the job; return at once (never waits for the job)."""
        ...

    async def cancel(self, job_id: str) -> None:
        """Ask for the job to stop; its log ends with ERROR code 'cancelled'."""
        ...

    async def ping(self) -> bool:
        """True when the runner can accept work (for ``/ready``)."""
        ...

    async def stop(self) -> None:
        """Release resources (called from the app's shutdown hook)."""
        ...
