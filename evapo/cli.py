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


def main() -> None:
    """Entry point for ``python -m evapo``."""
    app()
