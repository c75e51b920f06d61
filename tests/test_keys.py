"""API keys: created once, stored hashed, resolved to a tenant, revoked; and the CLI commands."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from remem.cli import app
from remem.errors import InvalidInput, NotFound
from remem.keys import KeyStore, Unauthorized, check_tenant, default_keys_path, open_keys


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    store = KeyStore(tmp_path / "keys.db")
    yield store
    store.close()


def test_create_resolves_to_tenant(keys: KeyStore) -> None:
    key, token = keys.create("acme", label="ci")
    assert token.startswith(f"rmk_{key.key_id}_")
    assert keys.tenant_for(token) == "acme"
    assert [(k.key_id, k.tenant, k.label, k.active) for k in keys.list()] == [
        (key.key_id, "acme", "ci", True)
    ]


def test_only_the_hash_is_stored(keys: KeyStore) -> None:
    _, token = keys.create("acme")
    raw = sqlite3.connect(keys.path).execute("SELECT * FROM api_keys").fetchall()
    assert token not in repr(raw)
    secret = token.split("_", 2)[2]
    assert secret not in repr(raw)


@pytest.mark.parametrize(
    "token",
    [None, "", "nonsense", "rmk_", "rmk_abc", "rmk_abc_def", "Bearer x"],
)
def test_bad_tokens_are_unauthorized(keys: KeyStore, token: str | None) -> None:
    keys.create("acme")
    with pytest.raises(Unauthorized):
        keys.tenant_for(token)


def test_right_id_wrong_secret_is_unauthorized(keys: KeyStore) -> None:
    key, token = keys.create("acme")
    with pytest.raises(Unauthorized):
        keys.tenant_for(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_revoke(keys: KeyStore) -> None:
    key, token = keys.create("acme")
    other, other_token = keys.create("globex")
    keys.revoke(key.key_id)
    with pytest.raises(Unauthorized):
        keys.tenant_for(token)
    assert keys.tenant_for(other_token) == "globex"
    assert [k.active for k in keys.list()] == [False, True]
    with pytest.raises(NotFound):
        keys.revoke(key.key_id)
    with pytest.raises(NotFound):
        keys.revoke("no-such-id")


@pytest.mark.parametrize("tenant", ["", "a/b", "-x", "x" * 65, "a b", 3, None])
def test_bad_tenant_names(keys: KeyStore, tenant: object) -> None:
    with pytest.raises(InvalidInput):
        keys.create(tenant)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        check_tenant(tenant)


def test_open_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    assert open_keys(path) is None
    assert not path.exists(), "an open server must not create a keys file"
    store = KeyStore(path)
    key, _ = store.create("acme")
    ks = open_keys(path)
    assert ks is not None and ks.has_active()
    ks.close()
    store.revoke(key.key_id)
    store.close()
    assert open_keys(path) is None
    required = open_keys(path, require=True)
    assert required is not None and not required.has_active()
    required.close()


def test_default_keys_path(tmp_path: Path) -> None:
    assert default_keys_path(tmp_path / "data" / "memory.db") == tmp_path / "data" / "keys.db"


def test_cli_keys_create_list_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    db = tmp_path / "memory.db"
    created = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--db", str(db)])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    store = KeyStore(tmp_path / "keys.db")
    assert store.tenant_for(token) == "acme"

    listed = runner.invoke(app, ["keys", "list", "--db", str(db), "--json"])
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [(r["tenant"], r["revoked_at"]) for r in rows] == [("acme", None)]
    assert token not in listed.stdout

    table = runner.invoke(app, ["keys", "list", "--keys", str(tmp_path / "keys.db")])
    assert table.exit_code == 0 and rows[0]["key_id"] in table.stdout

    revoked = runner.invoke(app, ["keys", "revoke", rows[0]["key_id"], "--db", str(db)])
    assert revoked.exit_code == 0
    with pytest.raises(Unauthorized):
        store.tenant_for(token)
    store.close()


def test_cli_keys_bad_tenant_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["keys", "create", "--tenant", "a/b", "--db", str(tmp_path / "m.db")]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInput)
