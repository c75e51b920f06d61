"""remem's REST API: ``create_app(memory)`` builds it; ``remem serve`` runs it with uvicorn."""

from __future__ import annotations

from remem.server.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
