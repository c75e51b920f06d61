"""Dependencies point down: no import cycle among remem's modules, type-only imports included
(``scripts/import_cycles.py``), and the modules above the core never import ``remem.memory``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

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
