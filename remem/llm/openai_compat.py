"""``OpenAICompatClient``: any OpenAI-compatible ``/chat/completions`` endpoint over sync httpx.

Works with vLLM, Ollama (``/v1``), the llama.cpp server, LM Studio and hosted APIs. Transient
failures (HTTP 429, 5xx, timeouts, refused connections) are retried with bounded exponential
backoff and jitter, honouring ``Retry-After``; everything else is mapped to ``LLMError`` here, once.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from remem.errors import ConfigError, LLMError
from remem.llm.base import Completion, LLMSettings, Message, Usage, UsageMeter

logger = logging.getLogger("remem.llm")

_RETRY_STATUS = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))


class OpenAICompatClient:
    """A chat-completions client; makes no network call until ``complete`` is called.

    Args:
        settings: endpoint, model and retry policy; must be ``configured``.
        transport: an httpx transport to use instead of the network (for embedding in-process).
        sleep: how to wait between retries (``time.sleep``).
        rng: the jitter source; seed it for repeatable delays.

    Raises:
        ConfigError: the settings name no endpoint or no model.
    """

    def __init__(
        self,
        settings: LLMSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not settings.configured:
            raise ConfigError("the LLM needs REMEM_LLM_BASE_URL and REMEM_LLM_MODEL")
        assert settings.base_url is not None
        self.settings = settings
        self.usage = UsageMeter()
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        self._http = httpx.Client(
            headers=headers, timeout=httpx.Timeout(settings.timeout), transport=transport
        )
        self._sleep = sleep
        self._rng = rng or random.Random()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> OpenAICompatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_mode: bool = False,
    ) -> Completion:
        """Run one chat completion, retrying transient failures.

        Args:
            messages: ``{"role": ..., "content": ...}`` dicts.
            max_tokens: completion budget (the settings' ``max_tokens`` if None).
            temperature: sampling temperature (the settings' if None).
            json_mode: ask the server for a JSON object (if the settings allow ``json_mode``).

        Returns:
            The first choice's text, finish reason and token usage.

        Raises:
            LLMError: a non-retryable HTTP error, a malformed response, or retries exhausted.
        """
        s = self.settings
        body: dict[str, Any] = {
            "model": s.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": s.max_tokens if max_tokens is None else max_tokens,
            "temperature": s.temperature if temperature is None else temperature,
        }
        if json_mode and s.json_mode:
            body["response_format"] = {"type": "json_object"}
        response = self._post_with_retries(body)
        completion = _parse(response)
        self.usage.add(completion.usage)
        return completion

    def _post_with_retries(self, body: dict[str, Any]) -> httpx.Response:
        s = self.settings
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = self._http.post(self._url, json=body)
            except httpx.TimeoutException as exc:
                problem = f"timed out after {s.timeout}s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                problem = f"connection failed: {exc}"
            except httpx.HTTPError as exc:  # undecodable body, redirect loop: retrying won't help
                raise LLMError(f"LLM request failed: {type(exc).__name__}: {exc}") from exc
            else:
                if response.status_code < 400:
                    return response
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in _RETRY_STATUS:
                    raise LLMError(f"LLM request refused, {problem}", status=response.status_code)
                retry_after = _retry_after(response.headers.get("retry-after"))
                if retry_after is not None and retry_after > s.retry_after_max:
                    raise LLMError(
                        f"LLM asked to retry after {retry_after:.0f}s (> {s.retry_after_max}s), "
                        f"giving up; {problem}",
                        status=response.status_code,
                    )
            if attempt >= s.max_retries:
                raise LLMError(f"LLM failed after {attempt + 1} attempts; last: {problem}")
            delay = self._backoff(attempt)
            if retry_after is not None:
                delay = max(delay, retry_after)
            logger.info("LLM call failed (%s); retry %d in %.2fs", problem, attempt + 1, delay)
            self.usage.count_retry()
            self._sleep(delay)
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        # "Equal jitter": half the exponential delay is fixed, half random, so concurrent
        # clients spread out but no retry comes immediately.
        cap = min(self.settings.backoff_max, self.settings.backoff * 2.0**attempt)
        return cap / 2 + self._rng.uniform(0, cap / 2)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), if usable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _parse(response: httpx.Response) -> Completion:
    try:
        data = response.json()
        choice = data["choices"][0]
        text = choice.get("message", {}).get("content") or ""
        raw_usage = data.get("usage") or {}
        prompt = int(raw_usage.get("prompt_tokens") or 0)
        completion = int(raw_usage.get("completion_tokens") or 0)
        total = int(raw_usage.get("total_tokens") or prompt + completion)
        return Completion(
            text=str(text),
            finish_reason=choice.get("finish_reason"),
            usage=Usage(prompt, completion, total, calls=1),
            model=data.get("model"),
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise LLMError(f"malformed chat-completions response: {response.text[:200]!r}") from exc
