"""The ``streamforge`` command line. Every command takes ``--config PATH``
(or ``$STREAMFORGE_CONFIG``); without one, ``./streamforge.toml`` if present, else the
embedded defaults. A user mistake ends in one ``streamforge: error: …`` line, never a
traceback."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from streamforge import __version__
from streamforge.config import DEFAULT_CONFIG_NAME, Settings, find_config_path, load_settings
from streamforge.errors import StreamForgeError
from streamforge.logs import setup_logging

T = TypeVar("T")


def _settings(ctx: click.Context) -> Settings:
    cached: Settings | None = ctx.obj.get("settings")
    if cached is None:
        cached = load_settings(find_config_path(ctx.obj.get("config")))
        ctx.obj["settings"] = cached
        setup_logging(cached.logging)
    return cached


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _say(message: str) -> None:
    """Messages for people go to stderr; stdout is kept for results scripts read."""
    click.echo(message, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="STREAMFORGE_CONFIG",
    help=f"Config file (default: ./{DEFAULT_CONFIG_NAME} if present, else built-in defaults).",
)
@click.version_option(__version__, prog_name="streamforge")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """StreamForge: a self-hosted video server."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


# -- serve ---------------------------------------------------------------------------------


@cli.command()
@click.option("--host", help="Override [server] host.")
@click.option("--port", type=int, help="Override [server] port.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the web server (and, in embedded mode, the transcoding workers)."""
    settings = _settings(ctx)
    if host:
        settings.server.host = host
    if port is not None:
        settings.server.port = port
    from streamforge.server import run_server

    run_server(settings, announce=_say)


# -- worker --------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--processes",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes (default [jobs] processes); above 1, a supervisor restarts "
    "any that dies.",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=None,
    help="Concurrent jobs per process (default [jobs] workers).",
)
@click.option(
    "--queues",
    metavar="Q1,Q2,...",
    default=None,
    help="Queues to take (default [jobs] queues, else all this machine can serve): "
    "transcode, transcode.<family> (e.g. transcode.nvidia), notifications, maintenance.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Answer GET /metrics on this port (default [metrics] worker_port; 0: no); "
    "with --processes N, worker i uses this port + i.",
)
@click.option("--supervised-by", type=int, default=None, hidden=True)
@click.option("--index", type=int, default=0, hidden=True)
@click.pass_context
def worker(
    ctx: click.Context,
    processes: int | None,
    threads: int | None,
    queues: str | None,
    metrics_port: int | None,
    supervised_by: int | None,
    index: int,
) -> None:
    """Run transcoding workers for the scale-out mode ([broker] url must be set)."""
    settings = _settings(ctx)
    if not settings.broker.url:
        raise StreamForgeError(
            "`worker` needs a broker: set [broker] url (e.g. redis://localhost:6379/0). "
            "In the embedded mode `streamforge serve` runs the jobs itself."
        )
    from streamforge.jobs.service import worker_main

    code = worker_main(
        settings,
        config=find_config_path(ctx.obj.get("config")),
        processes=processes,
        threads=threads,
        queues=queues,
        metrics_port=metrics_port,
        supervised_by=supervised_by,
        index=index,
        announce=_say,
    )
    if code:
        sys.exit(code)


# -- init / migrate --------------------------------------------------------------------------


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_context
def init(ctx: click.Context, force: bool) -> None:
    """Write a commented starting config file (to --config or ./streamforge.toml)."""
    from streamforge.config_file import example_config_text

    target: Path = ctx.obj.get("config") or Path(DEFAULT_CONFIG_NAME)
    if target.exists() and not force:
        raise StreamForgeError(f"{target} already exists (use --force to overwrite it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(example_config_text(), encoding="utf-8")
    _say(f"wrote {target}; edit it, then run: streamforge --config {target} serve")


@cli.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Bring the database schema up to date (serve does this by itself)."""
    from streamforge.db.session import Database

    settings = _settings(ctx)

    async def go() -> None:
        db = Database.of(settings)
        try:
            await db.migrate()
        finally:
            await db.close()

    _run(go())
    _say("database is up to date")


@cli.command("copy-database")
@click.argument("target_url")
@click.pass_context
def copy_database(ctx: click.Context, target_url: str) -> None:
    """Copy every row of the configured database into TARGET_URL, a new, empty database
    (e.g. from the embedded SQLite file to PostgreSQL). Stop serve and the workers first;
    then point [database] url at the target."""
    from streamforge.db.copy import Copied
    from streamforge.db.copy import copy_database as copy_rows
    from streamforge.db.session import Database

    settings = _settings(ctx)

    def report(done: Copied) -> None:
        _say(f"{done.table}: {done.rows} row(s)")

    async def go() -> int:
        source, target = Database.of(settings), Database(target_url)
        try:
            return sum(c.rows for c in await copy_rows(source, target, on_table=report))
        finally:
            await source.close()
            await target.close()

    total = _run(go())
    _say(f"copied {total} row(s); now set [database] url (or DATABASE_URL) to the target")


# -- add -----------------------------------------------------------------------------------


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--title", help="Title for the imported video(s) (default: from the file name).")
@click.option(
    "--owner",
    metavar="NAME",
    help="Account that owns the video(s): it may edit them, and they count toward its "
    "quota (default: no owner; only admins may edit).",
)
@click.option(
    "--privacy",
    type=click.Choice(["public", "unlisted", "private"]),
    default="public",
    show_default=True,
)
@click.option("--wait", is_flag=True, help="Wait until each video is ready or failed.")
@click.pass_context
def add(
    ctx: click.Context,
    files: tuple[Path, ...],
    title: str | None,
    owner: str | None,
    privacy: str,
    wait: bool,
) -> None:
    """Import local video files; prints each new video's id on its own line."""
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise StreamForgeError(f"no such file: {', '.join(missing)} (nothing was imported)")
    from streamforge.db.models import Privacy
    from streamforge.jobs.service import import_files

    ok = _run(
        import_files(
            _settings(ctx),
            list(files),
            title=title,
            owner=owner,
            privacy=Privacy(privacy),
            wait=wait,
            on_id=lambda vid: click.echo(vid),
            announce=_say,
        )
    )
    if not ok:
        ctx.exit(1)


# -- user / token --------------------------------------------------------------------------


def _with_db(ctx: click.Context, work: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """Run ``work(db)`` against the configured database, migrated first."""
    from streamforge.db.session import Database

    settings = _settings(ctx)

    async def go() -> T:
        db = Database.of(settings)
        try:
            await db.migrate()
            return await work(db)
        finally:
            await db.close()

    return _run(go())


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise StreamForgeError("no password given: type it at a terminal or use --password-stdin")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return password


_ROLES = click.Choice(["admin", "uploader", "viewer"])


@cli.group()
def user() -> None:
    """Manage accounts: add, passwd, role, disable, enable, list."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=_ROLES, default="uploader", show_default=True)
@click.option("--admin", is_flag=True, help="Same as --role admin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@click.pass_context
def user_add(ctx: click.Context, name: str, role: str, admin: bool, password_stdin: bool) -> None:
    """Create a user (the first admin can also be made on the web setup page)."""
    from streamforge.auth.accounts import create_user
    from streamforge.db.models import Role

    password = _read_password(password_stdin)
    chosen = Role.ADMIN if admin else Role(role)
    _with_db(ctx, lambda db: create_user(db, name, password, chosen))
    _say(f"user {name} created ({chosen})")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@click.pass_context
def user_passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a user's password."""
    from streamforge.auth.accounts import set_password

    password = _read_password(password_stdin)
    _with_db(ctx, lambda db: set_password(db, name, password))
    _say(f"password of {name} changed")


@user.command("role")
@click.argument("name")
@click.argument("role", type=_ROLES)
@click.pass_context
def user_role(ctx: click.Context, name: str, role: str) -> None:
    """Give a user another role."""
    from streamforge.auth.accounts import set_role
    from streamforge.db.models import Role

    _with_db(ctx, lambda db: set_role(db, name, Role(role)))
    _say(f"{name} is now {role}")


@user.command("disable")
@click.argument("name")
@click.pass_context
def user_disable(ctx: click.Context, name: str) -> None:
    """Stop a user from logging in or using their API tokens (nothing is deleted)."""
    from streamforge.auth.accounts import set_disabled

    _with_db(ctx, lambda db: set_disabled(db, name, True))
    _say(f"{name} is disabled")


@user.command("enable")
@click.argument("name")
@click.pass_context
def user_enable(ctx: click.Context, name: str) -> None:
    """Let a disabled user in again."""
    from streamforge.auth.accounts import set_disabled

    _with_db(ctx, lambda db: set_disabled(db, name, False))
    _say(f"{name} is enabled")


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List users: name, role, state, bytes used, quota."""
    from streamforge.auth.quota import list_usage

    settings = _settings(ctx)
    for row in _with_db(ctx, lambda db: list_usage(db, settings)):
        state = "disabled" if row.disabled else "enabled"
        limit = "unlimited" if row.usage.limit is None else str(row.usage.limit)
        if row.own_quota is None and row.role != "admin":
            limit = f"default:{limit}"
        click.echo(f"{row.name:<24} {row.role:<9} {state:<8} {row.usage.used:>14} {limit}")


@user.command("quota")
@click.argument("name")
@click.argument("size", metavar="BYTES|unlimited|default")
@click.pass_context
def user_quota(ctx: click.Context, name: str, size: str) -> None:
    """Set how many bytes of uploads NAME may keep (`default`: [auth] default_quota)."""
    from streamforge.auth.quota import format_bytes, parse_quota, set_quota

    value = parse_quota(size)
    _with_db(ctx, lambda db: set_quota(db, name, value))
    if value is None:
        _say(f"{name} follows the default quota ([auth] default_quota)")
    else:
        shown = "unlimited" if value == 0 else f"{format_bytes(value)} ({value} bytes)"
        _say(f"quota of {name}: {shown}")


@cli.group()
def token() -> None:
    """Manage API tokens (sent as `Authorization: Bearer TOKEN`)."""


@token.command("create")
@click.argument("name")
@click.option("--label", default="", help="What the token is for (shown in lists).")
@click.pass_context
def token_create(ctx: click.Context, name: str, label: str) -> None:
    """Make an API token for user NAME; the token alone is the last line of stdout."""
    from streamforge.auth.tokens import create_token

    made = _with_db(ctx, lambda db: create_token(db, name, label))
    _say(f"API token {made.id} for {made.user_name}; it is shown once, keep it safe:")
    click.echo(made.token)


@token.command("list")
@click.argument("name", required=False)
@click.pass_context
def token_list(ctx: click.Context, name: str | None) -> None:
    """List API tokens (of user NAME, or everyone's); never the secrets."""
    from streamforge.auth.tokens import list_tokens

    for row in _with_db(ctx, lambda db: list_tokens(db, name)):
        used = row.last_used_at.isoformat(timespec="minutes") if row.last_used_at else "never"
        state = "revoked" if row.revoked_at else f"last used {used}"
        click.echo(f"{row.id}  {row.user_name:<24} {state:<34} {row.label}")


@token.command("revoke")
@click.argument("token_id")
@click.pass_context
def token_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke an API token by its id (see `token list`)."""
    from streamforge.auth.tokens import revoke_token

    _with_db(ctx, lambda db: revoke_token(db, token_id))
    _say(f"token {token_id} revoked")


@cli.group()
def invite() -> None:
    """Manage invites: single-use registration links ([auth] registration = "invite")."""


@invite.command("create")
@click.option(
    "--role",
    type=click.Choice(["viewer", "uploader"]),
    help="Role of the account it makes (default: [auth] registration_role).",
)
@click.option("--days", type=float, default=7.0, show_default=True, help="Days it stays valid.")
@click.pass_context
def invite_create(ctx: click.Context, role: str | None, days: float) -> None:
    """Make an invite; its registration link alone is the last line of stdout."""
    from streamforge.auth.invites import create_invite
    from streamforge.db.models import Role

    settings = _settings(ctx)
    chosen = Role(role or settings.auth.registration_role)
    made = _with_db(ctx, lambda db: create_invite(db, chosen, days=days))
    until = made.expires_at.isoformat(timespec="minutes")
    _say(f"invite {made.id} for a new {chosen}, valid until {until}; it is shown once:")
    if settings.auth.registration == "closed":
        _say('note: [auth] registration is "closed": the link works once it is "invite"')
    click.echo(f"{settings.listen_url}/register?invite={made.code}")


@invite.command("list")
@click.pass_context
def invite_list(ctx: click.Context) -> None:
    """List invites: id, role, state, expiry, who made and who used each; never the codes."""
    from streamforge.auth.invites import list_invites

    for row in _with_db(ctx, list_invites):
        expires = row.expires_at.isoformat(timespec="minutes")
        made_by, used_by = row.created_by or "-", row.used_by or "-"
        click.echo(f"{row.id}  {row.role:<9} {row.state:<8} {expires}  {made_by:<24} {used_by}")


@invite.command("revoke")
@click.argument("invite_id")
@click.pass_context
def invite_revoke(ctx: click.Context, invite_id: str) -> None:
    """Revoke an unused invite by its id (see `invite list`)."""
    from streamforge.auth.invites import revoke_invite

    _with_db(ctx, lambda db: revoke_invite(db, invite_id))
    _say(f"invite {invite_id} revoked")


# -- plugins / doctor ----------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List loaded plugins, the hooks they implement, and what they provide."""
    from streamforge.plugins import Registry

    registry = Registry.build(_settings(ctx))
    provided = {
        "storage_backends": sorted(registry.storage_backends),
        "encoders": sorted(registry.encoders),
        "notifiers": sorted(registry.notifiers),
    }
    loaded = registry.describe()
    if as_json:
        rows = [{"name": n, "hooks": h} for n, h in loaded]
        click.echo(json.dumps({"plugins": rows, **provided}, indent=2))
        return
    for name, hooks in loaded:
        click.echo(f"{name:<24} {', '.join(hooks)}")
    for key, names in provided.items():
        click.echo(f"{key.replace('_', ' ')}: {', '.join(names) or '-'}")


@cli.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check config, database, storage, broker and encoders; say what to fix."""
    from streamforge.doctor import run_checks

    try:
        settings = _settings(ctx)
    except StreamForgeError as exc:
        click.echo(f"✗ config: {exc}")
        ctx.exit(1)
    results = _run(run_checks(settings))
    for result in results:
        mark = "✓" if result.ok else "✗"
        click.echo(f"{mark} {result.name}: {result.detail}")
        if not result.ok and result.fix:
            click.echo(f"    fix: {result.fix}")
    if not all(r.ok for r in results):
        ctx.exit(1)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="streamforge", standalone_mode=True)
    except StreamForgeError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            click.echo(f"streamforge: error: {line}", err=True)
        sys.exit(2)


def install_signal_handlers(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
