"""The ``evapo`` command line (Typer). Each command is a thin shell over the library."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

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


def _settings_error(command: str, exc: Exception) -> NoReturn:
    """Print each invalid setting as ``EVAPO_NAME: why`` and exit 2."""
    from pydantic import ValidationError

    errors = exc.errors() if isinstance(exc, ValidationError) else []
    for err in errors:
        loc = "_".join(str(part) for part in err["loc"])
        name = f"EVAPO_{loc.upper()}" if loc else "settings"
        typer.echo(f"evapo {command}: {name}: {err['msg']}", err=True)
    raise typer.Exit(2) from exc


@app.command()
def worker(
    *,
    concurrency: int = typer.Option(
        2, "--concurrency", "-c", help="Pool processes (jobs at once)."
    ),
    queues: str | None = typer.Option(
        None, "--queues", "-Q", help="Comma-separated queues (default EVAPO_JOB_QUEUE)."
    ),
    pool: str = typer.Option("prefork", "--pool", help="prefork (default) or solo."),
    hostname: str | None = typer.Option(None, "--hostname", "-n", help="Worker name, e.g. w1@%h."),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve Prometheus metrics here (EVAPO_WORKER_METRICS_PORT)."
    ),
    nice: int = typer.Option(
        10,
        "--nice",
        help="Lower the worker's CPU priority by this much (0-19), so API processes on the "
        "same machine deliver events first; 0 keeps it.",
    ),
) -> None:
    """Run a Celery worker executing jobs (distributed mode: EVAPO_MODE=distributed)."""
    from pydantic import ValidationError

    from evapo.config import get_settings
    from evapo.jobs.worker import WorkerConfigError, run_worker

    try:
        settings = get_settings()
    except ValidationError as exc:
        _settings_error("worker", exc)
    try:
        run_worker(
            settings,
            concurrency=concurrency,
            queues=queues,
            pool=pool,
            hostname=hostname,
            metrics_port=metrics_port,
            nice=nice,
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
    from pydantic import ValidationError

    from evapo.config import get_settings
    from evapo.store.migrate import upgrade_head

    try:
        url = database_url or get_settings().database_url
    except ValidationError as exc:
        _settings_error("migrate", exc)
    revision = upgrade_head(url)
    typer.echo(f"database at revision {revision}")


@app.command()
def serve(
    host: str | None = typer.Option(None, "--host", help="Bind address (default EVAPO_HOST)."),
    port: int | None = typer.Option(None, "--port", help="Port (default EVAPO_PORT)."),
) -> None:
    """Serve the API and the dashboard in one process (mode from EVAPO_MODE, embedded default)."""
    from evapo.config import get_settings
    from evapo.logging import configure_logging

    settings = get_settings()
    # Before importing the app: module-level loggers take the configuration current at import.
    configure_logging(settings.log_level, json=settings.log_json)
    from evapo.api.server import serve as run_server

    where = f"http://{host or settings.host}:{port or settings.port}"
    typer.echo(f"evapo ({settings.mode}) on {where}  (API docs: {where}/docs)")
    run_server(settings, host=host, port=port)


# Options of both ``submit`` and ``batch``.
StartOption = Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD.")]
EndOption = Annotated[str, typer.Option("--end", help="Last day, YYYY-MM-DD.")]
MethodOption = Annotated[str | None, typer.Option("--method", help="fao56 (default) or asce.")]
ReferenceOption = Annotated[
    str | None,
    typer.Option("--reference", help="short grass ETo (default) or tall alfalfa ETr (asce)."),
]
RsoOption = Annotated[
    str | None,
    typer.Option("--rso", help="Clear-sky radiation: simple or full (asce; its default)."),
]


@app.command()
def submit(
    *,
    lat: Annotated[float, typer.Option("--lat", help="Latitude in degrees, south negative.")],
    lon: Annotated[float, typer.Option("--lon", help="Longitude in degrees, west negative.")],
    start: StartOption,
    end: EndOption,
    server: Annotated[str, typer.Option("--server", help="Server URL.")] = "http://127.0.0.1:8000",
    sources: Annotated[str | None, typer.Option("--sources", help="Comma-separated names.")] = None,
    elevation: Annotated[float | None, typer.Option("--elevation", help="Metres.")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the result (.csv or .json).")
    ] = None,
    method: MethodOption = None,
    reference: ReferenceOption = None,
    rso: RsoOption = None,
) -> None:
    """Submit a job to a server, show its live progress, and write the result."""
    import asyncio

    from evapo.client import ClientError, ConnectionLost, submit_with_progress

    names = [n.strip() for n in sources.split(",") if n.strip()] if sources else None
    try:
        ok = asyncio.run(
            submit_with_progress(
                server,
                lat=lat,
                lon=lon,
                start=start,
                end=end,
                sources=names,
                elevation=elevation,
                output=output,
                method=method,
                reference=reference,
                rso=rso,
            )
        )
    except (ClientError, ConnectionLost) as exc:
        typer.echo(f"evapo submit: {exc}", err=True)
        raise typer.Exit(2) from exc
    except OSError as exc:
        typer.echo(f"evapo submit: cannot reach {server}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not ok:
        raise typer.Exit(1)


@app.command("fake-apis")
def fake_apis(
    data: Annotated[
        Path,
        typer.Option(
            "--data", exists=True, file_okay=False, help="Folder laid out like the validation data."
        ),
    ],
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")
    ] = 9100,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
) -> None:
    """Serve local fakes of every upstream weather API (use as EVAPO_UPSTREAM_URL)."""
    from evapo.fakeapi import serve

    typer.echo(
        f"fake upstream APIs on http://{host}:{port} (EVAPO_UPSTREAM_URL=http://{host}:{port})"
    )
    serve(data, host=host, port=port)


@app.command()
def calibrate(
    reference: Annotated[
        Path,
        typer.Option("--reference", help="Reference folder (cities.csv, source folders, xavier/)."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Artefact to write (JSON).")],
    radius_km: Annotated[
        float,
        typer.Option(
            "--radius-km", help="Distance to the nearest site beyond which it does not apply."
        ),
    ] = 800.0,
    anchors: Annotated[
        Path | None,
        typer.Option(
            "--anchors",
            help="Also write the sites' daily held-out errors here (.npz), for anchors_path.",
        ),
    ] = None,
) -> None:
    """Learn a calibration artefact from a reference folder."""
    from evapo.calibration import CalibrationError, fit_calibration, save_calibration
    from evapo.logging import configure_logging
    from evapo.validation import ReferenceError, read_reference

    configure_logging("WARNING", json=False)
    try:
        cal = fit_calibration(
            read_reference(reference), radius_km=radius_km, anchored=anchors is not None
        )
    except (ReferenceError, CalibrationError) as exc:
        typer.echo(f"evapo calibrate: {exc}", err=True)
        raise typer.Exit(2) from exc
    save_calibration(cal, output)
    typer.echo(
        f"calibration {cal.id}: {len(cal.sites)} sites, {cal.period[0]}..{cal.period[1]}, "
        f"{len(cal.models)} models -> {output}"
    )
    if anchors is not None and cal.anchors is not None:
        cal.anchors.save(anchors)
        typer.echo(
            f"anchors: {len(cal.anchors.sites)} sites, {cal.anchors.start}..{cal.anchors.end} "
            f"-> {anchors}"
        )


@app.command()
def validate(
    reference: Annotated[Path, typer.Option("--reference", help="Training reference folder.")],
    evaluate: Annotated[
        Path | None,
        typer.Option("--evaluate", help="Folder of cities to score (never used for calibration)."),
    ] = None,
    cv: Annotated[
        str | None,
        typer.Option("--cv", help="Cross-validation on --reference instead: leave-one-out."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the scores as JSON here.")
    ] = None,
) -> None:
    """Score Evapo out of sample against reference ET0 (split or leave-one-out)."""
    from rich.console import Console

    from evapo.calibration import CalibrationError
    from evapo.logging import configure_logging
    from evapo.validation import (
        ReferenceError,
        render_city_table,
        render_table,
        validate_loo,
        validate_split,
        write_json,
    )

    configure_logging("WARNING", json=False)
    if (evaluate is None) == (cv is None):
        typer.echo("evapo validate: give exactly one of --evaluate DIR or --cv", err=True)
        raise typer.Exit(2)
    if cv is not None and cv != "leave-one-out":
        typer.echo(f"evapo validate: --cv must be leave-one-out, got {cv!r}", err=True)
        raise typer.Exit(2)
    try:
        result = (
            validate_loo(reference) if evaluate is None else validate_split(reference, evaluate)
        )
    except (ReferenceError, CalibrationError) as exc:
        typer.echo(f"evapo validate: {exc}", err=True)
        raise typer.Exit(2) from exc
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    console.print(render_city_table(result))
    console.print(render_table(result))
    if json_out is not None:
        write_json(result, json_out)
        typer.echo(f"scores written to {json_out}")


@app.command()
def eto(
    input_csv: Annotated[
        Path, typer.Argument(metavar="INPUT.csv", help="Daily station data in canonical columns.")
    ],
    *,
    lat: Annotated[float, typer.Option("--lat", help="Latitude in degrees, north positive.")],
    elevation: Annotated[
        float, typer.Option("--elevation", help="Elevation above sea level in metres.")
    ],
    wind_height: Annotated[
        float | None,
        typer.Option("--wind-height", help="Height in metres of the 'wind_ms' column (default 2)."),
    ] = None,
    details: Annotated[
        bool, typer.Option("--details", help="Add every intermediate (Ra, Rs, Rn, ea, ...).")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the CSV here (default stdout).")
    ] = None,
    krs: Annotated[
        float, typer.Option("--krs", help="Eq. 50 coefficient: 0.16 interior, 0.19 coastal.")
    ] = 0.16,
    missing: Annotated[
        str,
        typer.Option("--missing", help="Missing-data policy: fao56, hargreaves or strict."),
    ] = "fao56",
    method: Annotated[
        str | None,
        typer.Option(
            "--method", help="fao56 (default) or asce; when given, a 'method' column is added."
        ),
    ] = None,
    reference: Annotated[
        str,
        typer.Option(
            "--reference", help="ASCE reference: short (grass ETo) or tall (alfalfa ETr)."
        ),
    ] = "short",
    rso: Annotated[
        str | None,
        typer.Option(
            "--rso", help="Clear-sky Rso: simple (FAO-56 default) or full (ASCE default)."
        ),
    ] = None,
    constants: Annotated[
        str,
        typer.Option(
            "--constants", help="ASCE constants: asce (the 2005 report) or refet (Ref-ET)."
        ),
    ] = "asce",
    temperature_unit: Annotated[
        str | None, typer.Option("--temperature-unit", help="degC, degF or K (unit-free columns).")
    ] = None,
    radiation_unit: Annotated[
        str | None,
        typer.Option("--radiation-unit", help="MJ/m2/day, W/m2, Langley/day or kWh/m2/day."),
    ] = None,
    wind_unit: Annotated[
        str | None, typer.Option("--wind-unit", help="m/s, mph, km/h or knot (column 'wind').")
    ] = None,
    vapour_pressure_unit: Annotated[
        str | None, typer.Option("--vapour-pressure-unit", help="kPa, hPa or Pa (column 'ea').")
    ] = None,
    pressure_unit: Annotated[
        str | None, typer.Option("--pressure-unit", help="kPa, hPa, Pa or inHg ('pressure').")
    ] = None,
    specific_humidity_unit: Annotated[
        str | None, typer.Option("--specific-humidity-unit", help="kg/kg or g/kg (column 'q').")
    ] = None,
    precipitation_unit: Annotated[
        str | None, typer.Option("--precipitation-unit", help="mm or in (column 'precip').")
    ] = None,
) -> None:
    """Daily reference ET of a station CSV (FAO-56, or ASCE-EWRI with --method asce).

    Output: date, eto_mm, flags (+ method with --method, + --details). Columns are canonical
    (tmax_c, rs_mj_m2, ...) or unit-free (tmax, tmin, tmean, tdew, rs, wind, precip, rh_mean,
    rh_max, rh_min, ea, q with pressure) in the units named by the --*-unit options.
    """
    from evapo.eto_cli import EtoInputError, EtoRequest, run_eto, station_units

    try:
        request = EtoRequest(
            input=input_csv,
            lat_deg=lat,
            elevation_m=elevation,
            wind_height_m=wind_height,
            details=details,
            output=output,
            krs=krs,
            missing=missing,
            method=method,
            reference=reference,
            rso=rso,
            constants=constants,
            units=station_units(
                temperature=temperature_unit,
                radiation=radiation_unit,
                wind=wind_unit,
                vapour_pressure=vapour_pressure_unit,
                pressure=pressure_unit,
                specific_humidity=specific_humidity_unit,
                precipitation=precipitation_unit,
            ),
        )
        text = run_eto(request)
    except EtoInputError as exc:
        typer.echo(f"evapo eto: error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if output is None:
        typer.echo(text, nl=False)


@app.command()
def batch(
    points_csv: Annotated[
        Path, typer.Argument(help="CSV with header name,lat,lon[,elevation].", exists=True)
    ],
    *,
    start: StartOption,
    end: EndOption,
    output: Annotated[Path, typer.Option("-o", "--output", help="Table: .parquet or .csv.")],
    server: Annotated[
        str | None, typer.Option("--server", help="Server URL (default: run in this process).")
    ] = None,
    method: MethodOption = None,
    reference: ReferenceOption = None,
    rso: RsoOption = None,
) -> None:
    """ET0 for every point of a CSV over one date range, with a progress bar."""
    import asyncio

    from rich.console import Console

    from evapo.config import get_settings
    from evapo.logging import configure_logging

    settings = get_settings()
    configure_logging("WARNING", json=settings.log_json)
    # Imported after logging is configured: module loggers bind the configuration at import.
    from evapo.batch_cli import BatchCliError, read_body, report, run_local, run_remote

    console = Console(stderr=True)
    choice = {"method": method, "reference": reference, "rso": rso}
    try:
        if server:
            last = asyncio.run(
                run_remote(
                    points_csv,
                    start=start,
                    end=end,
                    server=server,
                    output=output,
                    console=console,
                    choice=choice,
                )
            )
        else:
            body = read_body(points_csv, start, end, limit=settings.batch_max_points, **choice)
            last = asyncio.run(run_local(body, output, settings, console))
    except (BatchCliError, OSError) as exc:
        typer.echo(f"evapo batch: {exc}", err=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        typer.echo("evapo batch: interrupted", err=True)
        raise typer.Exit(130) from None
    if not report(last, output, console):
        raise typer.Exit(1)


@app.command()
def beat() -> None:
    """Run Celery beat: sends the region refresh every EVAPO_REGION_REFRESH_S (distributed)."""
    from evapo.config import get_settings
    from evapo.jobs.celery_app import worker_app
    from evapo.logging import configure_logging

    settings = get_settings()
    if settings.mode != "distributed":
        typer.echo("evapo beat: EVAPO_MODE must be distributed (embedded has its own scheduler)")
        raise typer.Exit(2)
    configure_logging(settings.log_level, json=settings.log_json)
    worker_app(settings).start(["beat", f"--loglevel={settings.log_level}"])


def main() -> None:
    """Entry point for ``python -m evapo``."""
    app()
