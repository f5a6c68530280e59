"""Control-store tables of the fleet: desired state per service version and the instances that run it.

``fleet_services`` carries the resource version used for optimistic locking of a service's weights
and versions; ``fleet_versions`` the desired replicas, faults and traffic weight of each version;
``fleet_instances`` what the local runtime started (pid, port), so a restarted control plane can
re-adopt live processes instead of orphaning them.
"""

from __future__ import annotations

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.store.db import Base


class ServiceRow(Base):
    """One service of the fleet; ``resource_version`` goes up on every change to it or its versions."""

    __tablename__ = "fleet_services"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[float] = mapped_column(Float, nullable=False)


class VersionRow(Base):
    """Desired state of one version of one service."""

    __tablename__ = "fleet_versions"
    __table_args__ = (UniqueConstraint("service", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(64), ForeignKey("fleet_services.name", ondelete="CASCADE"),
                                         nullable=False, index=True)
    version: Mapped[str] = mapped_column(String(40), nullable=False)
    replicas: Mapped[int] = mapped_column(Integer, nullable=False)
    faults: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    # Percentage of the service's traffic (the versions of a service sum to 100, or all 0 when none).
    weight: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[float] = mapped_column(Float, nullable=False)


class InstanceRow(Base):
    """One instance the local runtime started: enough to find and re-adopt its process."""

    __tablename__ = "fleet_instances"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # "<service>-<version>-<n>"
    service: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    version: Mapped[str] = mapped_column(String(40), nullable=False)
    ordinal: Mapped[int] = mapped_column(Integer, nullable=False)
    port: Mapped[int] = mapped_column(Integer, nullable=False)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[float] = mapped_column(Float, nullable=False)
    restarts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
