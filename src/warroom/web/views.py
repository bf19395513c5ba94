"""Web UI (server-rendered)."""

from fastapi import FastAPI


def mount_web(app: FastAPI) -> None:
    """Mount the web UI routes."""
