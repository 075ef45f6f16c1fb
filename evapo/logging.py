"""Structured logging (structlog): JSON lines in services, readable lines on a terminal."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog._config import BoundLoggerLazyProxy


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Configure stdlib logging and structlog once for the process."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")


def get_logger(name: str) -> Any:
    """A lazy structlog logger with ``logger=name`` (configuration applies on first use)."""
    return BoundLoggerLazyProxy(None, initial_values={"logger": name}, logger_factory_args=(name,))
