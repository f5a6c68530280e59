"""Fleetdeck collectors: OTLP/HTTP ingest of traces and logs, their store, and the queries on them.

Layers (each imports only the ones below it):

- ``collectors.otlp``   decode OTLP/HTTP bodies (protobuf or JSON, gzip) and convert them to rows (pure)
- ``collectors.query``  trace trees, critical path, service graph and RED maths (pure)
- ``collectors.store``  the telemetry store through SQLAlchemy: schema, the single writer, queries
- ``collectors.api``    the HTTP surface: receiver, query API, live tail, /metrics
- ``collectors.__main__`` the entry point ``python -m collectors``
"""
