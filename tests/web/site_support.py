"""Helpers shared by the web tests: the fixture documents (tests/data/web/*.json), a site written from them,
and a stand-in for the catalog store."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import urlopen

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
    """The row the store's `summaries()` gives for a rule."""
    summary = {k: doc[k] for k in ("uid", "vendor", "title", "status", "level", "kind", "folder")}
    summary.update({k: doc["logsource"].get(k, "") for k in ("product", "category", "service")})
    return summary


class FakeCatalog:
    """Stands in for ruleatlas.store.Catalog: the API route needs rule_document(uid) and find_uids(key)."""

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs
        self.closed = False

    def rule_document(self, uid: str) -> dict[str, Any] | None:
        return self.docs.get(uid)

    def find_uids(self, text: str, vendor: str = "") -> list[str]:
        return [
            uid
            for uid, doc in self.docs.items()
            if (not vendor or uid.startswith(vendor + "/"))
            and text in (uid, uid.partition("/")[2], str(doc.get("id", "")))
        ]

    def close(self) -> None:
        self.closed = True


def write_site(catalog_dir: Path, docs: dict[str, dict[str, Any]]) -> Path:
    site = catalog_dir / "site"
    renderer = SiteRenderer()
    renderer.write_static(site)
    for uid, doc in docs.items():
        renderer.write_page(site, urls.rule_path(uid), renderer.render_rule_page(doc))
    stats = {"rules": len(docs), "per_vendor": {"sigma": len(docs)}}
    index = renderer.render_index([summary_of(d) for d in docs.values()], stats)
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


@contextmanager
def running(server: Any) -> Iterator[str]:
    """Serve `server` (any socketserver) on a thread; yields its base URL (ending in /)."""
    host, port = server.server_address[:2]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def serving(catalog_dir: Path) -> AbstractContextManager[str]:
    """A catalog served by the real server on a free port, in a thread; its base URL (ending in /)."""
    return running(make_server(catalog_dir, "127.0.0.1", 0, quiet=True))


def api_json(base: str, path: str) -> Any:
    """GET `path` (no leading slash) from a served catalog at `base`: its JSON answer."""
    with urlopen(base + path, timeout=60) as answer:
        return json.loads(answer.read())
