"""The static site's client-side indexes: their size, and how long headless Chromium takes to load the
browse page (data/rules.js) and the search page's text index (data/search.js) from file://, and to answer
a facet click and a search. Prints figures; asserts nothing.

    .venv/bin/python bench/browse_index.py --catalog /tmp/cat3 [--runs 5]
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import sys
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    site = args.catalog / "site"
    rules = len((site / "data" / "rules.js").read_bytes().split(b"],[")) if (site / "data").is_dir() else 0
    for name in ("rules.js", "search.js"):
        data = (site / "data" / name).read_bytes()
        print(
            f"data/{name}: {len(data) / 1e6:.2f} MB ({len(data) / max(rules, 1):.0f} bytes a rule), "
            f"gzip {len(gzip.compress(data)) / 1e6:.2f} MB"
        )
    timings: dict[str, list[float]] = {
        "browse page ready": [],
        "facet click": [],
        "search page ready": [],
        "search answer": [],
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for _ in range(args.runs):
            page = browser.new_page()
            start = time.perf_counter()
            page.goto((site / "rules" / "index.html").as_uri())
            expect(page.locator("#result-count")).to_have_attribute("data-total", re.compile(r"\d+"))
            timings["browse page ready"].append(time.perf_counter() - start)
            total = page.locator("#result-count").get_attribute("data-total")
            start = time.perf_counter()
            page.locator('input[data-facet="level"][value="high"]').check()
            expect(page.locator("#result-count")).not_to_have_attribute("data-total", total or "")
            timings["facet click"].append(time.perf_counter() - start)
            start = time.perf_counter()
            page.goto((site / "search" / "index.html").as_uri() + "?q=mimikatz")
            expect(page.locator("#search-status")).to_have_attribute("data-total", re.compile(r"[1-9]\d*"))
            timings["search page ready"].append(time.perf_counter() - start)
            start = time.perf_counter()
            page.locator("#q").fill("powershell level:high")
            expect(page.locator(".result-title").first).to_contain_text(
                re.compile("powershell", re.IGNORECASE)
            )
            timings["search answer"].append(time.perf_counter() - start)
            page.close()
        browser.close()
    for label, values in timings.items():
        print(
            f"{label:<20} median {statistics.median(values) * 1000:7.0f} ms, max {max(values) * 1000:7.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
