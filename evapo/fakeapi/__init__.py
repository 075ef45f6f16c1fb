"""Local fake of every upstream weather API, serving real data offline in each API's format.

``create_app(data_dir)`` builds the ASGI app; ``run_in_thread(data_dir)`` runs it on a free port
for tests and yields the base URL to use as ``EVAPO_UPSTREAM_URL``;
``evapo fake-apis --data DIR --port N`` runs it from the command line.
"""

from evapo.fakeapi.app import create_app
from evapo.fakeapi.faults import FAULT_MODES, Fault, FaultBoard
from evapo.fakeapi.server import free_port, run_in_thread, serve

__all__ = [
    "FAULT_MODES",
    "Fault",
    "FaultBoard",
    "create_app",
    "free_port",
    "run_in_thread",
    "serve",
]
