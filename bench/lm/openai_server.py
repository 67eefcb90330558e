"""A small OpenAI-compatible chat-completions server on 127.0.0.1, backed by a local causal LM.

Why it exists: the `icl` method talks to any OpenAI-compatible endpoint. This server lets a user try
the method offline against a Hugging Face model folder (or the embedded SmolLM2), and lets the tests
exercise the real HTTP path. It answers `POST /v1/chat/completions` greedily, with the real
`logprobs`/`top_logprobs` of every generated token, and `GET /v1/models`; nothing else.

When an API key is required, every request is checked for it before anything else (routing
included), so a client without the key learns nothing, not even which paths exist. Fault injection
for the tests lives in the tests (tests/fault_server.py), not here.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
MAX_BODY_BYTES = 64 * 1024 * 1024  # far above any chat prompt; a bigger body is refused unread


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

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The token ids the model reads for this chat (its chat template, else role-prefixed lines)."""
        if self.tokenizer.chat_template:
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # BatchEncoding in newer transformers
                ids = ids["input_ids"]
            return list(ids)
        text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return self.tokenizer(text)["input_ids"]

    def complete(self, messages: list[dict[str, str]], max_tokens: int, top_logprobs: int) -> Completion:
        torch = self._torch
        prompt = self.prompt_ids(messages)
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


def completion_body(backend: ChatBackend, request: dict[str, Any], with_logprobs: bool = True,
                    content: str | None = None) -> dict[str, Any]:
    """Run the backend and shape its answer as an OpenAI chat.completion object."""
    top_n = int(request.get("top_logprobs") or 0)
    max_tokens = int(request.get("max_tokens") or request.get("max_completion_tokens") or 16)
    done = backend.complete(request["messages"], max_tokens, top_n)
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
        "model": request.get("model") or backend.model_name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": done.text if content is None else content},
                     "logprobs": logprobs, "finish_reason": "length"}],
        "usage": {"prompt_tokens": done.prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": done.prompt_tokens + completion_tokens},
    }


class ChatHandler(BaseHTTPRequestHandler):
    """One HTTP exchange: the key check, then the two routes. `chat` is the ChatServer, set on the
    per-server subclass that ChatServer makes; tests subclass this to put faults in `answer_chat`."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: avoid the 40 ms delayed-ACK stall
    chat: ChatServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and benchmarks read stdout
        pass

    # -- responses ---------------------------------------------------------------------------------

    def send_json(self, status: int, body: bytes | dict, headers: dict[str, str] | None = None) -> None:
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

    def send_error_json(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None,
                        **fields: Any) -> None:
        """An OpenAI-shaped error object; `fields` go into it beside message, type and code."""
        self.send_json(status, {"error": {"message": message, "type": kind, "code": status, **fields}}, headers)

    # -- request ----------------------------------------------------------------------------------

    def read_body(self) -> bytes | None:
        """The request body; None (and the connection marked to close) when its length is unusable,
        since the unread rest would otherwise be taken for the next request on this connection."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def authorized(self) -> bool:
        """True when no key is required or the request carries it (compared in constant time)."""
        key = self.chat.api_key
        if not key:
            return True
        given = self.headers.get("Authorization") or ""
        return hmac.compare_digest(given.encode(), f"Bearer {key}".encode())

    def refuse_key(self) -> None:
        """401 with nothing else said. The body is read first (and dropped unparsed): closing a socket
        with unread input resets it, and the client would see a broken connection, not the 401."""
        if self.command == "POST":
            self.read_body()
        self.send_error_json(401, "Incorrect API key provided.", "invalid_api_key")

    def do_GET(self) -> None:
        if not self.authorized():
            return self.refuse_key()
        if self.path.rstrip("/") == MODELS_PATH:
            return self.send_json(200, {"object": "list", "data": [
                {"id": self.chat.backend.model_name, "object": "model", "owned_by": "local"}]})
        self.send_error_json(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:
        if not self.authorized():
            return self.refuse_key()
        raw = self.read_body()
        if raw is None:
            return self.send_error_json(413, f"request body over {MAX_BODY_BYTES} bytes or without a valid "
                                        "Content-Length", "invalid_request_error")
        if self.path.rstrip("/") != CHAT_PATH:
            return self.send_error_json(404, f"no route {self.path}", "not_found")
        self.answer_chat(raw)

    def parse_chat(self, raw: bytes) -> dict[str, Any] | None:
        """The request as JSON with its messages; None after answering 400 when it is not one."""
        try:
            request = json.loads(raw)
            if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
                raise ValueError("expected a JSON object with a messages list")
        except ValueError as exc:
            self.send_error_json(400, f"bad request: {exc}", "invalid_request_error")
            return None
        return request

    def answer_chat(self, raw: bytes) -> None:
        """Answer one chat-completions request (an authorised POST to the chat path)."""
        request = self.parse_chat(raw)
        if request is None:
            return
        try:
            body = completion_body(self.chat.backend, request)
        except (ValueError, KeyError, TypeError) as exc:
            return self.send_error_json(400, f"bad request: {exc}", "invalid_request_error")
        except Exception as exc:  # a model failure: say so, rather than drop the connection unanswered
            return self.send_error_json(500, f"the model failed: {type(exc).__name__}: {exc}", "server_error")
        self.send_json(200, body)


class ChatServer:
    """The server object: owns the backend and the HTTP listener; `start()` serves in a daemon
    thread, `serve_forever()` in the calling one. `handler_class` is what answers each request."""

    handler_class: type[ChatHandler] = ChatHandler

    def __init__(self, backend: ChatBackend, port: int = 0, api_key: str | None = None,
                 host: str = "127.0.0.1") -> None:
        self.backend = backend
        self.api_key = api_key
        handler = type(self.handler_class.__name__, (self.handler_class,), {"chat": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ChatServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(model: str, port: int, api_key: str | None = None, threads: int | None = None) -> None:
    """Load `model` (a folder, hub id or embedded model name) and serve until Ctrl-C."""
    from bench.lm.models import resolve

    backend = HFChatBackend(resolve(model), model_name=model, threads=threads)
    server = ChatServer(backend, port=port, api_key=api_key)
    print(f"serving {model} at {server.base_url} (chat completions with logprobs); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
