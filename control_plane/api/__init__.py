"""The one public HTTP API (FastAPI, under /api/v1)."""
