"""Time the text heuristics on adversarial inputs of growing size; flag super-linear growth.

Usage: ``python scripts/pathological_regex.py [--max-kb 64] [--only NAME] [--input NAME]``.

Each (function, input) pair runs at 1, 2, 4, ... KB until ``--max-kb`` or until one call takes
more than ``--budget`` seconds. A pair whose time more than triples when the input doubles (above
a floor of a few milliseconds) is printed as SUPER-LINEAR.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import random
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from remem import _text  # noqa: E402
from remem.guard import consensus, signals  # noqa: E402
from remem.llm import base as llm_base  # noqa: E402
from remem.llm import tasks  # noqa: E402
from remem.organize import consolidate, facts, notes, timeexpr  # noqa: E402

ANCHOR = datetime(2024, 5, 7, 12, 0)


def _rng() -> random.Random:
    return random.Random(7)


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda n: (unit * (n // len(unit) + 1))[:n]


def _token(n: int) -> str:
    r = _rng()
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def _letters(n: int) -> str:
    r = _rng()
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))


def _base64(n: int) -> str:
    return base64.b64encode(_rng().randbytes(n))[:n].decode()


def _hex(n: int) -> str:
    return _rng().randbytes(n).hex()[:n]


def _hexdump(n: int) -> str:
    data = _rng().randbytes(n)
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        lines.append(f"{off:08x}  {' '.join(f'{b:02x}' for b in chunk)}")
    return "\n".join(lines)[:n]


def _json(n: int) -> str:
    r = _rng()

    def node(depth: int) -> Any:
        if depth > 4:
            return r.choice([r.randint(0, 10**6), "Is a value", True, None, 3.25, "2024-01-02"])
        return {f"Key{r.randint(0, 999)}": node(depth + 1) for _ in range(r.randint(1, 4))} | {
            "name": "Ana lives in Lisbon",
            "list": [node(depth + 2) for _ in range(2)],
        }

    out = ""
    while len(out) < n:
        out += json.dumps(node(0), separators=(",", ":"))
    return out[:n]


def _code(n: int) -> str:
    src = "".join(
        p.read_text() for p in sorted((Path(__file__).parent.parent / "remem").rglob("*.py"))
    )
    return (src * (n // len(src) + 1))[:n]


INPUTS: dict[str, Callable[[int], str]] = {
    "token[a-z0-9]": _token,
    "letters[a-z]": _letters,
    "LETTERS[A-Z]": lambda n: _letters(n).upper(),
    "base64": _base64,
    "hex": _hex,
    "hexdump": _hexdump,
    "json": _json,
    "python": _code,
    "'a '": _repeat("a "),
    "'1 '": _repeat("1 "),
    "'Mr. '": _repeat("Mr. "),
    "'. '": _repeat(". "),
    "digits": _repeat("1234567890"),
    "dates": _repeat("2024-01-02 "),
    "'A-'": _repeat("A-"),
    "'Aa-'": _repeat("Aa-"),
    "'Monday '": _repeat("Monday "),
    "'may 2 '": _repeat("May 2 "),
    "'in May '": _repeat("in May "),
    "'And '": _repeat("And "),
    "'The Big '": _repeat("The Big "),
    "'is '": _repeat("is "),
    "'x is y '": _repeat("x is y "),
    "'I live in Rome, '": _repeat("I live in Rome, "),
    "'my x is Y '": _repeat("my x is Y "),
    "spaces": _repeat(" "),
    "'! '": _repeat("!"),
    "letters+'!x'": lambda n: _letters(n - 8) + "! x 2024",
    "letters+'1 2024'": lambda n: _letters(n - 8) + "1 x 2024",
    "'```'": _repeat("``` "),
    "'<think>'": _repeat("<think>"),
    "'ignore '": _repeat("ignore previous "),
}


def _parse_json(text: str) -> object:
    try:
        return llm_base.parse_json(text)
    except Exception:  # noqa: BLE001 - only timing matters
        return None


FUNCS: dict[str, Callable[[str], object]] = {
    "consensus._claims_of": consensus._claims_of,
    "consensus.lesson_key": consensus.lesson_key,
    "signals.scan": signals.scan,
    "signals.find_instructions": signals.find_instructions,
    "notes.extract": lambda t: notes.extract(t, occurred_at=ANCHOR, speaker="Ana"),
    "timeexpr.resolve": lambda t: timeexpr.resolve(t, ANCHOR),
    "timeexpr.query_range": lambda t: timeexpr.query_range(t, now=ANCHOR),
    "timeexpr.asks_when": timeexpr.asks_when,
    "consolidate.slots": lambda t: consolidate.slots(t, speaker="Ana"),
    "consolidate.is_correction": consolidate.is_correction,
    "consolidate.near_duplicate": lambda t: consolidate.near_duplicate(t, t + " x", 0.99),
    "facts.sentences": facts.sentences,
    "_text.terms": _text.terms,
    "llm.parse_json": _parse_json,
    "tasks.keywords": tasks.keywords,
    "tasks._first_sentence": tasks._first_sentence,
}


def _time(fn: Callable[[str], object], text: str) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - t0)
        if best > 0.5:
            break
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-kb", type=int, default=64)
    ap.add_argument("--budget", type=float, default=3.0)
    ap.add_argument("--only", action="append")
    ap.add_argument("--input", action="append")
    ap.add_argument("--all", action="store_true", help="print every pair, not only the slow ones")
    args = ap.parse_args()
    sizes = [1 << k for k in range(10, 30) if (1 << k) <= args.max_kb * 1024]
    texts = {
        name: {n: make(n) for n in sizes}
        for name, make in INPUTS.items()
        if not args.input or name in args.input
    }
    for fname, fn in FUNCS.items():
        if args.only and fname not in args.only:
            continue
        for iname, by_size in texts.items():
            times: dict[int, float] = {}
            for n in sizes:
                times[n] = _time(fn, by_size[n])
                if times[n] > args.budget:
                    break
            ns = sorted(times)
            # Growth exponent over the last three doublings (cache effects make one doubling
            # noisy): ~1 linear, ~2 quadratic.
            last = ns[-1]
            base = ns[max(0, len(ns) - 4)]
            exponent = (
                math.log2(times[last] / times[base]) / math.log2(last / base)
                if last > base and times[last] > 0.004 and times[base] > 0
                else 1.0
            )
            bad = exponent > 1.5
            if bad or args.all or times[last] > 0.05:
                cells = "  ".join(f"{n // 1024}k={times[n] * 1000:.1f}ms" for n in ns if n >= 8192)
                tag = "SUPER-LINEAR" if bad else "ok"
                print(f"{tag:12} {fname:26} {iname:18} n^{exponent:.2f}  {cells}", flush=True)


if __name__ == "__main__":
    main()
