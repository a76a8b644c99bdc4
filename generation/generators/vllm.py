"""Generator over an OpenAI-compatible chat server (`vllm serve <Qwen3-VL> ...`), streamed.

POST {vllm_base_url}/chat/completions with `stream: true`; the SSE stream is decoded by
generation.generators.sse. Time limits come from the settings: `connect_timeout_s` to open
the connection, `read_timeout_s` for the longest silence, `timeout_s` for the whole call
(retries included). Connection failures, timeouts and 5xx/429 answers are retried
`max_retries` times, but only before the first token: once text has been streamed to the
caller a retry would repeat it. Every failure ends in a GenerationError (the unreachable
kind is also a BackendUnavailable); nothing waits forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from generation.config import GenerationSettings
from generation.errors import BadGeneratorResponse, GenerationError, GeneratorUnavailable
from generation.generators.sse import DONE, SSEDecoder, parse_chunk
from generation.prompts import NO_ANSWER, build_messages
from retrieval.types import Hit

logger = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class VLLMGenerator:
    """Streams answers from an OpenAI-compatible `/v1/chat/completions` endpoint."""

    name = "vllm"
    reads_frames = True  # sees clip frames: answers LOCATE questions itself

    def __init__(
        self,
        settings: GenerationSettings,
        *,
        retry_backoff_s: float = 0.5,
    ) -> None:
        self.settings = settings
        self.url = settings.vllm_base_url.rstrip("/") + "/chat/completions"
        self.retry_backoff_s = retry_backoff_s
        headers = {"Accept": "text/event-stream"}
        if settings.vllm_api_key is not None:
            headers["Authorization"] = f"Bearer {settings.vllm_api_key.get_secret_value()}"
        self._client = httpx.Client(headers=headers)

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._client.close()

    def ping(self) -> None:
        """Raise GeneratorUnavailable unless the server lists the configured model."""
        url = self.settings.vllm_base_url.rstrip("/") + "/models"
        try:
            response = self._client.get(url, timeout=self.settings.connect_timeout_s)
        except httpx.HTTPError as err:
            raise GeneratorUnavailable(f"vLLM at {url} is not reachable: {err}") from err
        if response.status_code != 200:
            raise GeneratorUnavailable(f"vLLM at {url} answered HTTP {response.status_code}")
        try:
            served = {m.get("id") for m in response.json().get("data", [])}
        except (ValueError, AttributeError) as err:
            raise GeneratorUnavailable(f"vLLM at {url} sent a malformed model list") from err
        if self.settings.vllm_model not in served:
            raise GeneratorUnavailable(
                f"vLLM at {url} does not serve {self.settings.vllm_model!r} (it serves {sorted(map(str, served))})"
            )

    def request_body(self, question: str, hits: Sequence[Hit]) -> dict[str, Any]:
        """The JSON body of the chat completion request."""
        return {
            "model": self.settings.vllm_model,
            "messages": build_messages(question, hits, self.settings),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": self.settings.max_new_tokens,
            "temperature": self.settings.temperature,
        }

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        """Answer text as the server produces it. With no hits there is nothing to answer
        from, and the server is not called."""
        if not hits:
            yield NO_ANSWER
            return
        body = self.request_body(question, hits)
        deadline = time.monotonic() + self.settings.timeout_s
        attempt = 0
        while True:
            started_text = False
            try:
                for piece in self._attempt(body, deadline):
                    started_text = True
                    yield piece
                return
            except GeneratorUnavailable as err:
                remaining = deadline - time.monotonic()
                if started_text or attempt >= self.settings.max_retries or remaining <= 0:
                    raise
                wait = min(self.retry_backoff_s * 2**attempt, remaining)
                attempt += 1
                logger.warning(
                    "%s (retry %d/%d in %.1f s)", err, attempt, self.settings.max_retries, wait
                )
                time.sleep(wait)

    def _timeout(self, deadline: float) -> httpx.Timeout:
        remaining = max(0.001, deadline - time.monotonic())
        return httpx.Timeout(
            connect=min(self.settings.connect_timeout_s, remaining),
            read=min(self.settings.read_timeout_s, remaining),
            write=min(self.settings.read_timeout_s, remaining),
            pool=min(self.settings.connect_timeout_s, remaining),
        )

    def _attempt(self, body: dict[str, Any], deadline: float) -> Iterator[str]:
        """One request: text pieces until `[DONE]`; every failure as a GenerationError."""
        where = f"vLLM at {self.url}"
        try:
            with self._client.stream(
                "POST", self.url, json=body, timeout=self._timeout(deadline)
            ) as response:
                if response.status_code != 200:
                    raise _status_error(where, response)
                yield from self._read_events(response, deadline, where)
        except GenerationError:
            raise
        except httpx.HTTPError as err:
            raise GeneratorUnavailable(f"{where}: {self._transport_reason(err)}") from err

    def _transport_reason(self, err: httpx.HTTPError) -> str:
        """Why a request failed in transport, in words: the first row `err` is an instance
        of (the most specific kinds first), else its repr."""
        s = self.settings
        reasons: list[tuple[type[Exception] | tuple[type[Exception], ...], str]] = [
            (httpx.ConnectTimeout, f"no connection within {s.connect_timeout_s:g} s"),
            (httpx.ConnectError, f"cannot connect ({err})"),
            (httpx.ReadTimeout, f"no data for {s.read_timeout_s:g} s (read timeout)"),
            (httpx.TimeoutException, f"timed out ({err!r})"),
            ((httpx.RemoteProtocolError, httpx.ReadError), f"the stream broke off ({err})"),
        ]
        return next((why for kind, why in reasons if isinstance(err, kind)), repr(err))

    def _read_events(self, response: httpx.Response, deadline: float, where: str) -> Iterator[str]:
        decoder = SSEDecoder()
        n_chunks = 0
        for raw in response.iter_bytes():
            if time.monotonic() > deadline:
                raise GeneratorUnavailable(
                    f"{where}: answer not finished within {self.settings.timeout_s:g} s"
                )
            for event in decoder.feed(raw):
                data = event.data
                if data.strip() == DONE:
                    logger.debug("%s: %d chunks, done", where, n_chunks)
                    return
                try:
                    chunk = parse_chunk(data)
                except BadGeneratorResponse as err:
                    raise BadGeneratorResponse(f"{where}: {err}") from err
                n_chunks += 1
                if chunk.finish_reason == "length":
                    logger.warning("%s: answer cut at max_new_tokens", where)
                if chunk.usage is not None:
                    logger.debug("%s: usage %s", where, chunk.usage)
                if chunk.content:
                    yield chunk.content
        leftover = decoder.close()
        detail = f" (last event {leftover[-1].data[:100]!r})" if leftover else ""
        raise GeneratorUnavailable(f"{where}: the stream ended without [DONE]{detail}")


def _status_error(where: str, response: httpx.Response) -> GenerationError:
    """The error for a non-200 answer, with the server's message."""
    response.read()
    message = response.text[:300].strip()
    try:
        payload = response.json()
        error = payload.get("error", payload) if isinstance(payload, dict) else payload
        if isinstance(error, dict) and error.get("message"):
            message = str(error["message"])
    except ValueError:
        pass
    text = f"{where}: HTTP {response.status_code}: {message or response.reason_phrase}"
    if response.status_code in _RETRYABLE_STATUS:
        return GeneratorUnavailable(text)
    return BadGeneratorResponse(text)
