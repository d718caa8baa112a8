"""Database: SQLAlchemy 2 async models, engine/session setup and Alembic migrations."""

from streamforge.db.models import (
    Base,
    Job,
    JobAttempt,
    JobState,
    Notification,
    OutboxState,
    Privacy,
    Rendition,
    Role,
    UploadSession,
    User,
    Video,
    VideoStatus,
)
from streamforge.db.session import Database

__all__ = [
    "Base",
    "Database",
    "Job",
    "JobAttempt",
    "JobState",
    "Notification",
    "OutboxState",
    "Privacy",
    "Rendition",
    "Role",
    "UploadSession",
    "User",
    "Video",
    "VideoStatus",
]
