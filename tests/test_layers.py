"""Dependencies point down: no import cycle among remem's modules, type-only imports included
(``scripts/import_cycles.py``), and the modules above the core never import ``remem.memory``.
Settings: one nested definition (with the retrieval weights' defaults), the flat names on top."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from remem.config import FLAT, RetrievalSettings, Settings, Weights
from remem.errors import ConfigError
from remem.retrieve import hierarchy

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "remem"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "import_cycles", ROOT / "scripts" / "import_cycles.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_cycles"] = module
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles() -> None:
    script = _script()
    found = script.cycles(script.graph(SRC))
    assert found == [], "\n".join(" -> ".join(c) for c in found)


def test_the_script_finds_a_type_only_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "remem"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from remem import b\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from remem.a import thing\n"
    )
    (pkg / "c.py").write_text("def f():\n    from . import a\n")
    script = _script()
    edges = script.graph(pkg)
    assert edges["remem.c"] == {"remem.a"}  # a relative import inside a function counts
    assert script.cycles(edges) == [["remem.a", "remem.b", "remem.a"]]
    assert script.main(["import_cycles.py", str(pkg)]) == 1


def test_answer_and_llm_depend_on_the_port_not_on_memory() -> None:
    edges = _script().graph(SRC)
    for module in ("remem.answer", "remem.llm.enrich", "remem.llm.notes", "remem.llm.tasks"):
        assert "remem.memory" not in edges[module], module
    assert "remem.ports" in edges["remem.answer"]


CORE = ("write", "read", "lifecycle", "portability", "parts", "derive", "ports", "config")
CORE_PACKAGES = ("store", "organize", "guard", "retrieve", "embed")
ABOVE = frozenset(
    {
        "remem.memory",
        "remem.answer",
        "remem.llm.enrich",
        "remem.llm.enrichments",
        "remem.llm.notes",
        "remem.client",
        "remem.tenancy",
        "remem.mcp",
        "remem.verbs",
    }
)


def test_the_core_imports_nothing_above_it() -> None:
    edges = _script().graph(SRC)
    above = {m for m in edges if m in ABOVE or m.startswith(("remem.server", "remem.cli"))}
    core = [m for m in edges if m.count(".") >= 1 and m.split(".")[1] in (*CORE, *CORE_PACKAGES)]
    assert len(core) > 30
    assert {m: sorted(edges[m] & above) for m in core if edges[m] & above} == {}


# -- settings: nested groups with their defaults, the flat names mapped onto them ----------------


def test_flat_names_read_and_set_the_nested_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEM_VECTOR_WEIGHT", "0.4")
    monkeypatch.setenv("REMEM_GUARD", "off")
    s = Settings.from_env(embedder="hashing", fact_weight=0.9)
    assert (s.vector_weight, s.fact_weight, s.guard, s.embedder) == (0.4, 0.9, False, "hashing")
    assert s.retrieval.weights == replace(Weights(), vector=0.4, fact=0.9)
    assert (s.write.guard, s.embedding.name) == (False, "hashing")
    changed = s.replace(rrf_k=7, store_url="postgresql://x")
    assert (changed.rrf_k, changed.retrieval.rrf_k, changed.storage.url) == (7, 7, "postgresql://x")
    assert Settings(vector_weight=0.5).retrieval.weights.vector == 0.5
    assert set(Settings().flat()) == set(FLAT) and len(FLAT) == 38
    assert "llm_enrich" in {f.name for f in dataclasses.fields(Settings)}


def test_explicit_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEM_RRF_K", "3")
    assert Settings.from_env().rrf_k == 3
    assert Settings.from_env(rrf_k=8).rrf_k == 8
    assert Settings.from_env(retrieval=RetrievalSettings(rrf_k=9)).rrf_k == 9  # a whole group


def test_weights_defaults_are_the_settings_defaults() -> None:
    assert hierarchy.Weights is Weights
    s = Settings()
    assert s.retrieval.weights == Weights()
    assert (s.vector_weight, s.session_weight, s.router) == (Weights.vector, Weights.session, True)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"vector_weght": 1}, "unknown setting 'vector_weght'"),
        ({"vector_weight": 11}, "vector_weight must be a number in"),
        ({"dims": 0}, "dims must be a positive integer"),
        ({"default_ttl": -1}, "default_ttl must be a positive number"),
    ],
)
def test_bad_settings_are_config_errors(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(**given)


def test_a_frozen_flat_name(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().vector_weight = 1.0  # type: ignore[misc]
    monkeypatch.setenv("REMEM_VECTOR_WEIGHT", "abc")
    with pytest.raises(ConfigError, match="REMEM_VECTOR_WEIGHT must be a number"):
        Settings.from_env()
