"""Data access for the fleet's desired state and instance records (the only place that queries them)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from control_plane.errors import ConflictError, NotFoundError
from control_plane.store.fleet_models import InstanceRow, ServiceRow, VersionRow


@dataclass(frozen=True)
class DesiredVersion:
    """A stored version of a service: what should run and what share of traffic it gets."""

    service: str
    version: str
    replicas: int
    faults: dict
    weight: int


@dataclass(frozen=True)
class InstanceRecord:
    """A stored instance: what the runtime needs to re-adopt its process after a restart."""

    id: str
    service: str
    version: str
    ordinal: int
    port: int
    pid: int | None
    started_at: float
    restarts: int


def _desired(row: VersionRow) -> DesiredVersion:
    return DesiredVersion(row.service, row.version, row.replicas, dict(row.faults or {}), row.weight)


class FleetRepo:
    """Desired state and instance records in the control store; every method is its own transaction."""

    def __init__(self, sessions: sessionmaker, clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._clock = clock

    # --- services and versions -------------------------------------------------------------------
    def has_services(self) -> bool:
        with self._sessions() as s:
            return s.scalar(select(ServiceRow.name).limit(1)) is not None

    def resource_version(self, service: str) -> int:
        with self._sessions() as s:
            row = s.get(ServiceRow, service)
            return row.resource_version if row else 0

    def versions(self, service: str | None = None) -> list[DesiredVersion]:
        with self._sessions() as s:
            q = select(VersionRow).order_by(VersionRow.service, VersionRow.id)
            if service is not None:
                q = q.where(VersionRow.service == service)
            return [_desired(r) for r in s.scalars(q)]

    def _service_row(self, s: Session, service: str, expected: int | None) -> ServiceRow:
        row = s.get(ServiceRow, service, with_for_update=True)
        if row is None:
            row = ServiceRow(name=service, resource_version=0, updated_at=self._clock())
            s.add(row)
        if expected is not None and row.resource_version != expected:
            raise ConflictError(f"{service} changed since version {expected} (now {row.resource_version}); "
                                "reload and try again", details={"resource_version": row.resource_version})
        row.resource_version += 1
        row.updated_at = self._clock()
        return row

    def upsert_version(self, service: str, version: str, replicas: int, faults: Mapping[str, object],
                       weight_if_new: int = 0) -> tuple[DesiredVersion, int]:
        """Create or update a version; returns it and the service's new resource version."""
        now = self._clock()
        with self._sessions.begin() as s:
            svc = self._service_row(s, service, None)
            row = s.scalar(select(VersionRow).where(VersionRow.service == service, VersionRow.version == version))
            if row is None:
                row = VersionRow(service=service, version=version, replicas=replicas, faults=dict(faults),
                                 weight=weight_if_new, created_at=now, updated_at=now)
                s.add(row)
            else:
                row.replicas = replicas
                row.faults = dict(faults)
                row.updated_at = now
            s.flush()
            return _desired(row), svc.resource_version

    def delete_version(self, service: str, version: str) -> int:
        """Remove a version; returns the service's new resource version."""
        with self._sessions.begin() as s:
            row = s.scalar(select(VersionRow).where(VersionRow.service == service, VersionRow.version == version))
            if row is None:
                raise NotFoundError(f"{service} has no version {version!r}",
                                    details={"service": service, "version": version})
            s.delete(row)
            return self._service_row(s, service, None).resource_version

    def set_weights(self, service: str, weights: Mapping[str, int], expected: int | None) -> int:
        """Set every version's weight (unnamed versions get 0) if ``expected`` still matches; returns the new one."""
        now = self._clock()
        with self._sessions.begin() as s:
            svc = self._service_row(s, service, expected)
            for row in s.scalars(select(VersionRow).where(VersionRow.service == service)):
                row.weight = int(weights.get(row.version, 0))
                row.updated_at = now
            return svc.resource_version

    # --- instances ---------------------------------------------------------------------------------
    def instances(self) -> list[InstanceRecord]:
        with self._sessions() as s:
            return [InstanceRecord(r.id, r.service, r.version, r.ordinal, r.port, r.pid, r.started_at, r.restarts)
                    for r in s.scalars(select(InstanceRow).order_by(InstanceRow.id))]

    def save_instance(self, rec: InstanceRecord) -> None:
        with self._sessions.begin() as s:
            row = s.get(InstanceRow, rec.id)
            if row is None:
                s.add(InstanceRow(id=rec.id, service=rec.service, version=rec.version, ordinal=rec.ordinal,
                                  port=rec.port, pid=rec.pid, started_at=rec.started_at, restarts=rec.restarts))
            else:
                row.port, row.pid, row.started_at, row.restarts = rec.port, rec.pid, rec.started_at, rec.restarts

    def delete_instance(self, instance_id: str) -> None:
        with self._sessions.begin() as s:
            s.execute(delete(InstanceRow).where(InstanceRow.id == instance_id))
