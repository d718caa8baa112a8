"""docs/themes.md cannot drift from the code: every template, block, context variable,
global and filter is documented, and the tutorial's theme really works."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jinja2
import pytest
from quart import Quart

from streamforge.app import create_app
from streamforge.web.themes import builtin_themes_dir
from tests.authn import bearer_client, make_account
from tests.conftest import make_settings
from tests.web.helpers import add_ready_video

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs/themes.md").read_text(encoding="utf-8")
DEFAULT_TEMPLATES = builtin_themes_dir() / "default/templates"
BLOCK = re.compile(r"{%-?\s*block\s+(\w+)")
TUTORIAL_FILE = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", re.S)


def section(template: str) -> str:
    """The part of the doc under ``### `template` `` up to the next heading."""
    match = re.search(rf"^### `{re.escape(template)}`\n(.*?)(?=^##)", DOC, re.S | re.M)
    assert match, f"docs/themes.md has no section ### `{template}`"
    return match.group(1)


def render_page_contexts() -> dict[str, set[str]]:
    """Template name -> the keywords passed with it: every call ``f("x.html", …, k=…)`` in
    the package (``render_page`` itself or a view's wrapper around it)."""
    found: dict[str, set[str]] = {}
    for module in (REPO / "streamforge").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).endswith(".html")
            ):
                names = {k.arg for k in node.keywords if k.arg}
                found.setdefault(str(node.args[0].value), set()).update(names)
    return found


@pytest.mark.parametrize("template", sorted(p.name for p in DEFAULT_TEMPLATES.glob("*.html")))
def test_every_default_template_and_its_blocks_are_documented(template: str) -> None:
    text = section(template)
    source = (DEFAULT_TEMPLATES / template).read_text(encoding="utf-8")
    for block in BLOCK.findall(source):
        assert f"`{block}`" in text, f"block {block!r} of {template} is not in its section"


def test_every_page_context_variable_is_documented() -> None:
    contexts = render_page_contexts()
    pages = {"library.html", "video.html", "upload.html", "admin.html", "error.html"}
    assert pages <= set(contexts)
    for template, names in contexts.items():
        text = section(template)
        missing = sorted(n for n in names if f"`{n}`" not in text)
        assert missing == [], f"{template}: context {missing} missing from docs/themes.md"


async def test_every_global_filter_and_processor_variable_is_documented(app: Quart) -> None:
    plain = jinja2.Environment()
    added = (set(app.jinja_env.globals) - set(plain.globals)) | (
        set(app.jinja_env.filters) - set(plain.filters)
    )
    async with app.test_request_context("/"):
        every_page: dict[str, object] = {}
        await app.update_template_context(every_page)  # what context processors add
    added |= set(every_page)
    assert {"static_url", "site_name", "duration", "request"} <= added
    missing = sorted(n for n in added if not re.search(rf"`{n}[`(]", DOC))
    assert missing == [], f"undocumented template globals/filters/variables: {missing}"


def test_the_cinema_templates_are_described() -> None:
    for template in (builtin_themes_dir() / "cinema/templates").glob("*"):
        assert f"templates/{template.name}" in DOC, template.name


async def test_the_tutorial_theme_works(tmp_path: Path) -> None:
    files = TUTORIAL_FILE.findall(DOC)
    assert len(files) >= 4, "the tutorial's <!-- file: … --> blocks are gone"
    for rel, text in files:
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    theme = Path(files[0][0]).parent  # mythemes/sepia
    settings = make_settings(
        tmp_path,
        STREAMFORGE_THEMES__DIRECTORY=str(tmp_path / theme.parent),
        STREAMFORGE_THEMES__ACTIVE=theme.name,
    )
    app = create_app(settings, run_jobs=False)
    async with app.test_app():
        rt = app.extensions["streamforge"].runtime
        client = bearer_client(app, (await make_account(rt.db))[1])  # an admin: every page
        await add_ready_video(app.extensions["streamforge"].runtime)
        html = await (await client.get("/")).get_data(as_text=True)
        assert re.search(r"style\.css\?v=\w{12}.*sepia\.css\?v=\w{12}", html, re.S), html
        assert '<p class="welcome">Welcome! 1 films to watch.</p>' in html
        assert "· sepia</footer>" in html
        searched = await (await client.get("/?q=ready")).get_data(as_text=True)
        assert "welcome" not in searched
        assert "A ready video" in searched
        response = await client.get("/upload")  # untouched pages still render, in sepia
        assert response.status_code == 200
        assert "sepia.css" in await response.get_data(as_text=True)
