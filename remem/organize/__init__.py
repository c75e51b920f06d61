"""Memory organization: notes (keywords, entities, dates), time expressions, consolidation.

Everything here is pure and heuristic (no model, no LLM): ``notes.extract`` runs on every add,
``timeexpr`` resolves dates and query time windows, ``consolidate`` decides duplicate/supersede.
"""

from __future__ import annotations
