"""Rollouts and their history.

Revision ID: 0003_rollouts
Revises: 0002_auth
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_rollouts"
down_revision = "0002_auth"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(24), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("canary_version", sa.String(64), nullable=False),
        sa.Column("stable_version", sa.String(64), nullable=False),
        sa.Column("stable_replicas", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("active_service", sa.String(64), nullable=True),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_started_at", sa.Float(), nullable=True),
        sa.Column("waiting", sa.String(24), nullable=False),
        sa.Column("canary_weight", sa.Integer(), nullable=False),
        sa.Column("paused_at", sa.Float(), nullable=True),
        sa.Column("hook_retry_at", sa.Float(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("last_verdict", sa.String(16), nullable=True),
        sa.Column("last_evidence", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollouts"),
        sa.UniqueConstraint("active_service", name="uq_rollouts_active_service"),
    )
    op.create_index("ix_rollouts_service", "rollouts", ["service"])
    op.create_table(
        "rollout_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("rollout_id", sa.String(24), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rollout_events"),
        sa.ForeignKeyConstraint(["rollout_id"], ["rollouts.id"], name="fk_rollout_events_rollout_id_rollouts",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_rollout_events_rollout_id_seq", "rollout_events", ["rollout_id", "seq"], unique=True)


def downgrade() -> None:
    op.drop_table("rollout_events")
    op.drop_table("rollouts")
