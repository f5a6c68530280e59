"""Data access for the fleet's desired state and instance records (the only place that queries them)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select, update
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

    def _bump(self, s: Session, service: str, expected: int | None) -> int:
        """Raise the service's resource version by one, atomically; with ``expected``, only from that version.

        The conditional UPDATE is the lock: on PostgreSQL a concurrent writer waits for the row and then
        finds the version moved; on SQLite the first UPDATE takes the database write lock.
        """
        now = self._clock()
        row = s.get(ServiceRow, service)
        if row is None:
            if expected not in (None, 0):
                raise ConflictError(f"{service} changed since version {expected} (now 0); reload and try again",
                                    details={"resource_version": 0})
            s.add(ServiceRow(name=service, resource_version=1, updated_at=now))
            s.flush()
            return 1
        if expected is None:
            s.execute(update(ServiceRow).where(ServiceRow.name == service)
                      .values(resource_version=ServiceRow.resource_version + 1, updated_at=now))
            return int(s.scalar(select(ServiceRow.resource_version).where(ServiceRow.name == service)) or 0)
        done = s.execute(update(ServiceRow).where(ServiceRow.name == service,
                                                  ServiceRow.resource_version == expected)
                         .values(resource_version=expected + 1, updated_at=now)
                         .execution_options(synchronize_session=False))
        if done.rowcount != 1:
            current = s.scalar(select(ServiceRow.resource_version).where(ServiceRow.name == service))
            raise ConflictError(f"{service} changed since version {expected} (now {current}); reload and try again",
                                details={"resource_version": current})
        return expected + 1

    def upsert_version(self, service: str, version: str, replicas: int, faults: Mapping[str, object],
                       weight_if_new: int = 0) -> tuple[DesiredVersion, int]:
        """Create or update a version; returns it and the service's new resource version."""
        now = self._clock()
        with self._sessions.begin() as s:
            rv = self._bump(s, service, None)
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
            return _desired(row), rv

    def delete_version(self, service: str, version: str) -> int:
        """Remove a version; returns the service's new resource version."""
        with self._sessions.begin() as s:
            row = s.scalar(select(VersionRow).where(VersionRow.service == service, VersionRow.version == version))
            if row is None:
                raise NotFoundError(f"{service} has no version {version!r}",
                                    details={"service": service, "version": version})
            rv = self._bump(s, service, None)
            s.delete(row)
            return rv

    def set_weights(self, service: str, weights: Mapping[str, int], expected: int | None) -> int:
        """Set every version's weight (unnamed versions get 0) if ``expected`` still matches; returns the new one."""
        now = self._clock()
        with self._sessions.begin() as s:
            rv = self._bump(s, service, expected)
            for row in s.scalars(select(VersionRow).where(VersionRow.service == service)):
                row.weight = int(weights.get(row.version, 0))
                row.updated_at = now
            return rv

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
