"""The HTTP + WebSocket API (FastAPI). Build it with :func:`evapo.api.app.create_app`."""
