"""Fixtures for the web tests: fixture documents, a small written site served on a free port, headless Chromium.

Chromium is Debian's (`apt-get install chromium`), driven through Playwright's sync API; RULEATLAS_CHROMIUM
points at another binary. Without it the browser tests skip on a developer machine and fail when CI=true.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ruleatlas.web import urls
from ruleatlas.web.render import SiteRenderer
from ruleatlas.web.serve import RuleAtlasServer, make_server

WEB_DATA = Path(__file__).resolve().parents[1] / "data" / "web"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCALTONET_UID = "sigma/net_connection_win_domain_localtonet_tunnel"
HOSTILE_UID = "sigma/proc_creation_win_hostile_markup"
CORRELATION_UID = "sigma/correlation_failed_login_many_users"
DEPRECATED_UID = "sigma/create_remote_thread_win_susp_remote_thread_target"


def load_docs() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(WEB_DATA.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        docs[doc["uid"]] = doc
    return docs


def summary_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc[k] for k in ("uid", "vendor", "title", "status", "level", "kind", "folder")}


@pytest.fixture(scope="session")
def web_docs() -> dict[str, dict[str, Any]]:
    return load_docs()


@pytest.fixture(scope="session")
def renderer() -> SiteRenderer:
    return SiteRenderer()


class FakeCatalog:
    """Stands in for ruleatlas.store.Catalog: the API route only needs rule_document(uid)."""

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs
        self.closed = False

    def rule_document(self, uid: str) -> dict[str, Any] | None:
        return self.docs.get(uid)

    def close(self) -> None:
        self.closed = True


def write_site(catalog_dir: Path, docs: dict[str, dict[str, Any]]) -> Path:
    site = catalog_dir / "site"
    renderer = SiteRenderer()
    renderer.write_static(site)
    for uid, doc in docs.items():
        renderer.write_page(site, urls.rule_path(uid), renderer.render_rule_page(doc))
    index = renderer.render_index([summary_of(d) for d in docs.values()], {"rules": len(docs), "per_vendor": {"sigma": len(docs)}})
    renderer.write_page(site, urls.HOME_PATH, index)
    return site


@dataclass(slots=True)
class ServedSite:
    catalog_dir: Path
    site: Path
    base_url: str
    host: str
    port: int
    server: RuleAtlasServer
    opened: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path.lstrip("/")

    def page_url(self, uid: str) -> str:
        return self.url(urls.rule_path(uid))


@pytest.fixture(scope="session")
def served_site(tmp_path_factory: pytest.TempPathFactory, web_docs: dict[str, dict[str, Any]]) -> Iterator[ServedSite]:
    catalog_dir = tmp_path_factory.mktemp("catalog")
    site = write_site(catalog_dir, web_docs)
    # Files beside the site that no request may reach.
    (catalog_dir / "secret.txt").write_text("TOP-SECRET outside the site\n", encoding="utf-8")
    opened: list[str] = []

    def open_fake(path: Path) -> FakeCatalog:
        opened.append(str(path))
        return FakeCatalog(web_docs)

    server = make_server(catalog_dir, "127.0.0.1", 0, open_catalog=open_fake, quiet=True)
    host, port = server.server_address[:2]
    thread = threading.Thread(target=server.serve_forever, name="ruleatlas-test-server", daemon=True)
    thread.start()
    try:
        yield ServedSite(catalog_dir, site, f"http://{host}:{port}/", str(host), int(port), server, opened)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _chromium_path() -> str:
    return os.environ.get("RULEATLAS_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = _chromium_path()
    if not Path(executable).is_file():
        message = f"Chromium not found at {executable}: apt-get install chromium, or set RULEATLAS_CHROMIUM"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass(slots=True)
class PageWatch:
    """What went wrong while a page loaded: console errors, page errors, failed requests, HTTP errors,
    and any dialog (alert/confirm/prompt) that fired."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [*self.console_errors, *self.page_errors, *self.failed_requests, *self.bad_responses]


@pytest.fixture
def page_factory(browser: Any) -> Iterator[Any]:
    """Opens pages in fresh contexts; returns (page, watch)."""
    contexts = []

    def open_page(width: int = 1280, height: int = 900) -> tuple[Any, PageWatch]:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        watch = PageWatch()
        page.on("console", lambda msg: watch.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: watch.page_errors.append(str(exc)))
        page.on("requestfailed", lambda req: watch.failed_requests.append(f"{req.url}: {req.failure}"))
        page.on("response", lambda res: watch.bad_responses.append(f"{res.status} {res.url}") if res.status >= 400 else None)

        def on_dialog(dialog: Any) -> None:
            watch.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        return page, watch

    yield open_page
    for context in contexts:
        context.close()
