"""The ``evapo`` command line (Typer). Each command is a thin shell over the library."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="evapo",
    help="Daily FAO-56 reference evapotranspiration (ET0), fused from several weather sources.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print Evapo's version."""
    from evapo import __version__

    typer.echo(__version__)


@app.command()
def worker(
    concurrency: int = typer.Option(
        2, "--concurrency", "-c", help="Pool processes (jobs at once)."
    ),
    queues: str = typer.Option("evapo.jobs", "--queues", "-Q", help="Comma-separated queues."),
    pool: str = typer.Option("prefork", "--pool", help="prefork (default) or solo."),
    hostname: str | None = typer.Option(None, "--hostname", "-n", help="Worker name, e.g. w1@%h."),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve Prometheus metrics here (EVAPO_WORKER_METRICS_PORT)."
    ),
) -> None:
    """Run a Celery worker executing jobs (distributed mode: EVAPO_MODE=distributed)."""
    from evapo.config import get_settings
    from evapo.jobs.worker import WorkerConfigError, run_worker

    try:
        run_worker(
            get_settings(),
            concurrency=concurrency,
            queues=queues,
            pool=pool,
            hostname=hostname,
            metrics_port=metrics_port,
        )
    except WorkerConfigError as exc:
        typer.echo(f"evapo worker: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def migrate(
    database_url: str | None = typer.Option(
        None, "--database-url", help="Database to upgrade (default: EVAPO_DATABASE_URL)."
    ),
) -> None:
    """Upgrade the database schema to the newest Alembic revision."""
    from evapo.config import get_settings
    from evapo.store.migrate import upgrade_head

    url = database_url or get_settings().database_url
    revision = upgrade_head(url)
    typer.echo(f"database at revision {revision}")


def main() -> None:
    """Entry point for ``python -m evapo``."""
    app()
