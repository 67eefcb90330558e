"""A small OpenAI-compatible chat-completions server on 127.0.0.1, backed by a local causal LM.

Why it exists: the `icl` method talks to any OpenAI-compatible endpoint. This server lets a user try
the method offline against a Hugging Face model folder (or the embedded SmolLM2), and lets the tests
exercise the real HTTP path, failures included. It answers `POST /v1/chat/completions` greedily,
with the real `logprobs`/`top_logprobs` of every generated token, and `GET /v1/models`.

Fault injection (for tests and for trying the client's robustness by hand): faults queued with
`ChatServer.inject(...)` or `POST /_control/faults` (a JSON list) are consumed one per chat request,
in order. Kinds: `ok` (answer normally), `429` (with `Retry-After`), `500`, `401`, `slow` (sleep
`seconds`, then answer), `no_logprobs` (answer without logprobs, optionally with a fixed `content`),
`malformed` (HTTP 200 whose body is not JSON). Each fault may carry `count` (repeat it that many
times). `GET /_control/stats` returns request counters; the server counts every chat request and,
per request body, how many were answered successfully.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

FAULT_KINDS = ("ok", "429", "500", "401", "slow", "no_logprobs", "malformed")


@dataclass
class TokenLogprob:
    token: str
    logprob: float
    top: list[tuple[str, float]]


@dataclass
class Completion:
    text: str
    tokens: list[TokenLogprob]
    prompt_tokens: int


class ChatBackend(Protocol):
    model_name: str

    def complete(self, messages: list[dict[str, str]], max_tokens: int, top_logprobs: int) -> Completion: ...


class HFChatBackend:
    """Greedy decoding with a transformers causal LM, one request at a time (the CPU is the limit)."""

    def __init__(self, model_path: str, model_name: str | None = None, threads: int | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
        self.model_name = model_name or model_path
        self._lock = threading.Lock()

    def _prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        if self.tokenizer.chat_template:
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # BatchEncoding in newer transformers
                ids = ids["input_ids"]
            return list(ids)
        text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return self.tokenizer(text)["input_ids"]

    def complete(self, messages: list[dict[str, str]], max_tokens: int, top_logprobs: int) -> Completion:
        torch = self._torch
        prompt = self._prompt_ids(messages)
        eos = self.tokenizer.eos_token_id
        tokens: list[TokenLogprob] = []
        generated: list[int] = []
        with self._lock, torch.inference_mode():
            out = self.model.generate(
                torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                max_new_tokens=max(1, max_tokens), do_sample=False, output_logits=True,
                return_dict_in_generate=True, eos_token_id=eos, pad_token_id=eos if eos is not None else 0,
            )
        for chosen, logits in zip(out.sequences[0, len(prompt):].tolist(), out.logits, strict=True):
            logprobs = torch.log_softmax(logits[0].float(), dim=-1)
            top = torch.topk(logprobs, k=max(1, min(top_logprobs or 1, logprobs.numel())))
            tokens.append(TokenLogprob(
                token=self.tokenizer.decode([chosen]), logprob=float(logprobs[chosen]),
                top=[(self.tokenizer.decode([int(i)]), float(v))
                     for v, i in zip(top.values, top.indices, strict=True)],
            ))
            generated.append(chosen)
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        return Completion(text=text, tokens=tokens, prompt_tokens=len(prompt))


class CannedChatBackend:
    """Answers "Yes." with fixed logprobs at no compute cost: for measuring the client path alone."""

    model_name = "canned"

    def complete(self, messages: list[dict[str, str]], max_tokens: int, top_logprobs: int) -> Completion:
        top = [("Yes", math.log(0.6)), ("No", math.log(0.3)), (".", math.log(0.1))][: max(1, top_logprobs)]
        words = sum(len(m["content"].split()) for m in messages)
        return Completion("Yes", [TokenLogprob("Yes", top[0][1], top)], prompt_tokens=words)


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


class ChatServer:
    """The server object: owns the backend, the fault queue and the counters; `start()` serves in a
    daemon thread, `serve_forever()` in the calling one."""

    def __init__(self, backend: ChatBackend, port: int = 0, api_key: str | None = None,
                 host: str = "127.0.0.1") -> None:
        self.backend = backend
        self.api_key = api_key
        self.stats = ServerStats()
        self._faults: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def inject(self, *faults: dict[str, Any]) -> None:
        """Queue faults, each consumed by one chat request (`count` repeats it)."""
        with self._lock:
            for fault in faults:
                if fault.get("kind") not in FAULT_KINDS:
                    raise ValueError(f"unknown fault kind {fault.get('kind')!r}; one of {FAULT_KINDS}")
                for _ in range(int(fault.get("count", 1))):
                    self._faults.append(fault)

    def clear(self) -> None:
        """Drop queued faults and reset the counters."""
        with self._lock:
            self._faults.clear()
            self.stats = ServerStats()

    def next_fault(self) -> dict[str, Any]:
        with self._lock:
            self.stats.chat_requests += 1
            return self._faults.popleft() if self._faults else {"kind": "ok"}

    def record(self, outcome: str, body_hash: str | None = None) -> None:
        with self._lock:
            self.stats.outcomes[outcome] += 1
            self.stats.request_times.append((time.monotonic(), outcome))
            if body_hash is not None:
                self.stats.answered[body_hash] += 1

    def start(self) -> "ChatServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def completion_body(server: ChatServer, request: dict[str, Any], with_logprobs: bool,
                    content: str | None = None) -> dict[str, Any]:
    """Run the backend and shape its answer as an OpenAI chat.completion object."""
    top_n = int(request.get("top_logprobs") or 0)
    max_tokens = int(request.get("max_tokens") or request.get("max_completion_tokens") or 16)
    done = server.backend.complete(request["messages"], max_tokens, top_n)
    logprobs = None
    if with_logprobs and request.get("logprobs"):
        logprobs = {"content": [
            {"token": t.token, "logprob": t.logprob, "bytes": list(t.token.encode()),
             "top_logprobs": [{"token": s, "logprob": v, "bytes": list(s.encode())} for s, v in t.top[:top_n]]}
            for t in done.tokens
        ]}
    completion_tokens = len(done.tokens)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
        "model": request.get("model") or server.backend.model_name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": done.text if content is None else content},
                     "logprobs": logprobs, "finish_reason": "length"}],
        "usage": {"prompt_tokens": done.prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": done.prompt_tokens + completion_tokens},
    }


def _make_handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes: avoid the 40 ms delayed-ACK stall

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and benchmarks read stdout
            pass

        def _send(self, status: int, body: bytes | dict, headers: dict[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): nothing to do
                pass

        def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
            self._send(status, {"error": {"message": message, "type": kind, "code": status}}, headers)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [
                    {"id": server.backend.model_name, "object": "model", "owned_by": "local"}]})
            elif self.path == "/_control/stats":
                self._send(200, server.stats.as_dict())
            else:
                self._error(404, f"no route {self.path}", "not_found")

        def do_POST(self) -> None:
            raw = self._body()
            if self.path == "/_control/faults":
                try:
                    server.inject(*json.loads(raw or b"[]"))
                except (ValueError, TypeError, AttributeError) as exc:
                    return self._error(400, str(exc), "invalid_request_error")
                return self._send(200, {"queued": True})
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._error(404, f"no route {self.path}", "not_found")
            fault = server.next_fault()
            kind = fault["kind"]
            if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                kind = "401"
            if kind == "401":
                server.record("401")
                return self._error(401, "Incorrect API key provided.", "invalid_api_key")
            if kind == "429":
                server.record("429")
                return self._error(429, "Rate limit reached.", "rate_limit_exceeded",
                                   {"Retry-After": str(fault.get("retry_after", 1))})
            if kind == "500":
                server.record("500")
                return self._error(500, "Injected server error.", "server_error")
            if kind == "malformed":
                server.record("malformed")
                return self._send(200, b'{"id": "chatcmpl-broken", "choices": [')
            if kind == "slow":
                time.sleep(float(fault.get("seconds", 5)))
            try:
                request = json.loads(raw)
                body = completion_body(server, request, with_logprobs=kind != "no_logprobs",
                                       content=fault.get("content"))
            except (ValueError, KeyError, TypeError) as exc:
                server.record("400")
                return self._error(400, f"bad request: {exc}", "invalid_request_error")
            server.record(kind, hashlib.sha256(raw).hexdigest())
            self._send(200, body)

    return Handler


def serve(model: str, port: int, api_key: str | None = None, threads: int | None = None) -> None:
    """Load `model` (a folder, hub id or embedded model name) and serve until Ctrl-C."""
    from bench.models import resolve

    backend = HFChatBackend(resolve(model), model_name=model, threads=threads)
    server = ChatServer(backend, port=port, api_key=api_key)
    print(f"serving {model} at {server.base_url} (chat completions with logprobs); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
