"""Request body limits by route.

Every body is held to the app-wide ``MAX_CONTENT_LENGTH`` (``[server] max_request_bytes``,
meant for JSON and forms) unless a route declares its own :class:`BodyLimit`: tus chunks
are streamed to disk under the upload's own limits, posters have a limit of their own.
The app's request class is made from all of them at once (:func:`request_class`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quart.wrappers import Request
from werkzeug.datastructures import Headers


@dataclass(frozen=True)
class BodyLimit:
    """A route's own body limit: ``limit`` bytes, or None where the route enforces its
    own while it streams, for requests that ``matches(method, path, headers)``."""

    matches: Callable[[str, str, Headers], bool]
    limit: int | None


def request_class(*limits: BodyLimit) -> type[Request]:
    """A request class applying the first of ``limits`` that matches a request."""

    class LimitedRequest(Request):
        def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any):
            headers = args[1] if len(args) > 1 else kwargs["headers"]  # (query_string, headers…)
            for rule in limits:
                if rule.matches(method, path, headers):
                    kwargs["max_content_length"] = rule.limit
                    break
            super().__init__(method, scheme, path, *args, **kwargs)

    return LimitedRequest
