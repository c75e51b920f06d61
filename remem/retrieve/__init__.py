"""Retrieval: candidate generation, fusion and ranking."""
