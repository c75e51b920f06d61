"""The embedding runtimes on the real all-MiniLM-L6-v2: ONNX Runtime against sentence-transformers,
the distilled static "fast" embedder, the cache folder, and torch-free later processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from remem import Memory, _registry
from remem.embed import onnx, static
from remem.embed.base import identity
from remem.embed.onnx import OnnxEmbedder
from remem.embed.sentence_transformers import SentenceTransformerEmbedder
from remem.embed.static import StaticEmbedder
from remem.errors import EmbedderMismatch

pytestmark = pytest.mark.model

_CODE = '''def merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping [start, end) intervals."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
'''
_SQL = "SELECT u.id, count(*) AS n FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.id;"
_LONG = (
    "The write-ahead log lets readers proceed while a writer appends pages; a checkpoint copies "
    "them back into the database file once no reader needs the old versions. "
) * 20  # ~3 KB, far past 256 word pieces: exercises truncation

TEXTS = [
    "",
    " ",
    "hi",
    "Hello, world!",
    "I adopted a cat named Miso last spring.",
    "What did Caroline say about the support group?",
    "Melanie painted a sunrise over the lake in 2022.",
    "My flight to Lisbon leaves at 6:45 on Friday.",
    "The meeting was moved from Tuesday to Thursday afternoon.",
    "I'm allergic to peanuts and shellfish.",
    "Remind me to call mom on her birthday, March 3rd.",
    "We switched the backend from MySQL to PostgreSQL 16.",
    "Yesterday I ran 10 km in 52 minutes — a new personal best!",
    "She said the concert was 'absolutely unforgettable'.",
    "can u send me the link again?? thx",
    "ok",
    "lol same",
    "Ich habe gestern einen neuen Job in Berlin angefangen.",
    "J'aime beaucoup la cuisine japonaise, surtout les ramen.",
    "Me mudé a Ciudad de México el año pasado.",
    "Я люблю читать книги по вечерам.",
    "我明天要去北京开会。",
    "東京の天気は晴れです。",
    "오늘 저녁에 친구를 만날 거예요.",
    "مرحبا، كيف حالك اليوم؟",
    "שלום, מה שלומך?",
    "नमस्ते, आप कैसे हैं?",
    "Ελπίζω να τα πούμε σύντομα.",
    "Café naïve façade résumé coöperate",
    "emoji test 🎉🐱🚀 with text",
    "x" * 2000,
    "word " * 400,
    _CODE,
    _SQL,
    "import numpy as np\nx = np.linalg.norm(a, axis=1, keepdims=True)",
    "curl -X POST https://example.com/api/v1/items -H 'Content-Type: application/json'",
    "ERROR 2024-05-01T12:00:00Z worker[42]: connection reset by peer (errno=104)",
    '{"user": "u1", "tags": ["a", "b"], "score": 0.93}',
    '<div class="card"><p>Hello</p></div>',
    "SELECT * FROM memories WHERE user_id = ? AND kind = 'episodic' LIMIT 10",
    'fn main() { println!("{}", 1 + 2); }',
    '#include <stdio.h>\nint main(void) { return printf("hi\\n") < 0; }',
    _LONG,
    _LONG + _CODE,
    "A\tB\tC\nD\tE\tF",
    "   leading and trailing spaces   ",
    "UPPER CASE SHOUTING ABOUT THE DEADLINE",
    "1234567890 3.14159 2.71828 1e-9",
    "Caroline: I went to the LGBTQ support group yesterday and it was powerful.",
    "Melanie: That's amazing! How did it make you feel?",
]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))


def test_onnx_vectors_match_sentence_transformers() -> None:
    assert len(TEXTS) >= 50
    ref = SentenceTransformerEmbedder().embed_batch(TEXTS)
    got = OnnxEmbedder().embed_batch(TEXTS)
    assert got.shape == ref.shape == (len(TEXTS), 384)
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = _cos(got, ref)
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.9999, (worst, TEXTS[worst][:60], float(cos[worst]))


def test_onnx_is_independent_of_batching_and_order() -> None:
    emb = OnnxEmbedder(sub_batch=4)
    together = emb.embed_batch(TEXTS)
    alone = np.vstack([emb.embed_batch([t]) for t in TEXTS[::7]])
    assert _cos(together[::7], alone).min() >= 0.9999
    reversed_ = emb.embed_batch(TEXTS[::-1])[::-1]
    assert _cos(together, reversed_).min() >= 0.9999
    assert emb.embed_batch([]).shape == (0, 384)


def test_int8_vectors_stay_close_to_the_float_model_and_are_told_apart() -> None:
    # Per-channel int8 weights: near the float vectors (per-tensor scales drift to cosine ~0.95),
    # but not the same vectors, so a store written by one refuses the other.
    exact = OnnxEmbedder().embed_batch(TEXTS)
    quick = OnnxEmbedder(int8=True)
    got = quick.embed_batch(TEXTS)
    assert got.shape == exact.shape and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = _cos(got, exact)
    assert cos.mean() >= 0.98 and cos.min() >= 0.93, (float(cos.mean()), float(cos.min()))
    assert cos.min() < 0.9999  # another graph, not the float one under another name
    assert onnx.onnx_file(int8=True) != onnx.onnx_file()
    assert onnx.onnx_file(int8=True).stat().st_mode & 0o777 == 0o600
    assert identity(quick) == {"name": "all-MiniLM-L6-v2", "dims": 384, "version": "int8"}
    assert identity(OnnxEmbedder())["version"] == "1"  # the float identity is unchanged
    # Ranking survives: each text's nearest other text (float) is among its int8 top 3.
    nearest = np.argsort(-(exact @ exact.T), axis=1)[:, 1]
    top3 = np.argsort(-(got @ got.T), axis=1)[:, 1:4]
    assert (top3 == nearest[:, None]).any(axis=1).mean() >= 0.95


def test_a_store_written_by_minilm_refuses_minilm_int8(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with Memory(path, embedder="minilm") as m:
        m.add("I adopted a cat named Miso last spring.", user_id="u")
    with pytest.raises(EmbedderMismatch, match="int8"), Memory(path, embedder="minilm-int8") as m:
        m.search("cat", user_id="u")
    with Memory(path, embedder="minilm") as m:  # the store is as it was
        assert [h.record.content for h in m.search("cat", user_id="u")] == [
            "I adopted a cat named Miso last spring."
        ]


def test_truncation_at_256_word_pieces() -> None:
    # Everything past 256 word pieces is cut, as sentence-transformers does: a tail does not count.
    emb = OnnxEmbedder()
    a, b = emb.embed_batch([_LONG, _LONG + " Completely different ending about volcanoes."])
    assert float(a @ b) >= 0.9999
    short = emb.embed_batch(["The write-ahead log lets readers proceed."])[0]
    assert float(a @ short) < 0.99


def test_minilm_name_runs_on_onnx_and_torch_name_on_sentence_transformers() -> None:
    minilm = _registry.resolve("embedder", "minilm")("all-MiniLM-L6-v2", dims=384)
    assert isinstance(minilm, OnnxEmbedder)
    assert isinstance(_registry.resolve("embedder", "minilm-onnx")(), OnnxEmbedder)
    assert _registry.resolve("embedder", "minilm-int8")().int8
    torch_emb = _registry.resolve("embedder", "minilm-torch")()
    assert isinstance(torch_emb, SentenceTransformerEmbedder)
    assert isinstance(_registry.resolve("embedder", "fast")(), StaticEmbedder)
    assert isinstance(_registry.resolve("embedder", "static-minilm")(), StaticEmbedder)


def test_onnx_file_is_cached_privately_by_model_hash() -> None:
    path = onnx.onnx_file()
    folder = path.parent
    assert folder == onnx.cache_dir()
    assert folder.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600
    assert onnx.fingerprint(Path(onnx.model_path("all-MiniLM-L6-v2"))) in path.name
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert onnx.onnx_file() == path  # the second call finds it


def test_fingerprint_hashes_once_then_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "tokenizer.json").write_text("a")
    first = onnx.fingerprint(model)
    assert (tmp_path / "cache" / "remem").stat().st_mode & 0o777 == 0o700
    index = json.loads((tmp_path / "cache" / "remem" / "fingerprints.json").read_text())
    assert index[str(model.resolve())]["sha"] == first
    assert onnx.fingerprint(model) == first
    (model / "tokenizer.json").write_text("bb")  # another size: hashed again, another key
    assert onnx.fingerprint(model) != first


def test_write_atomic_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"

    def broken(p: Path) -> None:
        p.write_bytes(b"half")
        raise RuntimeError("export failed")

    with pytest.raises(RuntimeError):
        onnx.write_atomic(target, broken)
    assert list(tmp_path.iterdir()) == []
    onnx.write_atomic(target, lambda p: p.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


_CHILD = """
import json, sys
from remem import _registry
emb = _registry.resolve("embedder", sys.argv[1])()
vec = emb.embed_batch(["I adopted a cat named Miso last spring."])[0]
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers", "model2vec")
               if m in sys.modules)
print(json.dumps({"heavy": heavy, "vec": vec.tolist(), "type": type(emb).__name__}))
"""


@pytest.mark.parametrize(("name", "kind"), [("minilm", "OnnxEmbedder"), ("fast", "StaticEmbedder")])
def test_later_process_loads_without_torch(name: str, kind: str) -> None:
    # Build the caches here (this process may import torch), then embed in a fresh process.
    if name == "minilm":
        parent = OnnxEmbedder().embed_batch(["I adopted a cat named Miso last spring."])[0]
    else:
        parent = StaticEmbedder().embed_batch(["I adopted a cat named Miso last spring."])[0]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, name],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["type"] == kind
    assert child["heavy"] == []
    assert float(np.dot(child["vec"], parent)) >= 0.9999


def test_static_matches_model2vec_and_ranks_sensibly() -> None:
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    emb = StaticEmbedder()
    got = emb.embed_batch(TEXTS)
    assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
    table_path, tok_path = static.static_files()
    ref_model = StaticModel(
        vectors=np.load(table_path),
        tokenizer=Tokenizer.from_file(str(tok_path)),
        normalize=True,
    )
    ref = np.asarray(ref_model.encode(TEXTS), dtype=np.float32)
    present = np.linalg.norm(ref, axis=1) > 0
    # No known word piece: the blank texts, and a 2000-letter "word" (one [UNK], which is dropped).
    assert set(np.flatnonzero(~present)) == {0, 1, TEXTS.index("x" * 2000)}
    np.testing.assert_allclose(np.linalg.norm(got[present], axis=1), 1.0, atol=1e-5)
    assert _cos(got[present], ref[present]).min() >= 0.9999
    assert not np.any(got[~present])

    docs = emb.embed_batch(
        [
            "I adopted a kitten and named her Miso.",
            "The quarterly revenue grew by twelve percent.",
            "We migrated the database to PostgreSQL.",
        ]
    )
    for query, expected in [
        ("what is the name of my cat", 0),
        ("how much did sales increase", 1),
        ("which database do we use now", 2),
    ]:
        scores = docs @ emb.embed_batch([query])[0]
        assert int(np.argmax(scores)) == expected, (query, scores)


def test_static_is_close_to_minilm_but_not_the_same() -> None:
    # Distilled from MiniLM, in its own space: related texts agree, the vectors themselves differ.
    fast = StaticEmbedder().embed_batch(TEXTS[4:30])
    exact = OnnxEmbedder().embed_batch(TEXTS[4:30])
    sim_fast, sim_exact = fast @ fast.T, exact @ exact.T
    iu = np.triu_indices(len(fast), 1)
    corr = float(np.corrcoef(sim_fast[iu], sim_exact[iu])[0, 1])
    assert corr > 0.5, corr
    assert _cos(fast, exact).mean() < 0.9


def test_memory_add_and_search_with_fast_and_minilm(tmp_path: Path) -> None:
    from remem.memory import Memory

    for name in ("fast", "minilm"):
        with Memory(tmp_path / f"{name}.db", embedder=name) as m:
            m.add("I adopted a kitten and named her Miso.", user_id="u")
            m.add("The quarterly revenue grew by twelve percent.", user_id="u")
            hits = m.search("what is my cat called", user_id="u", limit=1)
            assert hits and "Miso" in hits[0].record.content, name


def test_embed_threads_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``remem serve --workers N`` gives each worker its share of the CPUs through
    ``REMEM_EMBED_THREADS``; without it, the CPUs this process may use (at most 4)."""
    from remem.embed import onnx

    monkeypatch.setenv(onnx.THREADS_ENV, "1")
    assert onnx.default_threads() == 1
    monkeypatch.setenv(onnx.THREADS_ENV, "not a number")
    assert 1 <= onnx.default_threads() <= 4
    monkeypatch.delenv(onnx.THREADS_ENV)
    assert 1 <= onnx.default_threads() <= 4
