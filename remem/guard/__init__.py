"""Memory-poisoning defense (A-MemGuard): write-time signals, trust, consensus checks and lessons.

Pure functions only; ``Memory`` decides what to do with the flags.
"""

from __future__ import annotations

from remem.guard.consensus import CONTRADICTS, Candidate, Lesson, check, lesson_key, matches_lesson
from remem.guard.signals import BASE_TRUST, FLAGS, find_instructions, scan, trust_for

__all__ = [
    "BASE_TRUST",
    "CONTRADICTS",
    "FLAGS",
    "Candidate",
    "Lesson",
    "check",
    "find_instructions",
    "lesson_key",
    "matches_lesson",
    "scan",
    "trust_for",
]
