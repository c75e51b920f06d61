"""Property-based checks of the REST API against its own OpenAPI schema (schemathesis).

A real uvicorn server (``serve_in_thread``) runs ``create_app`` on an SQLite file with the hashing
embedder. Every operation in ``/openapi.json`` gets generated requests, valid and invalid; every
response must be a non-5xx whose status, content type and body the schema documents.
Generation is derandomized, so a run is the same run everywhere (CI included).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from remem import Memory
from remem.keys import KeyStore
from remem.server.app import create_app, serve_in_thread

# /v1/import takes JSONL text; generated strings go out as they are.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
schemathesis.serializer.alias("application/jsonl", "text/plain")


EXAMPLES = 20  # per operation and server mode: the file takes about 30-40 s on 2 cores
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Service:
    url: str
    headers: dict[str, str]


@pytest.fixture(scope="module", params=["tenant", "open"])
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The API with an API key (a TenantMemory per request), or open (the Memory itself)."""
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    memory = Memory(tmp / "memory.db", embedder="hashing")
    keys = KeyStore(tmp / "keys.db") if request.param == "tenant" else None
    headers = {}
    if keys is not None:
        headers["Authorization"] = f"Bearer {keys.create('acme')[1]}"
    app = create_app(memory, keys=keys, max_body_bytes=256 * 1024)
    try:
        with serve_in_thread(app) as url:
            yield Service(url, headers)
    finally:
        memory.close()
        if keys is not None:
            keys.close()


def _openapi() -> dict[str, object]:
    # The schema does not depend on the data, so a throwaway in-memory store is enough to build it
    # at collection time (schemathesis' lazy from_fixture loader does not work with pytest 9).
    with Memory(":memory:", embedder="hashing") as memory:
        return create_app(memory, keys=None, mcp=False).openapi()


schema = schemathesis.openapi.from_dict(_openapi())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, service: Service) -> None:
    case.call_and_validate(base_url=service.url, headers=service.headers, checks=CHECKS, timeout=30)


def test_stateful_sequences(service: Service) -> None:
    """Chains of calls along the links schemathesis infers (POST's id -> GET, PATCH, DELETE ...),
    so operations on existing memories are exercised too, not only 404s."""
    machine = schema.as_state_machine()
    assert schema.statistic.transitions.total > 0, "no links inferred: nothing chained"

    class Workflow(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"base_url": service.url, "headers": service.headers, "timeout": 30}

        def validate_response(
            self,
            response: schemathesis.Response,
            case: schemathesis.Case,
            additional_checks: object = None,
            **kwargs: object,
        ) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Workflow.run(
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=8,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
