"""KPI: imported activities (knowledge and learning facts) and scores per engineer and period,
with the raw score, the computed band and a manager's calibration in separate columns.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("engineer_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("evidence", sa.Text),
        sa.Column("imported_at", TZ, nullable=False),
        sa.UniqueConstraint("engineer_id", "day", "kind", "title", name="uq_activities_fact"),
    )
    op.create_index("ix_activities_day", "activities", ["day"])
    op.create_table(
        "kpi_scores",
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("engineer_id", sa.String(64), primary_key=True),
        sa.Column("raw_score", sa.Numeric(5, 1)),
        sa.Column("kpi_score", sa.Numeric(5, 1)),
        sa.Column("band", sa.String(10)),
        sa.Column("behaviour_score", sa.Numeric(5, 1)),
        sa.Column("calibrated_band", sa.String(10)),
        sa.Column("calibration_note", sa.Text),
        sa.Column("detail", sa.JSON),
        sa.Column("computed_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kpi_scores")
    op.drop_index("ix_activities_day", "activities")
    op.drop_table("activities")
