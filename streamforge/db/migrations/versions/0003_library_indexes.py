"""library indexes

One index per library sort, leading with ``privacy`` (every public listing filters on it)
and carrying ``id`` (the tiebreak and the keyset cursor's last value) and ``status`` (the
API's filter), so a listing page, its count and a cursor seek read the index alone; one
more for a status, newest or oldest first, which replaces 0001's index on status alone
(every query that used it can use this one). Plus the admin page's newest-first job
listing.

0001's index on ``created_at`` alone goes: the listing index serves everything it did, and
while it exists SQLite walks it for a search sorted by date, fetching row after row to test
its text, up to 200 ms where reading the table once takes 30 ms.

Measured with 100,000 videos (tests/bench/library.py, docs/performance.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 14:02:51.406215
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_index("ix_videos_created_at")
        batch_op.create_index(
            "ix_videos_listing_created", ["privacy", "created_at", "id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_videos_listing_title", ["privacy", "title", "id", "status"], unique=False
        )
        batch_op.drop_index("ix_videos_status")
        batch_op.create_index(
            "ix_videos_listing_status", ["status", "privacy", "created_at", "id"], unique=False
        )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_created", ["created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_created")
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_index("ix_videos_listing_status")
        batch_op.create_index("ix_videos_status", ["status"], unique=False)
        batch_op.drop_index("ix_videos_listing_title")
        batch_op.drop_index("ix_videos_listing_created")
        batch_op.create_index("ix_videos_created_at", ["created_at"], unique=False)
