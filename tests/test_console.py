"""The web console (/ui) and the offline docs (/docs) in a real headless browser.

Debian's chromium (``/usr/bin/chromium``; ``make install`` installs it) is driven through
Playwright against real servers on 127.0.0.1, keyed and keyless. Each step is checked twice: in
the page, and in the store behind the server. The test never skips: without chromium (or the
``playwright`` package) it fails and says how to install them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from remem import Memory
from remem.errors import NotFound
from remem.keys import KeyStore
from remem.server.app import create_app, serve_in_thread
from remem.tenancy import TenantMemory

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL = (
    "run `make install` (as root it installs Debian's chromium), or "
    "`apt-get update && apt-get install -y --no-install-recommends chromium`, and "
    "`.venv/bin/pip install -e '.[dev]'` for the playwright package; never `playwright install`"
)
TIMEOUT_MS = 10_000
FIRST = [
    "I moved to Lisbon in March",
    "Ana works as a nurse at the Santa Maria hospital",
    "Ana likes green tea, never coffee",
    "Ana's cat is called Miso",
    "Ana's sister Rita lives in Porto",
]
# 25 memories: two pages of 20.
SEED = FIRST + [f"Garden note number {i}: the tomatoes need water" for i in range(20)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing, so the console cannot be tested: {INSTALL}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"the playwright package is missing ({exc}): {INSTALL}")
    # Playwright gives every launch a new, empty profile (--user-data-dir) of its own.
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@dataclass
class Server:
    url: str
    memory: Memory
    tenant: TenantMemory | Memory
    token: str | None
    ids: list[str]


def _seed(memory: TenantMemory | Memory, user: str) -> list[str]:
    return [
        memory.add(
            text,
            user_id=user,
            session_id=f"s{i // 5}",
            occurred_at=f"2025-01-{1 + i // 5:02d}T{8 + i % 5:02d}:00:00Z",
        ).id
        for i, text in enumerate(SEED)
    ]


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "keyed").mkdir()
    memory = Memory(tmp_path / "keyed" / "m.db", embedder="hashing")
    keys = KeyStore(tmp_path / "keyed" / "keys.db")
    _, token = keys.create("acme")
    keys.create("globex")
    acme = TenantMemory(memory, "acme")
    ids = _seed(acme, "ana")
    # Another tenant's "ana": the acme key must never show it.
    TenantMemory(memory, "globex").add("Globex secret: the launch code", user_id="ana")
    try:
        with serve_in_thread(create_app(memory, keys=keys, mcp=False)) as url:
            yield Server(url, memory, acme, token, ids)
    finally:
        memory.close()
        keys.close()


@pytest.fixture
def keyless(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "keyless").mkdir()
    memory = Memory(tmp_path / "keyless" / "m.db", embedder="hashing")
    ids = [memory.add(text, user_id="bob").id for text in FIRST]
    try:
        with serve_in_thread(create_app(memory, mcp=False)) as url:
            yield Server(url, memory, memory, None, ids)
    finally:
        memory.close()


@dataclass
class Tab:
    """A browser page, with every request it made and every script or CSP error it met."""

    page: Any
    requests: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def check_clean(self, origin: str) -> None:
        # Only the server's own origin (data: URLs stay in the page), and no error.
        foreign = [
            r.url
            for r in self.requests
            if not r.url.startswith(origin + "/") and not r.url.startswith("data:")
        ]
        assert not foreign, f"requests to other origins: {foreign}"
        assert not self.errors, self.errors


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    seen = Tab(page)
    page.on("request", lambda request: seen.requests.append(request))
    page.on("pageerror", lambda exc: seen.errors.append(f"page error: {exc}"))

    def console(message: Any) -> None:
        text = message.text
        # A 401 or 404 the page asked for is logged by chromium; it is not a fault.
        if message.type == "error" and "Failed to load resource" not in text:
            seen.errors.append(f"console: {text}")

    page.on("console", console)
    yield seen
    context.close()


def _expect() -> Any:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    return expect


def _ids(page: Any, selector: str) -> list[str]:
    return [
        str(x) for x in page.locator(selector).evaluate_all("els => els.map(e => e.dataset.id)")
    ]


def _wait_idle(page: Any) -> None:
    page.wait_for_function("() => !document.body.classList.contains('busy')")


# -- the pages as files: no key needed, no other origin --------------------------------------


class _Refs(HTMLParser):
    """Every URL an HTML page loads (src, href) and whether it has inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(str(values[name]))
        if tag == "script" and not values.get("src"):
            self.inline_scripts += 1


def _refs(html: str) -> _Refs:
    parser = _Refs()
    parser.feed(html)
    return parser


def _same_origin_assets(base: str, page_url: str, html: str) -> list[str]:
    """Resolve every URL of ``html``; assert each is of ``base`` (or data:) and loads (200)."""
    loaded = []
    for ref in _refs(html).urls:
        if ref.startswith("data:"):
            continue
        absolute = urljoin(page_url, ref)
        assert urlsplit(absolute).netloc == urlsplit(base).netloc, (page_url, ref)
        response = httpx.get(absolute)
        assert response.status_code == 200, (absolute, response.status_code)
        assert response.content, absolute
        loaded.append(absolute)
    return loaded


def test_console_files_are_served_without_a_key_and_data_needs_one(keyed: Server) -> None:
    moved = httpx.get(keyed.url + "/ui")
    assert moved.status_code == 308
    assert urljoin(keyed.url + "/ui", moved.headers["location"]) == keyed.url + "/ui/"
    page = httpx.get(keyed.url + "/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    refs = _refs(page.text)
    assert refs.inline_scripts == 0
    loaded = _same_origin_assets(keyed.url, keyed.url + "/ui/", page.text)
    assert {keyed.url + "/ui/app.js", keyed.url + "/ui/app.css"} <= set(loaded)
    assert httpx.get(keyed.url + "/ui/app.js").headers["content-type"].startswith("text/javascript")
    assert httpx.get(keyed.url + "/ui/app.css").headers["content-type"].startswith("text/css")
    # Only the console's files: nothing else of the package (or disk) is reachable.
    for name in ("console.py", "..%2Fconsole.py", "index.htm", "missing.js"):
        assert httpx.get(f"{keyed.url}/ui/{name}").status_code == 404, name
    # The page holds no data; the API still needs the key.
    refused = httpx.get(keyed.url + "/v1/memories", params={"user_id": "ana"})
    assert refused.status_code == 401
    # None of these routes is part of the API's schema.
    paths = httpx.get(keyed.url + "/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/ui", "/docs"))]


def test_docs_load_only_same_origin_assets(keyed: Server) -> None:
    page = httpx.get(keyed.url + "/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "//" not in page.text.replace("http://", "")
    loaded = _same_origin_assets(keyed.url, keyed.url + "/docs", page.text)
    assert {keyed.url + "/docs/assets/swagger-ui-bundle.js"} <= set(loaded), loaded
    assert keyed.url + "/docs/assets/swagger-ui.css" in loaded
    # The inline start-up script names URLs too (the schema, the OAuth redirect): relative.
    for url in re.findall(r"""(?:url|_url)['"]?\s*:\s*['"]([^'"]+)""", page.text):
        assert url.startswith("/"), url
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(keyed.url + "/docs/oauth2-redirect").status_code == 200
    assert httpx.get(keyed.url + "/docs/assets/core.py").status_code == 404
    # No ReDoc: its bundle would fetch its logo from a CDN.
    assert httpx.get(keyed.url + "/redoc").status_code == 404


def test_docs_render_offline_in_the_browser(keyed: Server, tab: Tab) -> None:
    expect = _expect()
    page = tab.page
    page.goto(keyed.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("remem")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    # The schema's routes, rendered from /openapi.json.
    expect(page.locator('.opblock-summary-path[data-path="/v1/memories/search"]')).to_have_count(1)
    tab.check_clean(keyed.url)


# -- the console, driven in the browser ------------------------------------------------------


def test_console_walkthrough_with_a_key(keyed: Server, tab: Tab) -> None:
    expect = _expect()
    page, acme = tab.page, keyed.tenant
    assert isinstance(acme, TenantMemory)
    page.goto(keyed.url + "/ui")
    assert page.url == keyed.url + "/ui/"

    # No key yet: the API refuses, the page asks for the key.
    page.fill("#user", "ana")
    page.click("#scope-open")
    expect(page.locator("#status")).to_contain_text("Unauthorized")
    expect(page.locator("#key-form")).to_have_class(re.compile(r"\bneeded\b"))
    expect(page.locator("#memory-list li.record")).to_have_count(0)

    # The key: kept in sessionStorage only; the list loads, page by page, as the store pages.
    assert keyed.token is not None
    page.fill("#key", keyed.token)
    page.click("#key-save")
    expect(page.locator("#memory-list li.record")).to_have_count(20)
    assert page.evaluate("sessionStorage.getItem('remem.key')") == f'"{keyed.token}"'
    assert page.evaluate("localStorage.length") == 0
    assert page.input_value("#key") == ""
    first = acme.list(user_id="ana", limit=20)
    assert _ids(page, "#memory-list li.record") == [r.id for r in first]
    assert "Globex secret" not in page.content()
    page.click("#page-next")
    expect(page.locator("#memory-list li.record")).to_have_count(5)
    second = acme.list(user_id="ana", limit=20, cursor=first.next_cursor)
    assert _ids(page, "#memory-list li.record") == [r.id for r in second]
    expect(page.locator("#page-next")).to_be_disabled()
    page.click("#page-first")
    expect(page.locator("#memory-list li.record")).to_have_count(20)

    # Search: the store's hits in the store's order, each with its explain.
    page.click("[data-tab=search]")
    page.fill("#query", "Lisbon")
    page.click("#search-form button[type=submit]")
    hits = acme.search("Lisbon", user_id="ana", limit=10)
    expect(page.locator("#hit-list li.record")).to_have_count(len(hits))
    assert _ids(page, "#hit-list li.record") == [h.record.id for h in hits]
    top = page.locator("#hit-list li.record").first
    expect(top.locator(".text")).to_have_text(hits[0].record.content)
    shown = top.locator(".explain [data-key]").evaluate_all(
        "els => els.map(e => [e.dataset.key, e.querySelector('dd').textContent])"
    )
    assert [k for k, _ in shown] == list(hits[0].explain)
    assert dict(shown)["bm25"] == str(hits[0].explain["bm25"])
    assert hits[0].record.content == FIRST[0]

    # A memory's history and its link graph: the memory and each linked neighbour.
    lisbon = hits[0].record.id
    top.locator(".open").click()
    expect(page.locator("#d-id")).to_have_text(lisbon)
    expect(page.locator("#history-list li.entry")).to_have_count(1)
    expect(page.locator("#history-list li.entry").first).to_have_attribute("data-op", "add")
    page.click("[data-sub=links]")
    links = acme.links(lisbon, user_id="ana")
    assert links, "the seed should link the Lisbon memory"
    neighbours = {link.b if link.a == lisbon else link.a for link in links}
    expect(page.locator("#graph svg g.node")).to_have_count(1 + min(len(neighbours), 16))
    assert set(_ids(page, "#graph svg g.node:not(.centre)")) <= neighbours
    labels = " ".join(page.locator("#graph svg .edge-label").all_text_contents())
    assert {link.relation for link in links} <= set(re.findall(r"[a-z_]+", labels))
    expect(page.locator("#link-table tbody tr")).to_have_count(len(links))
    # A neighbour node opens that memory.
    neighbour = _ids(page, "#graph svg g.node:not(.centre)")[0]
    page.locator(f'#graph svg g.node[data-id="{neighbour}"]').click()
    expect(page.locator("#d-id")).to_have_text(neighbour)

    # Edit: a new version in the page and in the store, with the reason in the history.
    target = keyed.ids[2]
    page.fill("#goto-id", target)
    page.click("#goto-form button[type=submit]")
    expect(page.locator("#d-id")).to_have_text(target)
    page.click("[data-sub=history]")
    page.click("#act-edit")
    page.fill("#edit-content", "Ana likes green tea and, lately, mate")
    page.fill("#act-reason", "corrected by hand")
    page.click("#edit-save")
    expect(page.locator("#status")).to_contain_text("Saved as version 2")
    expect(page.locator("#d-content")).to_have_text("Ana likes green tea and, lately, mate")
    expect(page.locator("#history-list li.entry")).to_have_count(2)
    expect(page.locator("#history-list li.entry").last).to_contain_text("corrected by hand")
    edited = acme.get(target, user_id="ana")
    assert (edited.content, edited.version) == ("Ana likes green tea and, lately, mate", 2)
    assert acme.history(target, user_id="ana")[-1].reason == "corrected by hand"

    # Quarantine: hidden from the list (page and store), kept, then restored.
    victim = keyed.ids[1]
    page.click("[data-tab=memories]")
    page.locator(f'#memory-list li.record[data-id="{victim}"] .open').click()
    expect(page.locator("#d-id")).to_have_text(victim)
    page.fill("#act-reason", "looks planted")
    page.click("#act-quarantine")
    expect(page.locator("#d-level")).to_have_text("quarantine")
    assert acme.get(victim, user_id="ana").level == "quarantine"
    expect(page.locator(f'#memory-list li.record[data-id="{victim}"]')).to_have_count(0)
    assert victim not in {r.id for r in acme.list(user_id="ana", limit=100)}
    page.click("[data-tab=quarantine]")
    held = page.locator(f'#quarantine-list li.record[data-id="{victim}"]')
    expect(held).to_have_count(1)
    held.locator("button.restore").click()
    expect(page.locator("#quarantine-list li.record")).to_have_count(0)
    expect(page.locator("#d-level")).to_have_text("record")
    assert acme.get(victim, user_id="ana").level == "record"
    assert [e.op for e in acme.history(victim, user_id="ana")][-2:] == ["quarantine", "restore"]
    page.click("[data-tab=memories]")
    expect(page.locator(f'#memory-list li.record[data-id="{victim}"]')).to_have_count(1)

    # Delete, after a confirmation: gone from the page and from the store.
    doomed = keyed.ids[3]
    page.locator(f'#memory-list li.record[data-id="{doomed}"] .open').click()
    expect(page.locator("#d-id")).to_have_text(doomed)
    page.click("#act-delete")
    expect(page.locator("#confirm-delete")).to_be_visible()
    assert acme.get(doomed, user_id="ana").id == doomed  # nothing happens before confirming
    page.click("#act-delete-confirm")
    expect(page.locator("#detail")).to_be_hidden()
    expect(page.locator(f'#memory-list li.record[data-id="{doomed}"]')).to_have_count(0)
    with pytest.raises(NotFound):
        acme.get(doomed, user_id="ana")
    assert acme.history(doomed, user_id="ana")[-1].op == "delete"

    # The timeline: the store's records in the store's event order.
    page.click("[data-tab=timeline]")
    page.click("#timeline-form button[type=submit]")
    events = acme.timeline(user_id="ana", limit=100)
    expect(page.locator("#timeline-list li.record")).to_have_count(len(events))
    assert _ids(page, "#timeline-list li.record") == [r.id for r in events]

    # Every data call carried the key; nothing left the server's origin; no script or CSP error.
    _wait_idle(page)
    api = [r for r in tab.requests if urlsplit(r.url).path.startswith("/v1/")]
    keyed_calls = [r for r in api if r.all_headers().get("authorization")]
    assert len(keyed_calls) >= 20
    assert {r.all_headers()["authorization"] for r in keyed_calls} == {f"Bearer {keyed.token}"}
    writes = [r for r in api if r.method in ("POST", "PATCH", "DELETE")]
    assert {r.method for r in writes} == {"POST", "PATCH", "DELETE"}
    tab.check_clean(keyed.url)


def test_console_on_a_keyless_server(keyless: Server, tab: Tab) -> None:
    expect = _expect()
    page = tab.page
    page.goto(keyless.url + "/ui/")
    page.fill("#user", "bob")
    page.click("#scope-open")
    expect(page.locator("#memory-list li.record")).to_have_count(len(FIRST))
    assert _ids(page, "#memory-list li.record") == keyless.ids
    gone = keyless.ids[0]
    page.locator(f'#memory-list li.record[data-id="{gone}"] .open').click()
    page.click("#act-delete")
    page.click("#act-delete-confirm")
    expect(page.locator("#memory-list li.record")).to_have_count(len(FIRST) - 1)
    with pytest.raises(NotFound):
        keyless.memory.get(gone)
    _wait_idle(page)
    assert not [r for r in tab.requests if r.all_headers().get("authorization")]
    tab.check_clean(keyless.url)


def test_a_page_of_another_origin_cannot_use_the_api(
    keyless: Server, keyed: Server, tab: Tab
) -> None:
    # The keyed server's console is another origin (another port) for the keyless server.
    page = tab.page
    page.goto(keyed.url + "/ui/")
    before = len(keyless.memory.list(user_id="bob", limit=100).records)
    outcome = page.evaluate(
        """async (api) => {
            const out = {};
            const body = JSON.stringify({content: "planted", user_id: "bob"});
            try {
                const r = await fetch(api + "/v1/memories", {method: "POST", body,
                    headers: {"Content-Type": "application/json"}});
                out.json = "read " + r.status;
            } catch (e) { out.json = "blocked"; }
            try {
                await fetch(api + "/v1/memories", {method: "POST", body, mode: "no-cors",
                    headers: {"Content-Type": "text/plain"}});
                out.simple = "sent";
            } catch (e) { out.simple = "blocked"; }
            try {
                const r = await fetch(api + "/v1/memories?user_id=bob");
                out.read = "read " + r.status;
            } catch (e) { out.read = "blocked"; }
            return out;
        }""",
        keyless.url,
    )
    assert outcome["json"] == "blocked" and outcome["read"] == "blocked", outcome
    assert len(keyless.memory.list(user_id="bob", limit=100).records) == before
