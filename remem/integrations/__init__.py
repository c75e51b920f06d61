"""Adapters that put remem under other agent frameworks, each an optional extra.

- ``remem.integrations.langgraph``: ``RememStore``, a LangGraph ``BaseStore`` (``remem[langgraph]``).
- ``remem.integrations.openai_agents``: ``RememSession``, an OpenAI Agents SDK ``Session``
  (``remem[openai-agents]``).

Nothing is imported here, so ``import remem.integrations`` never needs the frameworks; see
``docs/integrations.md``.
"""
