"""The shipped chat server (bench.lm.openai_server) plus what only tests need: queued faults, request
counters and a context limit. It lives here so that the shipped server has no control endpoints;
tests drive it in-process, through methods, and the client still goes through real HTTP.

Faults queued with `inject(...)` are consumed one per chat request, in order. Kinds: `ok` (answer
normally), `429` (with `Retry-After`), `500`, `401`, `400` (a plain bad request), `slow` (sleep
`seconds`, then answer), `no_logprobs` (answer without logprobs, optionally with a fixed `content`),
`malformed` (HTTP 200 whose body is not JSON). Each fault may carry `count` (repeat it that many times).

`context_limit` (tokens) makes every chat whose prompt plus max_tokens exceeds it an HTTP 400, worded
as a real server words it (`context_style`): "openai" (OpenAI, vLLM), "llamacpp" (llama.cpp with the
token counts) or "llamacpp-old" (older llama.cpp builds, no numbers).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from bench.lm.openai_server import CHAT_PATH, ChatBackend, ChatHandler, ChatServer, completion_body

FAULT_KINDS = ("ok", "429", "500", "401", "400", "slow", "no_logprobs", "malformed")
CONTEXT_STYLES = ("openai", "llamacpp", "llamacpp-old")


def context_error(style: str, prompt_tokens: int, limit: int) -> dict[str, Any]:
    """The error object (message, type, code and extra fields) a server of `style` answers with."""
    if style == "openai":
        return {"message": f"This model's maximum context length is {limit} tokens. However, your messages "
                           f"resulted in {prompt_tokens} tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}
    if style == "llamacpp":
        return {"message": f"request ({prompt_tokens} tokens) exceeds the available context size ({limit} "
                           "tokens), try increasing it",
                "type": "exceed_context_size_error", "code": 400, "n_prompt_tokens": prompt_tokens, "n_ctx": limit}
    if style == "llamacpp-old":
        return {"message": "the request exceeds the available context size, try increasing it",
                "type": "invalid_request_error", "code": 400}
    raise ValueError(f"unknown context style {style!r}; one of {CONTEXT_STYLES}")


@dataclass
class ServerStats:
    """What the server saw: every chat request, and successful answers per request body."""

    chat_requests: int = 0
    outcomes: Counter = field(default_factory=Counter)
    answered: Counter = field(default_factory=Counter)  # body sha256 -> successful answers
    request_times: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, outcome)

    def as_dict(self) -> dict[str, Any]:
        return {"chat_requests": self.chat_requests, "outcomes": dict(self.outcomes),
                "answered_bodies": len(self.answered),
                "max_answers_per_body": max(self.answered.values(), default=0)}


class FaultHandler(ChatHandler):
    """The shipped handler, with faults, counters and the context limit in front of the answer."""

    chat: FaultyChatServer

    def refuse_key(self) -> None:
        if self.path.rstrip("/") == CHAT_PATH:
            self.chat.next_fault(consume=False)
            self.chat.record("401")
        super().refuse_key()

    def answer_chat(self, raw: bytes) -> None:
        server = self.chat
        fault = server.next_fault()
        kind = fault["kind"]
        if kind == "401":
            server.record("401")
            return self.send_error_json(401, "Incorrect API key provided.", "invalid_api_key")
        if kind == "429":
            server.record("429")
            return self.send_error_json(429, "Rate limit reached.", "rate_limit_exceeded",
                                        {"Retry-After": str(fault.get("retry_after", 1))})
        if kind == "500":
            server.record("500")
            return self.send_error_json(500, "Injected server error.", "server_error")
        if kind == "400":
            server.record("400")
            return self.send_error_json(400, "Invalid value for 'top_logprobs': injected.", "invalid_request_error")
        if kind == "malformed":
            server.record("malformed")
            return self.send_json(200, b'{"id": "chatcmpl-broken", "choices": [')
        if kind == "slow":
            time.sleep(float(fault.get("seconds", 5)))
        request = self.parse_chat(raw)
        if request is None:
            return server.record("400")
        if server.context_limit is not None:
            prompt = len(server.backend.prompt_ids(request["messages"]))
            if prompt + int(request.get("max_tokens") or 16) > server.context_limit:
                server.record("context")
                return self.send_json(400, {"error": context_error(server.context_style, prompt,
                                                                   server.context_limit)})
        try:
            body = completion_body(server.backend, request, with_logprobs=kind != "no_logprobs",
                                   content=fault.get("content"))
        except (ValueError, KeyError, TypeError) as exc:
            server.record("400")
            return self.send_error_json(400, f"bad request: {exc}", "invalid_request_error")
        server.record(kind, hashlib.sha256(raw).hexdigest())
        self.send_json(200, body)


class FaultyChatServer(ChatServer):
    """A ChatServer whose chat answers can be made to fail on demand (see the module docstring)."""

    handler_class = FaultHandler

    def __init__(self, backend: ChatBackend, port: int = 0, api_key: str | None = None,
                 context_limit: int | None = None, context_style: str = "openai") -> None:
        if context_style not in CONTEXT_STYLES:
            raise ValueError(f"unknown context style {context_style!r}; one of {CONTEXT_STYLES}")
        self.stats = ServerStats()
        self.context_limit = context_limit
        self.context_style = context_style
        self._faults: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        super().__init__(backend, port=port, api_key=api_key)

    def inject(self, *faults: dict[str, Any]) -> None:
        """Queue faults, each consumed by one chat request (`count` repeats it)."""
        with self._lock:
            for fault in faults:
                if fault.get("kind") not in FAULT_KINDS:
                    raise ValueError(f"unknown fault kind {fault.get('kind')!r}; one of {FAULT_KINDS}")
                for _ in range(int(fault.get("count", 1))):
                    self._faults.append(fault)

    def clear(self) -> None:
        """Drop queued faults, lift the context limit and reset the counters."""
        with self._lock:
            self._faults.clear()
            self.context_limit = None
            self.stats = ServerStats()

    def next_fault(self, consume: bool = True) -> dict[str, Any]:
        """Count one chat request; the next queued fault (`ok` when none, or when not consuming)."""
        with self._lock:
            self.stats.chat_requests += 1
            return self._faults.popleft() if consume and self._faults else {"kind": "ok"}

    def record(self, outcome: str, body_hash: str | None = None) -> None:
        with self._lock:
            self.stats.outcomes[outcome] += 1
            self.stats.request_times.append((time.monotonic(), outcome))
            if body_hash is not None:
                self.stats.answered[body_hash] += 1
