"""Configuration: one TOML file plus ``STREAMFORGE_<SECTION>__<KEY>`` environment overrides,
and conventional variables (``DATABASE_URL``, ``REDIS_URL``, …) for keys left unset.

Everything is validated by pydantic models that refuse unknown keys. A mistake ends startup
with one :class:`~streamforge.errors.ConfigError` line naming the file (or variable), the
key, what was expected and what was found. Plugin tables (``[storage.<name>]``,
``[encoders.<name>]``, ``[notifiers.<name>]``) are kept raw here and validated later against
the plugin's own ``Config`` model by :func:`validate_plugin_config`.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)

from streamforge.errors import ConfigError

ENV_PREFIX = "STREAMFORGE_"
CONFIG_ENV = "STREAMFORGE_CONFIG"
DEFAULT_CONFIG_NAME = "streamforge.toml"


def _empty_is_none(value: object) -> object:
    return None if value == "" else value


#: A path that may be left empty ("" in TOML means "not set").
OptionalPath = Annotated[Path | None, BeforeValidator(_empty_is_none)]


class Section(BaseModel):
    """Base of every config table: unknown keys are an error, values are checked strictly."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class PluginConfig(Section):
    """Base class for a plugin's ``Config`` model (its TOML table). Unknown keys are refused."""


class ServerSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    #: Public base URL (e.g. https://video.example.org). Empty: derived from host and port.
    public_url: str = ""
    data_dir: Path = Path("./streamforge-data")
    #: Origins allowed to call /api/* from a browser (CORS); ["*"] for any. Empty: off.
    cors_origins: list[str] = Field(default_factory=list)
    #: Hand local media files to a front server: "x-accel-redirect" (nginx), "x-sendfile"
    #: (Apache, lighttpd). Empty: StreamForge sends the bytes itself.
    sendfile: Literal["", "x-accel-redirect", "x-sendfile"] = ""
    #: With x-accel-redirect: the internal nginx location that maps to the storage root.
    sendfile_prefix: str = "/internal-media/"
    #: Reverse proxies (IP addresses or CIDR networks) whose X-Forwarded-For and
    #: X-Forwarded-Proto are believed. Empty: nobody's; the direct peer is the client.
    trusted_proxies: list[str] = Field(default_factory=list)
    #: Largest request body in bytes, except upload data (tus chunks, posters), which
    #: has its own limits.
    max_request_bytes: int = Field(1024 * 1024, ge=1024)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        out = []
        for entry in value:
            try:
                out.append(str(ipaddress.ip_network(entry.strip())))
            except ValueError as exc:
                if "has host bits set" in str(exc):
                    network = ipaddress.ip_network(entry.strip(), strict=False)
                    raise ValueError(
                        f"{entry!r} has host bits set: write {str(network)!r}"
                    ) from None
                raise ValueError(
                    f"{entry!r} is not an IP address or network "
                    '(e.g. "10.0.0.1", "10.0.0.0/8", "fd00::/8")'
                ) from None
        return out

    @field_validator("sendfile_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not (value.startswith("/") and value.endswith("/")):
            raise ValueError('must start and end with "/", e.g. "/internal-media/"')
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        out = []
        for origin in value:
            parts = urlsplit(origin)
            plain = parts.scheme in ("http", "https") and parts.netloc and not parts.query
            if origin != "*" and not (plain and parts.path in ("", "/") and "@" not in origin):
                raise ValueError(
                    f'{origin!r} is not an origin: use "*" or scheme://host[:port], no path'
                )
            out.append(origin.rstrip("/").lower())
        return out

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class DatabaseSection(Section):
    #: ``postgresql://user:password@host/name`` (also ``postgres://``,
    #: ``postgresql+asyncpg://``) or ``sqlite:///path``. Empty: SQLite file
    #: ``<data_dir>/streamforge.db``. Also ``$DATABASE_URL``.
    url: str = ""
    #: Seconds a write waits for another's lock before giving up (PostgreSQL: lock_timeout).
    busy_timeout: float = Field(15.0, gt=0)
    #: PostgreSQL: connections each pool keeps open, and how many more it may open under
    #: load. A process has one pool for its web app and one per job thread, so a server
    #: with T job threads may hold (1 + T) x (pool_size + max_overflow) connections.
    pool_size: int = Field(5, ge=1)
    max_overflow: int = Field(5, ge=0)

    @field_validator("url")
    @classmethod
    def _driver(cls, value: str) -> str:
        from streamforge.db.urls import normalize_database_url

        return normalize_database_url(value) if value else value


class BrokerSection(Section):
    #: ``redis://…`` or ``amqp://…``. Empty: in-process jobs (no broker needed).
    url: str = ""
    #: Prefix of every queue and channel, so several StreamForge sites can share one Redis.
    namespace: str = Field("streamforge", pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
            raise ValueError("must be a redis://, rediss://, amqp:// or amqps:// URL")
        return value


class StorageSection(Section):
    model_config = ConfigDict(extra="allow")  # [storage.<backend>] plugin tables
    backend: str = "local"


class RungSection(Section):
    name: str
    height: int = Field(gt=0, le=4320)
    video_bitrate: int = Field(gt=0)
    audio_bitrate: int = Field(gt=0)


DEFAULT_LADDER = [
    RungSection(name="360p", height=360, video_bitrate=800_000, audio_bitrate=96_000),
    RungSection(name="720p", height=720, video_bitrate=2_500_000, audio_bitrate=128_000),
    RungSection(name="1080p", height=1080, video_bitrate=5_000_000, audio_bitrate=192_000),
]


class TranscodeSection(Section):
    #: "auto" (prefers a working hardware encoder) or an encoder name such as "x264".
    encoder: str = "auto"
    segment_seconds: int = Field(4, ge=1, le=30)
    max_frame_rate: float = Field(60, gt=0, le=240)
    thumbnail_interval: int = Field(4, ge=1, le=600)
    ladder: list[RungSection] = Field(default_factory=lambda: list(DEFAULT_LADDER))
    #: Caps on untrusted media.
    max_width: int = Field(7680, gt=0)
    max_height: int = Field(4320, gt=0)
    max_duration: float = Field(6 * 3600, gt=0)
    max_streams: int = Field(16, gt=0)
    max_output_bytes: int = Field(50 * 1024**3, gt=0)
    #: Limits of the child process that decodes and encodes.
    memory_limit_mb: int = Field(4096, ge=64)
    time_limit: float = Field(6 * 3600, gt=0)

    @field_validator("ladder")
    @classmethod
    def _ladder_not_empty(cls, value: list[RungSection]) -> list[RungSection]:
        if not value:
            raise ValueError("needs at least one rung")
        return sorted(value, key=lambda r: r.height)


class JobsSection(Section):
    max_attempts: int = Field(3, ge=1, le=20)
    #: Seconds a running job's lease lasts; it is renewed every third of that.
    lease_seconds: float = Field(60, ge=1)
    #: First retry delay in seconds; doubles for each further attempt.
    retry_backoff: float = Field(10, ge=0)
    #: How many transcodes one process runs at once: serve's embedded jobs, and each
    #: `streamforge worker` process (its --threads).
    workers: int = Field(1, ge=1, le=64)
    #: `streamforge worker`: how many worker processes (its --processes).
    processes: int = Field(1, ge=1, le=256)
    #: `streamforge worker`: the queues it takes (its --queues). Empty: every queue this
    #: machine can serve (transcode, each hardware family whose encoder works here,
    #: notifications, maintenance).
    queues: list[str] = Field(default_factory=list)
    #: Seconds a stopping process (SIGTERM) lets running transcodes finish; then they are
    #: handed back (requeued at once, no attempt counted).
    shutdown_grace: float = Field(20, ge=0, le=3600)
    #: Seconds between reconciler passes.
    reconcile_interval: float = Field(5, gt=0)
    #: With an external broker: a queued job whose last message is older than this is sent
    #: again (a flushed broker, or a message held by a worker that was killed).
    requeue_after: float = Field(600, gt=0)


class PluginsSection(Section):
    #: A folder of single-file plugins (``*.py``); empty for none.
    directory: OptionalPath = None
    #: Names of plugins (entry-point names or file stems) not to load.
    disabled: list[str] = Field(default_factory=list)


class NotifiersSection(Section):
    model_config = ConfigDict(extra="allow")  # [notifiers.<name>] plugin tables
    #: Notifier plugins to call; each may have a table [notifiers.<name>].
    enabled: list[str] = Field(default_factory=lambda: ["log"])
    #: Attempts per delivery (event × notifier) before it is recorded as failed.
    max_attempts: int = Field(5, ge=1, le=50)
    #: First retry delay in seconds; doubles for each further attempt, up to retry_backoff_max.
    retry_backoff: float = Field(30, ge=0)
    retry_backoff_max: float = Field(3600, ge=0)
    #: Seconds one delivery may take before it is cut off (a failed attempt). A delivery
    #: whose process died is retried after twice this.
    timeout: float = Field(30, gt=0)
    #: Seconds between looks for due deliveries when no new event wakes the dispatcher.
    poll_interval: float = Field(10, gt=0)
    #: Days a delivered or failed delivery stays in the outbox (its record, and what keeps
    #: a re-announced event from going out again); 0 keeps them forever.
    keep_days: float = Field(30, ge=0)


class EncodersSection(Section):
    model_config = ConfigDict(extra="allow")  # [encoders.<name>] plugin tables


class ThemesSection(Section):
    active: str = "default"
    #: Extra folder searched for themes besides the built-in ones.
    directory: OptionalPath = None
    #: Site override folder: templates here win over every theme.
    override_dir: OptionalPath = None


class UploadsSection(Section):
    #: Largest accepted upload, bytes (advertised as Tus-Max-Size).
    max_size: int = Field(50 * 1024**3, gt=0)
    #: Hours an unfinished upload is kept after its last received chunk.
    expire_hours: float = Field(24, gt=0)
    #: Seconds between passes deleting expired uploads.
    purge_interval: float = Field(600, gt=0)
    #: Seconds a chunk (PATCH) may go without a byte arriving: then it is ended with 408,
    #: what arrived is kept and the client resumes. Frees an upload held by a client that
    #: vanished without closing its connection.
    idle_timeout: float = Field(60, gt=0)


class AuthSection(Section):
    #: Whether visitors who are not logged in may browse and watch public videos.
    public_library: bool = True
    #: Who may create an account: "closed" (admins make them), "invite" or "open".
    registration: Literal["open", "invite", "closed"] = "closed"
    #: The role of an account made at /register without an invite (invites carry their own).
    registration_role: Literal["viewer", "uploader"] = "viewer"
    #: Registration attempts allowed per client address within login_window seconds.
    register_attempts_per_address: int = Field(10, ge=1)
    #: Bytes of uploads each account may keep (sources of its videos plus unfinished
    #: uploads); 0 is unlimited. ``streamforge user quota`` sets one account's own.
    default_quota: int = Field(0, ge=0)
    #: Signs CSRF tokens and private media links. Empty: a random key kept in
    #: <data_dir>/secret_key. With several web nodes, set the same value on each.
    secret_key: SecretStr = SecretStr("")
    #: Days a login stays valid.
    session_days: float = Field(14, gt=0)
    #: Seconds a private video's media link works.
    media_link_seconds: int = Field(6 * 3600, ge=60)
    #: Failed logins allowed within login_window seconds, per account and per address.
    login_attempts_per_account: int = Field(5, ge=1)
    login_attempts_per_address: int = Field(20, ge=1)
    login_window: float = Field(900, gt=0)

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value()) < 32:
            raise ValueError("must have at least 32 characters (or be empty for a generated key)")
        return value


class LoggingSection(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: "text": one readable line per record. "json": one JSON object per line (time,
    #: level, logger, message, and fields such as video_id, job_id, exception).
    format: Literal["text", "json"] = "text"


class MetricsSection(Section):
    #: Serve Prometheus metrics at GET /metrics.
    enabled: bool = True
    #: When set, a scrape must send "Authorization: Bearer <token>". Empty: anyone who
    #: reaches the server may read the figures (counts and timings; no names or titles).
    token: SecretStr = SecretStr("")
    #: `streamforge worker` answers GET /metrics on this port (0: it does not); also
    #: `worker --metrics-port`. Transcode timings are kept by the process that transcodes.
    worker_port: int = Field(0, ge=0, le=65535)
    #: Address the worker's metrics port listens on ("0.0.0.0" in a container).
    worker_host: str = "127.0.0.1"


class Settings(Section):
    """The whole configuration."""

    server: ServerSection = Field(default_factory=ServerSection)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    broker: BrokerSection = Field(default_factory=BrokerSection)
    storage: StorageSection = Field(default_factory=StorageSection)
    transcode: TranscodeSection = Field(default_factory=TranscodeSection)
    encoders: EncodersSection = Field(default_factory=EncodersSection)
    jobs: JobsSection = Field(default_factory=JobsSection)
    plugins: PluginsSection = Field(default_factory=PluginsSection)
    notifiers: NotifiersSection = Field(default_factory=NotifiersSection)
    themes: ThemesSection = Field(default_factory=ThemesSection)
    uploads: UploadsSection = Field(default_factory=UploadsSection)
    auth: AuthSection = Field(default_factory=AuthSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    metrics: MetricsSection = Field(default_factory=MetricsSection)

    #: Where the settings came from (for messages); not a config key.
    source: str = Field("defaults", exclude=True)
    #: Keys set by a conventional environment variable (ENV_ALIASES), and its name.
    _aliased: dict[tuple[str, ...], str] = PrivateAttr(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'streamforge.db').as_posix()}"

    @property
    def public_url(self) -> str:
        """The configured public URL, or "" when links should stay host-relative."""
        return self.server.public_url

    @property
    def listen_url(self) -> str:
        host = self.server.host
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
        return self.server.public_url or f"http://{shown}:{self.server.port}"

    def plugin_table(self, family: str, name: str) -> dict[str, Any]:
        """The raw TOML table ``[<family>.<name>]`` (empty when absent)."""
        section = getattr(self, family)
        extra = section.model_extra or {}
        table = extra.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(
                f"{self.source}: [{family}.{name}] must be a table, found {_describe(table)}"
            )
        return table


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe to print and log)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _describe(value: object) -> str:
    if isinstance(value, str) and "@" in value:
        try:  # a URL's password never reaches a message
            value = redact_url(value)
        except ValueError:
            value = "(not shown: it may hold a password)"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _format_error(
    where: str,
    exc: ValidationError,
    data: Mapping[str, Any],
    prefix: tuple[str, ...] = (),
    overrides: Mapping[str, Any] | None = None,
    aliased: Mapping[tuple[str, ...], str] | None = None,
) -> str:
    """One line per problem: file (or variable), key, what was expected, what was found."""
    lines = []
    file_where = where
    for err in exc.errors():
        full_loc = (*prefix, *err["loc"])
        where = file_where
        if overrides and _lookup(overrides, full_loc) is not None:
            where = ENV_PREFIX + "__".join(str(p).upper() for p in full_loc)
        elif aliased and tuple(map(str, full_loc)) in aliased:
            where = aliased[tuple(map(str, full_loc))]
        key = _dotted([str(p) for p in full_loc])
        kind = err["type"]
        found = _lookup(data, full_loc)
        if kind == "extra_forbidden":
            what = "table" if isinstance(found, dict) else "key"
            lines.append(
                f"{where}: {key}: unknown {what} (check the spelling; see config.example.toml)"
            )
        elif kind == "missing":
            lines.append(f"{where}: {key}: required key is missing")
        elif kind == "value_error":
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {key}: {msg}, found {_describe(found)}")
        else:
            expected = _EXPECTED.get(kind) or err["msg"].removeprefix("Input should be ")
            lines.append(f"{where}: {key}: expected {expected}, found {_describe(found)}")
    return "\n".join(lines)


_EXPECTED = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "path_type": "a path (string)",
}


def _dotted(loc: list[str]) -> str:
    if not loc:
        return "(top level)"
    if len(loc) == 1:
        return f"[{loc[0]}]"
    table = ""
    for part in loc[:-1]:
        table += f"[{part}]" if part.isdigit() else (f".{part}" if table else part)
    return f"[{table}] {loc[-1]}"


def _lookup(data: Mapping[str, Any], loc: tuple[int | str, ...]) -> object:
    cur: object = data
    for part in loc:
        in_table = isinstance(cur, Mapping) and part in cur
        in_list = isinstance(cur, list) and isinstance(part, int) and part < len(cur)
        if in_table or in_list:
            cur = cur[part]  # type: ignore[index]
        else:
            return None
    return cur


def _parse_env_value(raw: str) -> object:
    """Env values are parsed as TOML values when they are valid TOML, else taken as text."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, object]]:
    """Collect ``STREAMFORGE_<SECTION>__<KEY>[__<SUBKEY>]`` variables into nested tables."""
    out: dict[str, dict[str, object]] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name or name == CONFIG_ENV:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if len(parts) < 2 or not all(parts):
            raise ConfigError(f"{name}: expected STREAMFORGE_<SECTION>__<KEY>")
        table: dict[str, Any] = out.setdefault(parts[0], {})
        for part in parts[1:-1]:
            table = table.setdefault(part, {})
        table[parts[-1]] = _parse_env_value(raw)
    return out


#: Conventional environment variables and the key each stands for. Each fills its key only
#: when neither the config file nor a STREAMFORGE_ variable sets it (a value of "" is unset):
#: variables meant for other programs never override what StreamForge was told. S3_BUCKET
#: also selects ``[storage] backend = "s3"`` when no backend is set. (AWS_ACCESS_KEY_ID and
#: AWS_SECRET_ACCESS_KEY are read the same way by the s3 plugin itself, when it connects.)
ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "DATABASE_URL": ("database", "url"),
    "REDIS_URL": ("broker", "url"),
    "S3_ENDPOINT": ("storage", "s3", "endpoint"),
    "S3_BUCKET": ("storage", "s3", "bucket"),
    "CDN_URL": ("storage", "s3", "cdn_url"),
}


def env_aliases(
    environ: Mapping[str, str], configured: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """The keys :data:`ENV_ALIASES` fill in, as nested tables, and the variable behind each
    key. ``configured``: the config file merged with the STREAMFORGE_ variables."""
    tables: dict[str, Any] = {}
    used: dict[tuple[str, ...], str] = {}

    def fill(loc: tuple[str, ...], value: str, name: str) -> None:
        if _lookup(configured, loc) not in (None, ""):
            return
        table = tables
        for part in loc[:-1]:
            table = table.setdefault(part, {})
        table[loc[-1]] = value  # text as given: URLs and names are not TOML
        used[loc] = name

    for name, loc in ENV_ALIASES.items():
        if environ.get(name):
            fill(loc, environ[name], name)
    if ("storage", "s3", "bucket") in used:
        fill(("storage", "backend"), "s3", "S3_BUCKET")
    return tables, used


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def find_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """The config file to use: ``--config``, else ``$STREAMFORGE_CONFIG``, else
    ``./streamforge.toml`` when it exists, else None (embedded defaults)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read, merge and validate the configuration. Raises ConfigError with a clear message."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    where = "defaults"
    if path is not None:
        file = Path(path)
        where = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"{file}: config file not found "
                f"(create one with `streamforge init --config {file}`)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: cannot read config file: {exc}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    overrides = env_overrides(environ)
    if overrides:
        data = _merge(data, overrides)
        if where == "defaults":
            where = "environment"
    aliases, aliased = env_aliases(environ, data)
    if aliases:
        data = _merge(data, aliases)
        if where == "defaults":
            where = "environment"
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        message = _format_error(where, exc, data, overrides=overrides, aliased=aliased)
        raise ConfigError(message) from None
    settings.source = where
    settings._aliased = aliased
    return _resolve_paths(settings, Path(path).parent if path else Path.cwd())


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths in the config file are relative to the file's folder."""

    def fix(p: Path | None) -> Path | None:
        if p is None:
            return None
        p = p.expanduser()
        return p if p.is_absolute() else (base / p).resolve()

    settings.server.data_dir = fix(settings.server.data_dir) or settings.server.data_dir
    settings.plugins.directory = fix(settings.plugins.directory)
    settings.themes.directory = fix(settings.themes.directory)
    settings.themes.override_dir = fix(settings.themes.override_dir)
    return settings


M = TypeVar("M", bound=BaseModel)


def validate_plugin_config(settings: Settings, family: str, name: str, model: type[M]) -> M:
    """Validate the table ``[<family>.<name>]`` against a plugin's Config model."""
    table = settings.plugin_table(family, name)
    try:
        return model.model_validate(table)
    except ValidationError as exc:
        prefixed = {family: {name: table}}
        message = _format_error(
            settings.source, exc, prefixed, (family, name), aliased=settings._aliased
        )
        raise ConfigError(message) from None
