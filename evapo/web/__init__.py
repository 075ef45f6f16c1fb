"""The web dashboard (Dash), served by ``evapo serve`` from the API's process at ``/``."""

from evapo.web.app import LOCAL_TILE_ROUTE, mount_dashboard

__all__ = ["LOCAL_TILE_ROUTE", "mount_dashboard"]
