"""The REST server is safe by default: keyless means loopback-only on every entry point, a web page
cannot write into it (Origin, Sec-Fetch-Site, content types), a key bounds the origin its caller
may claim, a whole-scope forget must say so, import errors are JSON with their line, and the store
and keys files are private (0600 files, 0700 folders).

Real servers run on 127.0.0.1 (``serve_in_thread``); a non-loopback client is simulated with an
ASGI scope (``httpx.ASGITransport(client=...)``), never with traffic to another address.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from typer.testing import CliRunner

from remem import Memory
from remem.cli import app as cli_app
from remem.errors import InvalidInput
from remem.keys import KeyStore
from remem.server.app import app_from_env, create_app, serve_in_thread

JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}
EVIL = "http://evil.example"


def _count(memory: Memory) -> int:
    """Every memory in the store, of every user (what a refused request must not change)."""
    return sum(1 for item in memory.store.export(None) if hasattr(item, "content"))


def _record_line(user_id: str = "ana", content: str = "imported", **fields: Any) -> str:
    line = {
        "type": "record",
        "id": os.urandom(16).hex(),
        "user_id": user_id,
        "content": content,
        "created_at": "2024-01-01T00:00:00+00:00",
        "updated_at": "2024-01-01T00:00:00+00:00",
        **fields,
    }
    return json.dumps(line) + "\n"


def _refused(response: httpx.Response, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert isinstance(body["detail"], str) and body["detail"]
    return str(body["detail"])


@dataclass
class Open:
    url: str
    http: httpx.Client
    memory: Memory


@pytest.fixture(scope="module")
def keyless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Open]:
    tmp = tmp_path_factory.mktemp("keyless")
    memory = Memory(tmp / "memory.db", embedder="hashing")
    with serve_in_thread(create_app(memory, keys=None)) as url, httpx.Client(base_url=url) as http:
        yield Open(url, http, memory)
    memory.close()


# -- cross-origin writes ---------------------------------------------------------------------


def test_text_plain_posts_are_refused_and_store_nothing(keyless: Open) -> None:
    """What a page may send without a CORS preflight (text/plain, forms) writes nothing."""
    before = _count(keyless.memory)
    body = json.dumps({"content": "planted", "user_id": "ana"})
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        sent = keyless.http.post("/v1/memories", content=body, headers={"Content-Type": ctype})
        _refused(sent, 415, "UnsupportedMediaType")
        sent = keyless.http.post(
            "/v1/import", content=_record_line(), headers={"Content-Type": ctype}
        )
        _refused(sent, 415, "UnsupportedMediaType")
    # The same, as a browser page on another site would send it: refused by its Origin too.
    page = {"Content-Type": "text/plain", "Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    _refused(keyless.http.post("/v1/memories", content=body, headers=page), 403, "Forbidden")
    _refused(
        keyless.http.post("/v1/import", content=_record_line(), headers=page), 403, "Forbidden"
    )
    # A body with no content type at all is not JSON either.
    _refused(keyless.http.post("/v1/memories", content=body), 415, "UnsupportedMediaType")
    # import takes JSON Lines, not JSON.
    _refused(
        keyless.http.post("/v1/import", content=_record_line(), headers=JSON),
        415,
        "UnsupportedMediaType",
    )
    assert _count(keyless.memory) == before


def test_a_foreign_origin_is_refused(keyless: Open) -> None:
    before = _count(keyless.memory)
    body = {"content": "planted", "user_id": "ana"}
    for origin in (
        EVIL,
        "http://localhost:3000",
        "http://127.0.0.1:1",
        "null",
        "https://127.0.0.1",
    ):
        sent = keyless.http.post("/v1/memories", json=body, headers={"Origin": origin})
        assert "cross-origin" in _refused(sent, 403, "Forbidden")
    # Reads and the MCP endpoint too.
    _refused(
        keyless.http.get("/v1/memories?user_id=ana", headers={"Origin": EVIL}), 403, "Forbidden"
    )
    mcp = keyless.http.post("/mcp", json={}, headers={"Origin": EVIL})
    _refused(mcp, 403, "Forbidden")
    assert _count(keyless.memory) == before


def test_sec_fetch_site_cross_and_same_site_are_refused(keyless: Open) -> None:
    before = _count(keyless.memory)
    body = {"content": "planted", "user_id": "ana"}
    for site in ("cross-site", "same-site"):
        sent = keyless.http.post("/v1/memories", json=body, headers={"Sec-Fetch-Site": site})
        assert site in _refused(sent, 403, "Forbidden")
        sent = keyless.http.post("/mcp", json={}, headers={"Sec-Fetch-Site": site})
        _refused(sent, 403, "Forbidden")
    # A top-level navigation (a link to /docs from elsewhere) is a read and stays possible.
    nav = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    assert keyless.http.get("/healthz", headers=nav).status_code == 200
    _refused(
        keyless.http.post("/v1/memories", json=body, headers=nav), 403, "Forbidden"
    )  # a form POST navigation is not
    assert _count(keyless.memory) == before


def test_same_origin_and_curl_style_requests_work(keyless: Open) -> None:
    body = {"content": "same origin", "user_id": "so"}
    # curl and SDKs: no Origin, no Sec-Fetch-*.
    assert keyless.http.post("/v1/memories", json=body).status_code == 201
    # The server's own pages (/docs): Origin is the server's, Sec-Fetch-Site same-origin.
    own = {"Origin": keyless.url, "Sec-Fetch-Site": "same-origin"}
    rec = keyless.http.post("/v1/memories", json=body, headers=own)
    assert rec.status_code == 201, rec.text
    # localhost and 127.0.0.1 are different origins; the Host decides which one is "own".
    port = keyless.url.rsplit(":", 1)[1]
    as_localhost = {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}
    assert keyless.http.post("/v1/memories", json=body, headers=as_localhost).status_code == 201
    # A charset parameter is fine; a DELETE has no body and needs no content type.
    utf8 = {"Content-Type": "application/json; charset=utf-8"}
    assert keyless.http.post("/v1/memories", content=json.dumps(body), headers=utf8).is_success
    assert keyless.http.delete(f"/v1/memories/{rec.json()['id']}").status_code == 204
    assert keyless.http.post("/v1/scopes/so/forget-expired").status_code == 200
    # import accepts both JSON Lines media types.
    for ctype in ("application/x-ndjson", "application/jsonl; charset=utf-8"):
        sent = keyless.http.post(
            "/v1/import", content=_record_line("so"), headers={"Content-Type": ctype}
        )
        assert sent.status_code == 201, sent.text
    assert len(keyless.http.get("/v1/memories?user_id=so").json()["records"]) == 5


def test_allowed_origins_extend_the_own_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a proxy that serves the API under another origin: listed origins get through; still no
    CORS headers in any answer."""
    body = {"content": "via proxy", "user_id": "px"}
    with Memory(tmp_path / "memory.db", embedder="hashing") as memory:
        app = create_app(memory, allowed_origins=["https://app.example"], mcp=False)
        with serve_in_thread(app) as url:
            ok = httpx.post(
                url + "/v1/memories",
                json=body,
                headers={"Origin": "https://app.example:443", "Sec-Fetch-Site": "cross-site"},
            )
            assert ok.status_code == 201, ok.text
            assert not any(h.lower().startswith("access-control-") for h in ok.headers)
            _refused(
                httpx.post(url + "/v1/memories", json=body, headers={"Origin": EVIL}),
                403,
                "Forbidden",
            )
        monkeypatch.setenv("REMEM_ALLOWED_ORIGINS", "https://a.example, https://b.example")
        with serve_in_thread(create_app(memory, mcp=False)) as url:
            sent = httpx.post(
                url + "/v1/memories", json=body, headers={"Origin": "https://b.example"}
            )
            assert sent.status_code == 201, sent.text


def test_no_cors_preflight_is_granted(keyless: Open) -> None:
    preflight = keyless.http.options(
        "/v1/memories",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers


# -- keyless means loopback only, however the app is started ----------------------------------


def _asgi(app: Any, client: tuple[str, int], method: str, path: str, **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
            return await c.request(method, path, **kw)

    return anyio.run(go)


def test_factory_app_refuses_a_non_loopback_client_without_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``uvicorn --factory remem.server.app:app_from_env --host 0.0.0.0`` used to run open."""
    monkeypatch.setenv("REMEM_PATH", str(tmp_path / "memory.db"))
    monkeypatch.setenv("REMEM_EMBEDDER", "hashing")
    app = app_from_env()
    body = {"content": "from the network", "user_id": "ana"}
    remote = ("10.1.2.3", 40000)
    detail = _refused(_asgi(app, remote, "POST", "/v1/memories", json=body), 403, "Forbidden")
    assert "loopback" in detail and "10.1.2.3" in detail and "REMEM_ALLOW_OPEN" in detail
    _refused(_asgi(app, remote, "GET", "/v1/memories?user_id=ana"), 403, "Forbidden")
    _refused(_asgi(app, remote, "GET", "/healthz"), 403, "Forbidden")
    _refused(_asgi(app, remote, "POST", "/mcp", json={}), 403, "Forbidden")
    for local in (("127.0.0.1", 1), ("127.9.9.9", 1), ("::1", 1), ("::ffff:127.0.0.1", 1)):
        assert _asgi(app, local, "GET", "/healthz").status_code == 200, local
    assert _asgi(app, ("127.0.0.1", 1), "POST", "/v1/memories", json=body).status_code == 201
    with Memory(tmp_path / "memory.db", embedder="hashing") as memory:
        # Only the loopback request stored.
        assert [r.content for r in memory.list(user_id="ana")] == ["from the network"]


def test_a_non_loopback_server_address_is_refused_too() -> None:
    """A client that looks local but reached the server on a public interface (a proxy that does
    not rewrite the peer, say) is not trusted either."""

    async def go() -> httpx.Response:
        with Memory(":memory:", embedder="hashing") as memory:
            app = create_app(memory, mcp=False)
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://192.0.2.7") as c:
                return await c.get("/healthz")

    _refused(anyio.run(go), 403, "Forbidden")


def test_the_opt_out_opens_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"content": "behind my proxy", "user_id": "ana"}
    remote = ("10.1.2.3", 40000)
    monkeypatch.setenv("REMEM_PATH", str(tmp_path / "memory.db"))
    monkeypatch.setenv("REMEM_EMBEDDER", "hashing")
    monkeypatch.setenv("REMEM_ALLOW_OPEN", "1")
    app = app_from_env()
    assert _asgi(app, remote, "POST", "/v1/memories", json=body).status_code == 201
    # Only the loopback rule is lifted: a foreign Origin is still refused.
    refused = _asgi(app, remote, "POST", "/v1/memories", json=body, headers={"Origin": EVIL})
    _refused(refused, 403, "Forbidden")
    monkeypatch.delenv("REMEM_ALLOW_OPEN")
    with Memory(":memory:", embedder="hashing") as memory:
        assert _asgi(create_app(memory, mcp=False), remote, "GET", "/healthz").status_code == 403
        opened = create_app(memory, mcp=False, allow_open=True)
        assert _asgi(opened, remote, "GET", "/healthz").status_code == 200


def test_keyed_app_answers_the_network_with_a_key(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys.db")
    _, token = keys.create("acme")
    remote = ("10.1.2.3", 40000)
    with Memory(tmp_path / "memory.db", embedder="hashing") as memory:
        app = create_app(memory, keys=keys, mcp=False)
        body = {"content": "x", "user_id": "ana"}
        _refused(_asgi(app, remote, "POST", "/v1/memories", json=body), 401, "Unauthorized")
        auth = {"Authorization": f"Bearer {token}"}
        assert (
            _asgi(app, remote, "POST", "/v1/memories", json=body, headers=auth).status_code == 201
        )
        # Keys do not lift the cross-origin rules: a page could hold a stolen key.
        page = {**auth, "Origin": EVIL}
        _refused(
            _asgi(app, remote, "POST", "/v1/memories", json=body, headers=page), 403, "Forbidden"
        )
    keys.close()


# -- what a key may claim ------------------------------------------------------------------------


@dataclass
class Keyed:
    url: str
    agent: httpx.Client
    user: httpx.Client
    memory: Memory


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyed]:
    tmp = tmp_path_factory.mktemp("keyed")
    memory = Memory(tmp / "memory.db", embedder="hashing")
    keys = KeyStore(tmp / "keys.db")
    _, agent_token = keys.create("acme", label="the assistant", max_origin="agent")
    _, user_token = keys.create("acme", label="the app")
    with serve_in_thread(create_app(memory, keys=keys)) as url:
        clients = [
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {t}"})
            for t in (agent_token, user_token)
        ]
        yield Keyed(url, clients[0], clients[1], memory)
        for c in clients:
            c.close()
    memory.close()
    keys.close()


def test_an_agent_key_cannot_write_as_the_user(keyed: Keyed) -> None:
    before = _count(keyed.memory)
    claim = {"content": "the user said so", "user_id": "ana", "origin": "user"}
    detail = _refused(keyed.agent.post("/v1/memories", json=claim), 403, "Forbidden")
    assert "'user'" in detail and "'agent'" in detail
    batch = {"items": [{**claim, "origin": "agent"}, claim]}
    assert "item 1" in _refused(keyed.agent.post("/v1/memories", json=batch), 403, "Forbidden")
    assert _count(keyed.memory) == before  # all or nothing

    agent = keyed.agent.post("/v1/memories", json={**claim, "origin": "agent"})
    assert agent.status_code == 201 and agent.json()["origin"] == "agent"
    assert agent.json()["trust"] == pytest.approx(0.8)
    tool = keyed.agent.post("/v1/memories", json={**claim, "origin": "tool"})
    assert tool.status_code == 201 and tool.json()["origin"] == "tool"
    # Left out, the origin is "user" lowered to what the key may claim.
    unset = keyed.agent.post("/v1/memories", json={"content": "no origin", "user_id": "ana"})
    assert unset.status_code == 201 and unset.json()["origin"] == "agent"
    # A key made as before (max origin "user") changes nothing.
    user = keyed.user.post("/v1/memories", json=claim)
    assert user.status_code == 201 and user.json()["origin"] == "user"
    unset = keyed.user.post("/v1/memories", json={"content": "no origin", "user_id": "ana"})
    assert unset.json()["origin"] == "user"


def test_an_agent_key_cannot_rewrite_what_the_user_said(keyed: Keyed) -> None:
    said = keyed.user.post("/v1/memories", json={"content": "I am vegan", "user_id": "ed"}).json()
    change = {"content": "I love steak"}
    sent = keyed.agent.patch(f"/v1/memories/{said['id']}", json=change)
    _refused(sent, 403, "Forbidden")
    assert keyed.memory.get(said["id"]).content == "I am vegan"
    mine = keyed.agent.post(
        "/v1/memories", json={"content": "ed likes tea", "user_id": "ed", "origin": "agent"}
    ).json()
    assert keyed.agent.patch(f"/v1/memories/{mine['id']}", json=change).status_code == 200
    assert keyed.user.patch(f"/v1/memories/{said['id']}", json=change).status_code == 200


def test_an_agent_key_imports_at_most_as_agent(keyed: Keyed) -> None:
    body = _record_line("imp", "a user line", origin="user") + _record_line(
        "imp", "a tool line", origin="tool"
    )
    sent = keyed.agent.post("/v1/import", content=body, headers=NDJSON)
    assert sent.status_code == 201, sent.text
    records = keyed.agent.get("/v1/memories?user_id=imp").json()["records"]
    assert {r["content"]: r["origin"] for r in records} == {
        "a user line": "agent",
        "a tool line": "tool",
    }
    body = _record_line("imp2", "kept as the user's", origin="user")
    assert keyed.user.post("/v1/import", content=body, headers=NDJSON).status_code == 201
    records = keyed.user.get("/v1/memories?user_id=imp2").json()["records"]
    assert [r["origin"] for r in records] == ["user"]


def test_keys_create_max_origin_on_the_cli(tmp_path: Path) -> None:
    keys = tmp_path / "keys.db"
    runner = CliRunner()
    made = runner.invoke(
        cli_app, ["keys", "create", "--tenant", "t1", "--max-origin", "agent", "--keys", str(keys)]
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    plain = runner.invoke(cli_app, ["keys", "create", "--tenant", "t1", "--keys", str(keys)])
    assert plain.exit_code == 0, plain.output
    listed = runner.invoke(cli_app, ["keys", "list", "--json", "--keys", str(keys)])
    assert [k["max_origin"] for k in json.loads(listed.stdout)] == ["agent", "user"]
    store = KeyStore(keys)
    assert store.key_for(token).max_origin == "agent"
    with pytest.raises(InvalidInput):
        store.create("t1", max_origin="root")
    store.close()
    bad = runner.invoke(
        cli_app, ["keys", "create", "--tenant", "t1", "--max-origin", "root", "--keys", str(keys)]
    )
    assert bad.exit_code != 0


def test_keys_made_before_max_origin_default_to_user(tmp_path: Path) -> None:
    path = tmp_path / "old-keys.db"
    token = "rmk_0123456789ab_secretsecretsecret"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE api_keys (key_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, hash TEXT NOT NULL,"
        " label TEXT, created_at TEXT NOT NULL, revoked_at TEXT);"
    )
    conn.execute(
        "INSERT INTO api_keys VALUES (?, ?, ?, NULL, ?, NULL)",
        ("0123456789ab", "acme", hashlib.sha256(token.encode()).hexdigest(), "2024-01-01T00:00:00"),
    )
    conn.commit()
    conn.close()
    store = KeyStore(path)
    assert store.key_for(token).max_origin == "user"
    assert store.tenant_for(token) == "acme"
    assert [k.max_origin for k in store.list()] == ["user"]
    store.close()


# -- whole-scope forget, import errors ----------------------------------------------------------


def test_forgetting_a_whole_scope_needs_all(keyless: Open) -> None:
    for i in range(2):
        keyless.http.post("/v1/memories", json={"content": f"f{i}", "user_id": "fs"})
    detail = _refused(keyless.http.post("/v1/forget", json={"user_id": "fs"}), 422, "InvalidInput")
    assert "all" in detail
    session = {"user_id": "fs", "session_id": "s"}
    _refused(keyless.http.post("/v1/forget", json=session), 422, "InvalidInput")
    _refused(keyless.http.post("/v1/forget", json={"id": "x", "all": True}), 422, "InvalidInput")
    assert len(keyless.http.get("/v1/memories?user_id=fs").json()["records"]) == 2
    gone = keyless.http.post("/v1/forget", json={"user_id": "fs", "all": True})
    assert gone.json() == {"forgotten": 2}


def test_import_errors_are_json_with_the_line(keyless: Open) -> None:
    body = _record_line("ie") + "\n" + "{not json\n"
    sent = keyless.http.post("/v1/import", content=body, headers=NDJSON)
    detail = _refused(sent, 422, "InvalidInput")
    assert sent.json()["line"] == 3 and detail.startswith("line 3:")
    assert "remem-import-" not in detail and "/tmp" not in detail
    bad_field = _record_line("ie", kind="nonsense")
    sent = keyless.http.post("/v1/import", content=bad_field, headers=NDJSON)
    assert _refused(sent, 422, "InvalidInput") and sent.json()["line"] == 1
    sent = keyless.http.post("/v1/import", content=b"\xff\xfe\n", headers=NDJSON)
    _refused(sent, 422, "InvalidInput")
    twice = _record_line("ie")
    sent = keyless.http.post("/v1/import", content=twice + twice, headers=NDJSON)
    assert sent.status_code in (409, 422), sent.text
    assert "remem-import-" not in sent.json()["detail"]
    assert keyless.http.get("/v1/memories?user_id=ie").json()["records"] == []


def test_import_errors_in_a_tenant_carry_the_line(keyed: Keyed) -> None:
    sent = keyed.user.post("/v1/import", content=_record_line("ti") + "[1, 2]\n", headers=NDJSON)
    _refused(sent, 422, "InvalidInput")
    assert sent.json()["line"] == 2
    assert "remem-import-" not in sent.json()["detail"]


# -- private files -----------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0)  # the worst case: nothing masked
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_store_and_keys_files_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loose_umask: None
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    with Memory(embedder="hashing") as memory:  # the default path
        memory.add("private", user_id="ana")
        folder = tmp_path / "xdg" / "remem"
        for name in ("memory.db", "memory.db-wal", "memory.db-shm"):
            assert _mode(folder / name) == 0o600, name
        assert _mode(folder) == 0o700
        assert _mode(tmp_path / "xdg") == 0o700  # remem made it, so remem made it private
    keys = KeyStore(folder / "keys.db")
    keys.create("acme")
    keys.close()
    assert _mode(folder / "keys.db") == 0o600
    nested = KeyStore(tmp_path / "a" / "b" / "keys.db")
    nested.close()
    assert _mode(tmp_path / "a" / "b" / "keys.db") == 0o600
    assert _mode(tmp_path / "a") == _mode(tmp_path / "a" / "b") == 0o700


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_loose_existing_files_are_tightened(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    with Memory(shared / "memory.db", embedder="hashing") as memory:
        memory.add("x", user_id="ana")
    keys = KeyStore(shared / "keys.db")
    keys.close()
    for name in ("memory.db", "memory.db-wal", "memory.db-shm", "keys.db"):
        if (shared / name).exists():
            os.chmod(shared / name, 0o644)
    with Memory(shared / "memory.db", embedder="hashing") as memory:
        assert _mode(shared / "memory.db") == 0o600
        assert memory.list(user_id="ana").records[0].content == "x"
    for name in ("memory.db-wal", "memory.db-shm"):
        if (shared / name).exists():
            assert _mode(shared / name) == 0o600, name
    KeyStore(shared / "keys.db").close()
    assert _mode(shared / "keys.db") == 0o600
    assert _mode(shared) == 0o755  # a folder remem did not make is not remem's to change
