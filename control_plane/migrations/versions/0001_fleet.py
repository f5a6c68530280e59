"""Fleet desired state and runtime instance records.

Revision ID: 0001_fleet
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001_fleet"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_services",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("resource_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_fleet_services"),
    )
    op.create_table(
        "fleet_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("faults", sa.JSON(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["service"], ["fleet_services.name"], ondelete="CASCADE",
                                name="fk_fleet_versions_service_fleet_services"),
        sa.PrimaryKeyConstraint("id", name="pk_fleet_versions"),
        sa.UniqueConstraint("service", "version", name="uq_fleet_versions_service"),
    )
    op.create_index("ix_fleet_versions_service", "fleet_versions", ["service"])
    op.create_table(
        "fleet_instances",
        sa.Column("id", sa.String(120), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fleet_instances"),
    )
    op.create_index("ix_fleet_instances_service", "fleet_instances", ["service"])


def downgrade() -> None:
    op.drop_index("ix_fleet_instances_service", table_name="fleet_instances")
    op.drop_table("fleet_instances")
    op.drop_index("ix_fleet_versions_service", table_name="fleet_versions")
    op.drop_table("fleet_versions")
    op.drop_table("fleet_services")
