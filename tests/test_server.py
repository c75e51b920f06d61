"""The REST API through a real uvicorn server: routes, auth, tenants, every error status."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from remem import Memory
from remem.cli import app as cli_app
from remem.errors import ConfigError
from remem.keys import KeyStore
from remem.server.app import create_app, serve_in_thread

ROUTES = {
    ("POST", "/v1/memories"),
    ("POST", "/v1/memories/search"),
    ("POST", "/v1/answer"),
    ("GET", "/v1/profile"),
    ("GET", "/v1/memories"),
    ("GET", "/v1/memories:all"),
    ("POST", "/v1/episodes"),
    ("POST", "/v1/cases"),
    ("POST", "/v1/lessons"),
    ("GET", "/v1/memories/{id}"),
    ("PATCH", "/v1/memories/{id}"),
    ("DELETE", "/v1/memories/{id}"),
    ("GET", "/v1/memories/{id}/history"),
    ("GET", "/v1/memories/{id}/links"),
    ("POST", "/v1/memories/{id}/quarantine"),
    ("POST", "/v1/memories/{id}/restore"),
    ("GET", "/v1/timeline"),
    ("POST", "/v1/first-of"),
    ("POST", "/v1/forget"),
    ("POST", "/v1/scopes/{user_id}/forget-expired"),
    ("DELETE", "/v1/scopes/{user_id}"),
    ("POST", "/v1/export"),
    ("POST", "/v1/import"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
}


@dataclass
class Service:
    url: str
    acme: httpx.Client
    globex: httpx.Client
    keys: dict[str, str]
    memory: Memory


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("server")
    memory = Memory(tmp / "memory.db", embedder="hashing", max_content_bytes=2048)
    keys = KeyStore(tmp / "keys.db")
    tokens = {name: keys.create(name)[1] for name in ("acme", "globex")}
    revoked, tokens["revoked"] = keys.create("acme")
    keys.revoke(revoked.key_id)
    app = create_app(memory, keys=keys, max_body_bytes=64 * 1024)
    with serve_in_thread(app) as url:
        clients = {
            name: httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[name]}"})
            for name in ("acme", "globex")
        }
        yield Service(url, clients["acme"], clients["globex"], tokens, memory)
        for client in clients.values():
            client.close()
    memory.close()
    keys.close()


def _error(response: httpx.Response, status: int, error: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and isinstance(body["detail"], str) and body["detail"]
    return body  # type: ignore[no-any-return]


# -- happy paths -------------------------------------------------------------------------------


def test_memory_lifecycle(service: Service) -> None:
    c = service.acme
    created = c.post(
        "/v1/memories",
        json={
            "content": "Ana moved to Lisbon",
            "user_id": "ana",
            "speaker": "Ana",
            "metadata": {"topic": "home"},
            "occurred_at": "2024-05-01T10:00:00+00:00",
        },
    )
    assert created.status_code == 201
    rec = created.json()
    assert (rec["user_id"], rec["version"], rec["metadata"]) == ("ana", 1, {"topic": "home"})
    assert rec["occurred_at"].startswith("2024-05-01T10:00:00")

    assert c.get(f"/v1/memories/{rec['id']}").json() == rec
    assert c.get(f"/v1/memories/{rec['id']}", params={"user_id": "ana"}).status_code == 200

    hits = c.post("/v1/memories/search", json={"query": "Lisbon", "user_id": "ana"}).json()["hits"]
    assert hits[0]["record"]["id"] == rec["id"] and hits[0]["score"] > 0

    patched = c.patch(
        f"/v1/memories/{rec['id']}", json={"content": "Ana moved to Porto", "reason": "correction"}
    )
    assert patched.status_code == 200 and patched.json()["version"] == 2

    deleted = c.delete(f"/v1/memories/{rec['id']}", params={"reason": "asked"})
    assert deleted.status_code == 204 and deleted.content == b""
    _error(c.get(f"/v1/memories/{rec['id']}"), 404, "NotFound")

    entries = c.get(f"/v1/memories/{rec['id']}/history").json()["entries"]
    assert [(e["op"], e["reason"]) for e in entries] == [
        ("add", None),
        ("update", "correction"),
        ("delete", "asked"),
    ]
    assert entries[1]["before"]["content"] == "Ana moved to Lisbon"
    assert entries[1]["before"]["user_id"] == "ana"


def test_batch_add_and_pagination(service: Service) -> None:
    c = service.acme
    items = [{"content": f"turn {i}", "user_id": "pager", "session_id": "s1"} for i in range(5)]
    batch = c.post("/v1/memories", json={"items": items})
    assert batch.status_code == 201
    ids = [r["id"] for r in batch.json()["items"]]
    seen, cursor = [], None
    while True:
        params = {"user_id": "pager", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = c.get("/v1/memories", params=params).json()
        seen += [r["id"] for r in page["records"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    c.post("/v1/memories", json={"content": "elsewhere", "user_id": "pager", "session_id": "s2"})
    filters = json.dumps({"session_id": "s1"})
    only = c.get("/v1/memories", params={"user_id": "pager", "filters": filters}).json()
    assert [r["id"] for r in only["records"]] == ids


def test_export_import_and_purge(service: Service) -> None:
    acme, globex = service.acme, service.globex
    acme.post(
        "/v1/memories",
        json={
            "items": [
                {"content": "exported one", "user_id": "mover"},
                {"content": "exported two", "user_id": "mover"},
            ]
        },
    )
    exported = acme.post("/v1/export", json={"user_id": "mover"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    assert exported.headers["x-remem-count"] == "2"
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert {x["user_id"] for x in lines if x["type"] == "record"} == {"mover"}

    # Import keeps ids, and an id exists once per store: importing while the original is there
    # is a conflict, even from another tenant.
    ndjson = {"Content-Type": "application/x-ndjson"}
    _error(globex.post("/v1/import", content=exported.content, headers=ndjson), 409, "Conflict")
    assert acme.delete("/v1/scopes/mover").json() == {"purged": 2}
    imported = globex.post(
        "/v1/import", content=exported.content, headers={"Content-Type": "application/x-ndjson"}
    )
    assert imported.status_code == 201 and imported.json() == {"imported": 2}
    assert len(globex.get("/v1/memories", params={"user_id": "mover"}).json()["records"]) == 2
    assert acme.get("/v1/memories", params={"user_id": "mover"}).json()["records"] == []
    assert service.memory.list(user_id="globex/mover").records[0].user_id == "globex/mover"


def test_user_ids_with_slashes_stay_inside_the_tenant(service: Service) -> None:
    service.acme.post("/v1/memories", json={"content": "slashy", "user_id": "team/ana"})
    assert service.globex.delete("/v1/scopes/team/ana").json() == {"purged": 0}
    assert service.acme.delete("/v1/scopes/team/ana").json() == {"purged": 1}


def test_health(service: Service) -> None:
    assert httpx.get(service.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(service.url + "/readyz").json() == {"status": "ready"}


def test_openapi_lists_every_route(service: Service) -> None:
    spec = httpx.get(service.url + "/openapi.json").json()
    listed = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    assert listed == ROUTES
    assert httpx.get(service.url + "/docs").status_code == 200
    add_schema = spec["paths"]["/v1/memories"]["post"]["requestBody"]["content"]["application/json"]
    assert "AddItem" in json.dumps(add_schema) and "AddBatch" in json.dumps(add_schema)


# -- auth and tenants ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}, "revoked"],
)
def test_401_without_a_valid_key(service: Service, headers: dict[str, str] | str) -> None:
    if headers == "revoked":
        headers = {"Authorization": f"Bearer {service.keys['revoked']}"}
    for method, path in [
        ("GET", "/v1/memories?user_id=ana"),
        ("POST", "/v1/export"),
        ("GET", "/v1/memories/x/history"),
        ("POST", "/mcp"),
    ]:
        response = httpx.request(method, service.url + path, headers=headers, json={})
        body = _error(response, 401, "Unauthorized")
        assert response.headers["www-authenticate"] == "Bearer", body


def test_403_when_the_request_names_another_tenant(service: Service) -> None:
    response = service.acme.get(
        "/v1/memories", params={"user_id": "ana"}, headers={"X-Remem-Tenant": "globex"}
    )
    _error(response, 403, "Forbidden")
    ok = service.acme.get(
        "/v1/memories", params={"user_id": "ana"}, headers={"X-Remem-Tenant": "acme"}
    )
    assert ok.status_code == 200


def test_other_tenants_ids_are_404_like_missing_ones(service: Service) -> None:
    rec = service.acme.post("/v1/memories", json={"content": "acme only", "user_id": "ana"}).json()
    g = service.globex
    responses = [
        g.get(f"/v1/memories/{rec['id']}"),
        g.patch(f"/v1/memories/{rec['id']}", json={"content": "mine now"}),
        g.delete(f"/v1/memories/{rec['id']}"),
        g.get(f"/v1/memories/{rec['id']}/history"),
    ]
    missing = g.get("/v1/memories/does-not-exist").json()
    for response in responses:
        body = _error(response, 404, "NotFound")
        assert set(body) == set(missing)
    assert g.get("/v1/memories", params={"user_id": "ana"}).json()["records"] == []
    hits = g.post("/v1/memories/search", json={"query": "acme only", "user_id": "ana"}).json()
    assert hits["hits"] == []
    assert service.acme.get(f"/v1/memories/{rec['id']}").json()["content"] == "acme only"


# -- every error status -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": "x"}, "user_id"),
        ({"content": "x", "user_id": "a", "colour": "red"}, "colour"),
        ({"content": 5, "user_id": "a"}, "content"),
        ({"content": "x", "user_id": "a", "kind": "dream"}, "kind"),
        ({"items": [{"content": "x"}]}, "user_id"),
    ],
)
def test_422_schema_errors_name_the_field(
    service: Service, body: dict[str, object], field: str
) -> None:
    result = _error(service.acme.post("/v1/memories", json=body), 422, "InvalidInput")
    if "fields" not in result:  # user_id is optional in the schema (an agent's own scope)
        assert field in result["detail"]
        return
    fields = result["fields"]
    assert isinstance(fields, list) and any(field in f["loc"] for f in fields)


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/v1/memories", {"json": {"content": "   ", "user_id": "a"}}),
        ("POST", "/v1/memories", {"json": {"content": "x", "user_id": ""}}),
        ("POST", "/v1/memories", {"json": {"content": "x", "user_id": "a", "occurred_at": "soon"}}),
        ("POST", "/v1/memories/search", {"json": {"query": "x", "user_id": "a", "limit": 0}}),
        (
            "POST",
            "/v1/memories/search",
            {"json": {"query": "x", "user_id": "a", "filters": {"trust": {"$near": 1}}}},
        ),
        ("GET", "/v1/memories", {"params": {"user_id": "a", "filters": "{not json"}}),
        ("PATCH", "/v1/memories/some-id", {"json": {}}),
        (
            "POST",
            "/v1/import",
            {"content": b"this is not json\n", "headers": {"content-type": "application/jsonl"}},
        ),
        (
            "POST",
            "/v1/memories",
            {"content": b"{broken", "headers": {"content-type": "application/json"}},
        ),
    ],
)
def test_422_invalid_input(
    service: Service, method: str, path: str, kwargs: dict[str, object]
) -> None:
    _error(service.acme.request(method, path, **kwargs), 422, "InvalidInput")  # type: ignore[arg-type]


def test_404_not_found(service: Service) -> None:
    _error(service.acme.get("/v1/memories/nope"), 404, "NotFound")
    _error(service.acme.get("/v1/memories/nope/history"), 404, "NotFound")
    _error(service.acme.get("/v2/anything"), 404, "NotFound")


def test_409_conflict(service: Service) -> None:
    rec = service.acme.post("/v1/memories", json={"content": "once", "user_id": "dup"}).json()
    line = json.dumps({"type": "record", **rec})
    ndjson = {"Content-Type": "application/x-ndjson"}
    _error(service.acme.post("/v1/import", content=line.encode(), headers=ndjson), 409, "Conflict")


def test_413_too_large(service: Service) -> None:
    body = _error(
        service.acme.post("/v1/memories", json={"content": "x" * 3000, "user_id": "a"}),
        413,
        "TooLarge",
    )
    assert "2048" in str(body["detail"])
    huge = {"content": "x", "user_id": "a", "metadata": {"blob": "y" * 70_000}}
    _error(service.acme.post("/v1/memories", json=huge), 413, "TooLarge")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold for streams too
        yield b'{"content": "x", "user_id": "a", "metadata": {"blob": "'
        for _ in range(80):
            yield b"z" * 1024
        yield b'"}}'

    json_type = {"Content-Type": "application/json"}
    _error(service.acme.post("/v1/memories", content=chunks(), headers=json_type), 413, "TooLarge")


def test_503_when_the_store_fails(tmp_path: Path) -> None:
    memory = Memory(tmp_path / "memory.db", embedder="hashing")
    memory.close()  # every read now fails inside the store, as a dead disk or database would
    with serve_in_thread(create_app(memory, mcp=False)) as url:
        _error(httpx.get(url + "/readyz"), 503, "StoreError")
        _error(httpx.get(url + "/v1/memories/abc"), 503, "StoreError")
        assert httpx.get(url + "/healthz").status_code == 200


# -- the open (keyless) mode --------------------------------------------------------------------


def test_open_mode_serves_the_memory_as_is(mem: Memory) -> None:
    with serve_in_thread(create_app(mem)) as url:
        rec = httpx.post(url + "/v1/memories", json={"content": "hi", "user_id": "ana"}).json()
        assert mem.get(rec["id"]).user_id == "ana"  # same data the CLI sees
        # A DNS-rebinding page would arrive with its own Host header.
        rebound = httpx.get(url + "/healthz", headers={"Host": "evil.example"})
        assert rebound.status_code == 400


def test_serve_refuses_to_bind_publicly_without_keys(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app, ["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "m.db")]
    )
    assert isinstance(result.exception, ConfigError)
    assert "remem keys create" in str(result.exception)


def test_serve_with_workers_uses_the_env_factory(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    keys = KeyStore(tmp_path / "keys.db")
    _, token = keys.create("acme")
    keys.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMEM_")}
    env["REMEM_EMBEDDER"] = "hashing"
    log = tmp_path / "serve.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "remem",
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
                "--db",
                str(db),
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(url + "/v1/memories?user_id=a").status_code == 401
        rec = httpx.post(url + "/v1/memories", json={"content": "hi", "user_id": "a"}, headers=auth)
        assert rec.status_code == 201
        for _ in range(4):  # whichever worker answers, it sees the same store
            got = httpx.get(url + f"/v1/memories/{rec.json()['id']}", headers=auth)
            assert got.json()["user_id"] == "a"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with Memory(db, embedder="hashing") as memory:
        assert memory.list(user_id="acme/a").records[0].content == "hi"


# -- links, timeline, first-of, forget, ttl, quarantine -----------------------------------------


def _story(c: httpx.Client, user: str) -> list[str]:
    items = [
        {
            "content": "I adopted a puppy named Rex",
            "session_id": "s1",
            "occurred_at": "2024-03-01T10:00:00+00:00",
        },
        {
            "content": "Rex chewed my shoes",
            "session_id": "s1",
            "occurred_at": "2024-03-02T10:00:00+00:00",
        },
        {
            "content": "I started a pottery class",
            "session_id": "s2",
            "occurred_at": "2024-01-05T10:00:00+00:00",
        },
    ]
    batch = c.post("/v1/memories", json={"items": [{**i, "user_id": user} for i in items]})
    assert batch.status_code == 201, batch.text
    return [r["id"] for r in batch.json()["items"]]


def test_links_route(service: Service) -> None:
    puppy, shoes, _ = _story(service.acme, "linker")
    links = service.acme.get(f"/v1/memories/{puppy}/links", params={"user_id": "linker"})
    assert links.status_code == 200
    found = {(x["a"], x["b"], x["relation"]) for x in links.json()["links"]}
    assert (puppy, shoes, "next") in found
    assert all(isinstance(x["weight"], float) for x in links.json()["links"])
    _error(service.globex.get(f"/v1/memories/{puppy}/links"), 404, "NotFound")
    _error(service.acme.get("/v1/memories/nope/links"), 404, "NotFound")


def test_timeline_route(service: Service) -> None:
    puppy, shoes, pottery = _story(service.acme, "timer")
    whole = service.acme.get("/v1/timeline", params={"user_id": "timer"}).json()["records"]
    assert [r["id"] for r in whole] == [pottery, puppy, shoes]
    window = service.acme.get(
        "/v1/timeline",
        params={"user_id": "timer", "start": "2024-02-01", "end": "2024-03-02", "limit": 5},
    ).json()["records"]
    assert [r["id"] for r in window] == [puppy]
    assert service.globex.get("/v1/timeline", params={"user_id": "timer"}).json() == {"records": []}
    _error(
        service.acme.get("/v1/timeline", params={"user_id": "timer", "start": "soon"}),
        422,
        "InvalidInput",
    )
    _error(service.acme.get("/v1/timeline"), 422, "InvalidInput")


def test_first_of_route(service: Service) -> None:
    puppy, _, pottery = _story(service.acme, "orderer")
    body = {"event_a": "puppy named Rex", "event_b": "pottery class", "user_id": "orderer"}
    result = service.acme.post("/v1/first-of", json=body)
    assert result.status_code == 200
    data = result.json()
    assert (data["earlier"]["record"]["id"], data["later"]["record"]["id"]) == (pottery, puppy)
    assert data["earlier"]["record"]["user_id"] == "orderer"
    _error(service.globex.post("/v1/first-of", json=body), 404, "NotFound")
    _error(service.acme.post("/v1/first-of", json={"event_a": "x"}), 422, "InvalidInput")


def test_forget_route(service: Service) -> None:
    puppy, _, pottery = _story(service.acme, "forgetter")
    _error(service.globex.post("/v1/forget", json={"id": puppy}), 404, "NotFound")
    _error(service.acme.post("/v1/forget", json={}), 422, "InvalidInput")
    one = service.acme.post("/v1/forget", json={"id": puppy, "reason": "asked"})
    assert one.status_code == 200 and one.json() == {"forgotten": 1}
    entries = service.acme.get(f"/v1/memories/{puppy}/history").json()["entries"]
    assert (entries[-1]["op"], entries[-1]["reason"]) == ("forget", "asked")
    scoped = service.acme.post(
        "/v1/forget", json={"user_id": "forgetter", "filters": {"session_id": "s2"}}
    )
    assert scoped.json() == {"forgotten": 1}
    _error(service.acme.get(f"/v1/memories/{pottery}"), 404, "NotFound")
    left = service.acme.get("/v1/memories", params={"user_id": "forgetter"}).json()["records"]
    assert [r["content"] for r in left] == ["Rex chewed my shoes"]


def test_ttl_and_forget_expired_route(service: Service) -> None:
    short = service.acme.post(
        "/v1/memories", json={"content": "parking spot 42", "user_id": "team/exp", "ttl": 1}
    ).json()
    assert short["expires_at"] is not None
    _error(
        service.acme.post("/v1/memories", json={"content": "x", "user_id": "a", "ttl": 0}),
        422,
        "InvalidInput",
    )
    time.sleep(1.1)
    assert service.globex.post("/v1/scopes/team/exp/forget-expired").json() == {"forgotten": 0}
    done = service.acme.post("/v1/scopes/team/exp/forget-expired")
    assert done.status_code == 200 and done.json() == {"forgotten": 1}
    _error(service.acme.post(f"/v1/scopes/{'x' * 300}/forget-expired"), 422, "InvalidInput")


def test_search_as_of_and_level(service: Service) -> None:
    _story(service.acme, "seeker")
    search = "/v1/memories/search"
    past = {"query": "Rex", "user_id": "seeker", "as_of": "2000-01-01T00:00:00Z"}
    assert service.acme.post(search, json=past).json() == {"hits": []}
    units = service.acme.post(
        search, json={"query": "Rex puppy", "user_id": "seeker", "level": "session"}
    ).json()["hits"]
    assert units and {h["record"]["level"] for h in units} == {"session"}
    _error(service.acme.post(search, json={**past, "as_of": "soon"}), 422, "InvalidInput")
    bad_level = {"query": "Rex", "user_id": "seeker", "level": "galaxy"}
    _error(service.acme.post(search, json=bad_level), 422, "InvalidInput")


def test_quarantine_and_restore_routes(service: Service) -> None:
    _, shoes, _ = _story(service.acme, "guarded")
    _error(service.globex.post(f"/v1/memories/{shoes}/quarantine", json={}), 404, "NotFound")
    hidden = service.acme.post(f"/v1/memories/{shoes}/quarantine", json={"reason": "odd"})
    assert hidden.status_code == 200 and hidden.json()["level"] == "quarantine"
    hits = service.acme.post(
        "/v1/memories/search", json={"query": "shoes chewed", "user_id": "guarded"}
    ).json()["hits"]
    assert shoes not in {h["record"]["id"] for h in hits}
    back = service.acme.post(f"/v1/memories/{shoes}/restore", json={"user_id": "guarded"})
    assert back.status_code == 200 and back.json()["level"] == "record"
    _error(service.acme.post(f"/v1/memories/{shoes}/restore", json={}), 422, "InvalidInput")


def test_record_schema_documents_every_record_field(service: Service) -> None:
    from dataclasses import fields

    from remem.types import Record

    spec = httpx.get(service.url + "/openapi.json").json()
    documented = set(spec["components"]["schemas"]["RecordOut"]["properties"])
    assert documented == {f.name for f in fields(Record)}


def test_answer_route(service: Service) -> None:
    puppy, _, _ = _story(service.acme, "asker")
    body = {"question": "What is the name of the puppy I adopted?", "user_id": "asker"}
    result = service.acme.post("/v1/answer", json=body)
    assert result.status_code == 200
    data = result.json()
    assert data["abstained"] is False and data["citations"] == [puppy]
    assert "Rex" in data["text"] and data["usage"] == {}
    # Another tenant's memories give no support: the answer abstains.
    assert service.globex.post("/v1/answer", json=body).json()["abstained"] is True
    _error(service.acme.post("/v1/answer", json={**body, "question": " "}), 422, "InvalidInput")
