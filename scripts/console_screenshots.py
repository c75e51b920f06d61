"""Take the screenshots of the web console in docs/ (docs/console-*.png).

Starts a keyed server on 127.0.0.1 over a temporary store with a few memories, drives Debian's
chromium (``/usr/bin/chromium``, installed by ``make install``) through Playwright, and saves one
PNG per main view::

    .venv/bin/python -m scripts.console_screenshots [--out docs]     # from the repository root
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from remem import Memory
from remem.keys import KeyStore
from remem.server.app import create_app, serve_in_thread
from remem.tenancy import TenantMemory
from tests.test_console import CHROMIUM, FLAGS  # one launch recipe for the test and this

SEED = [
    ("s1", "2025-03-02T09:00:00Z", "I moved to Lisbon in March"),
    ("s1", "2025-03-02T09:01:00Z", "Ana works as a nurse at the Santa Maria hospital"),
    ("s1", "2025-03-02T09:02:00Z", "Ana likes green tea, never coffee"),
    ("s2", "2025-04-11T18:30:00Z", "Ana's cat is called Miso"),
    ("s2", "2025-04-11T18:31:00Z", "Miso the cat is afraid of the vacuum cleaner"),
    ("s2", "2025-04-11T18:32:00Z", "Ana is learning to surf in Ericeira on weekends"),
    ("s3", "2025-05-20T12:00:00Z", "Ana's sister Rita lives in Porto"),
    ("s3", "2025-05-20T12:01:00Z", "Ana plans to visit Rita in Porto in June"),
    ("s3", "2025-05-20T12:02:00Z", "Ana is allergic to peanuts"),
]


def seed(memory: TenantMemory) -> None:
    """The memories the screenshots show (user "ana" of tenant "acme")."""
    for session, at, text in SEED:
        memory.add(text, user_id="ana", session_id=session, occurred_at=at)


def wait_idle(page: Page) -> None:
    page.wait_for_selector("body:not(.busy)", state="attached")


def shoot(out: Path) -> list[Path]:
    """Save the screenshots into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        memory = Memory(Path(tmp) / "m.db", embedder="hashing")
        keys = KeyStore(Path(tmp) / "keys.db")
        _, token = keys.create("acme")
        seed(TenantMemory(memory, "acme"))
        try:
            with (
                serve_in_thread(create_app(memory, keys=keys, mcp=False)) as url,
                sync_playwright() as pw,
            ):
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                page = browser.new_page(viewport={"width": 1320, "height": 820})

                def save(name: str) -> None:
                    wait_idle(page)
                    path = out / f"console-{name}.png"
                    page.screenshot(path=str(path), full_page=True)
                    saved.append(path)

                page.goto(url + "/ui")
                page.fill("#key", token)
                page.click("#key-save")
                page.fill("#user", "ana")
                page.click("#scope-open")
                page.wait_for_selector("#memory-list li.record")
                page.locator("#memory-list li.record .open", has_text="cat is called").click()
                page.wait_for_selector("#history-list li.entry")
                save("memories")

                page.click("[data-tab=search]")
                page.fill("#query", "Lisbon")
                page.click("#search-form button[type=submit]")
                page.wait_for_selector("#hit-list li.record")
                page.locator("#hit-list li.record .open", has_text="moved to Lisbon").click()
                page.wait_for_selector("#history-list li.entry")
                save("search")

                page.click("#act-edit")
                page.fill("#edit-content", "I moved to Lisbon in March 2025, from Coimbra")
                page.fill("#act-reason", "more precise")
                page.click("#edit-save")
                page.wait_for_selector("#history-list li.entry[data-op=update]")
                save("history")

                page.click("[data-tab=memories]")
                page.locator("#memory-list li.record .open", has_text="sister Rita").click()
                page.click("[data-sub=links]")
                page.wait_for_selector("#graph svg .node")
                save("links")

                page.click("[data-tab=timeline]")
                page.click("#timeline-form button[type=submit]")
                page.wait_for_selector("#timeline-list li.record")
                save("timeline")
                browser.close()
        finally:
            memory.close()
            keys.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent.parent / "docs")
    for path in shoot(parser.parse_args().out):
        print(path)


if __name__ == "__main__":
    main()
