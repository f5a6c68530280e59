"""The reference shop fleet: small FastAPI services sharing one service kit, and a load generator.

Run one service with ``python -m fleet <service>`` (see fleet/README.md and docs/CONTRACTS.md).
The fleet knows nothing of the control plane: it only exports OTLP and serves /metrics.
"""

SERVICES = ("frontend", "catalog", "cart", "checkout", "payment", "shipping", "recommendation", "orders")
