"""Fixtures for the web tests: fixture documents, a small site served on a free port, headless Chromium.

Chromium is Debian's (`apt-get install chromium`), driven through Playwright's sync API; RULEATLAS_CHROMIUM
points at another binary. Without it the browser tests skip on a developer machine and fail when CI=true.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from site_support import CHROMIUM_ARGS, FakeCatalog, PageWatch, ServedSite, load_docs, write_site

from ruleatlas.web.render import SiteRenderer
from ruleatlas.web.serve import make_server


@pytest.fixture(scope="session")
def web_docs() -> dict[str, dict[str, Any]]:
    return load_docs()


@pytest.fixture(scope="session")
def renderer() -> SiteRenderer:
    return SiteRenderer()


@pytest.fixture(scope="session")
def served_site(
    tmp_path_factory: pytest.TempPathFactory, web_docs: dict[str, dict[str, Any]]
) -> Iterator[ServedSite]:
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
        page.on(
            "response",
            lambda res: watch.bad_responses.append(f"{res.status} {res.url}") if res.status >= 400 else None,
        )

        def on_dialog(dialog: Any) -> None:
            watch.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        return page, watch

    yield open_page
    for context in contexts:
        context.close()


# -- the catalog pages (issue 3): a real build of tests/data/browse, served and static ----------------------


@pytest.fixture(scope="session")
def browse_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from catalog_support import build_fixture_catalog

    return build_fixture_catalog(tmp_path_factory.mktemp("browse-catalog"))


@pytest.fixture(scope="session")
def browse_served(browse_catalog: Path) -> Iterator[str]:
    """`ruleatlas serve` (the real store, routes and API) over the fixture build; its base URL."""
    from catalog_support import atlas_server
    from site_support import running

    with running(atlas_server(browse_catalog)) as url:
        yield url


@pytest.fixture(scope="session")
def browse_static(browse_catalog: Path) -> Iterator[str]:
    """The same build's site/ behind Python's plain static file server; its base URL."""
    from catalog_support import static_server
    from site_support import running

    with running(static_server(browse_catalog / "site")) as url:
        yield url


@pytest.fixture(scope="session")
def corpus_served(corpus_catalog: Path) -> Iterator[str]:
    """`ruleatlas serve` over the whole Sigma corpus catalog (tests/conftest.py); its base URL."""
    from site_support import serving

    with serving(corpus_catalog) as url:
        yield url
