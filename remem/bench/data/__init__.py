"""Corpora shipped with ``remem bench guard`` (JSON Lines, one case a line).

- ``attacks.jsonl``: poisoned memories, each ``{"id", "family", "content", "origin"}`` and
  optionally ``"speaker"``, ``"metadata"`` (where the payload may hide), and for attacks on a
  fact (families ``false_fact`` and ``correction_laundering``) ``"trusted"`` (the memory it
  contradicts: ``{"content", "origin"}``) and ``"query"`` (the question both answer).
- ``benign.jsonl``: ordinary user and assistant turns that look dangerous (code with keyword
  arguments, shell commands, JSON payloads, function-calling documentation, logs, words such as
  "ignore" and "system", non-Latin scripts), each ``{"id", "kind", "content"}`` with ``kind``
  "technical" or "conversational".

The texts were written for this benchmark; names, accounts and addresses are fictitious.
"""
