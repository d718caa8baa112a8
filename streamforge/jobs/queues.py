"""Work kinds and the queues that carry them, and which queues a worker takes.

Queue names (see docs/workers.md):

``transcode``
    transcodes with a software encoder, or with ``[transcode] encoder = "auto"``: each
    worker then uses the best encoder that works on its own machine.
``transcode.<family>``
    transcodes for a hardware encoder family (``transcode.nvidia``, ``transcode.vaapi``),
    sent when ``[transcode] encoder`` names a hardware encoder. Only workers that take that
    queue run them, so a machine without the GPU never fails a job for lack of it.
``notifications``
    the notification outbox. The outbox is already a durable queue in the database (claims,
    retries, backoff); a worker that takes ``notifications`` runs its dispatcher.
``maintenance``
    the reconciler (lost leases, lost messages) and the outbox pruning.

Thumbnails and the poster are made in the transcode's own decoding pass, so they have no
queue of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from streamforge.errors import ConfigError
from streamforge.plugins import Registry

TRANSCODE = "transcode"
NOTIFICATIONS = "notifications"
MAINTENANCE = "maintenance"
#: The work kinds that are not transcodes; they run as loops in the worker's event loop.
SERVICE_QUEUES = (NOTIFICATIONS, MAINTENANCE)
#: Encoder family of software encoders: their jobs go to plain ``transcode``.
SOFTWARE_FAMILY = "cpu"

_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)?$")


def family_queue(family: str) -> str:
    """The transcode queue of one encoder family."""
    return TRANSCODE if family == SOFTWARE_FAMILY else f"{TRANSCODE}.{family}"


def hardware_families(registry: Registry) -> dict[str, list[str]]:
    """Hardware encoder families of the loaded encoder plugins: family -> encoder names."""
    families: dict[str, list[str]] = {}
    for name, cls in sorted(registry.encoders.items()):
        if getattr(cls, "hardware", False) and cls.family != SOFTWARE_FAMILY:
            families.setdefault(cls.family, []).append(name)
    return families


def transcode_queue(registry: Registry) -> str:
    """Where transcode messages go: decided by ``[transcode] encoder`` alone (no probing),
    so every node sharing a config file routes the same way."""
    wanted = registry.settings.transcode.encoder
    cls = registry.encoders.get(wanted)
    if wanted == "auto" or cls is None or not getattr(cls, "hardware", False):
        return TRANSCODE
    return family_queue(cls.family)


def known_queues(registry: Registry) -> list[str]:
    """Every queue name a worker may be told to take."""
    families = [family_queue(f) for f in hardware_families(registry)]
    return [TRANSCODE, *families, NOTIFICATIONS, MAINTENANCE]


def default_queues(registry: Registry) -> list[str]:
    """What a worker takes when not told: everything this machine can do — the general
    queues, plus each hardware family with an encoder that really works here."""
    from streamforge.library.encoding import encoder_works

    queues = [TRANSCODE]
    for family, names in hardware_families(registry).items():
        if any(encoder_works(registry.encoder(name)) for name in names):
            queues.append(family_queue(family))
    return [*queues, NOTIFICATIONS, MAINTENANCE]


def parse_queues(text: str | Iterable[str]) -> list[str]:
    """``"transcode,notifications"`` (or a list) -> names, in order, without repeats."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in (i.strip() for i in items):
        if item and item not in out:
            out.append(item)
    return out


def check_queues(registry: Registry, queues: list[str], where: str) -> list[str]:
    """Refuse unknown queue names with a message that lists the known ones."""
    known = known_queues(registry)
    if not queues:
        raise ConfigError(f"{where}: names no queue (known: {', '.join(known)})")
    for name in queues:
        if name in known:
            continue
        hint = ""
        if name.startswith(TRANSCODE + ".") and _NAME.match(name):
            encoder = name.split(".", 1)[1]
            cls = registry.encoders.get(encoder)
            if cls is not None:
                hint = f"; queues are named by encoder family: try {family_queue(cls.family)!r}"
        raise ConfigError(f"{where}: unknown queue {name!r} (known: {', '.join(known)}){hint}")
    return queues
