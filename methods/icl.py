"""In-context prompting of a chat model through an OpenAI-compatible API: the paper's GPT-3.5 row.

Each test sample becomes one chat request: k solved examples from the K shots (user: instruction and
sample text, assistant: "Yes."/"No."), then the sample itself. The score is P(Yes) / (P(Yes) + P(No))
read from the logprobs of the first answer token. Responses live in a persistent cache keyed by
endpoint, model and the full request, so a rerun or a resumed run sends nothing already answered.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import time
import tomllib
from pathlib import Path
from typing import Any

import bench
from bench.data.prompts import ANSWERS, input_text, instruction
from bench.data.samples import Sample
from bench.errors import BenchError
from bench.lm.caching import CachingChat
from bench.run.registry import FitContext, Method, register

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
PRICES_FILE = Path(bench.__file__).parent / "prices.toml"
_MALFORMED_BACKOFF_S = 0.5


def prices() -> dict[str, dict[str, float]]:
    """Model -> {"input", "output"} in US dollars per million tokens (bench/prices.toml)."""
    with open(PRICES_FILE, "rb") as f:
        return tomllib.load(f)["models"]


def price_for(model: str) -> dict[str, float] | None:
    """The model's price, or that of its longest listed prefix (dated snapshots); None if unknown."""
    table = prices()
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(name + "-")]
    return table[max(prefixes, key=len)] if prefixes else None


def messages_for(sample: Sample, examples: list[Sample]) -> list[dict[str, str]]:
    """The chat: each example as a user turn and its answer, then the sample to judge."""
    def ask(s: Sample) -> dict[str, str]:
        return {"role": "user", "content": f"{instruction(s.noun)}\n\n{input_text(s)}"}

    chat = []
    for example in examples:
        chat += [ask(example), {"role": "assistant", "content": ANSWERS[example.label]}]
    return [*chat, ask(sample)]


def _word(token: str) -> str:
    return re.sub(r"[\W_]+", "", token).casefold()


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


# What servers say when a prompt does not fit their context (a 4xx; matched case-insensitively):
# OpenAI and vLLM: code "context_length_exceeded", "This model's maximum context length is N tokens.
# However, your messages resulted in M tokens" (vLLM: "... M in the messages"); llama.cpp: type
# "exceed_context_size_error", "request (M tokens) exceeds the available context size (N tokens)",
# older builds "the request exceeds the available context size, try increasing it".
_CONTEXT_OVERFLOW = re.compile(r"context_length_exceeded|maximum context length|exceed_context_size"
                               r"|exceeds? the (?:available )?context", re.IGNORECASE)
_PROMPT_TOKENS = re.compile(r"request \((\d+) tokens\)|resulted in (\d+) tokens|(\d+) in the messages",
                            re.IGNORECASE)
_CONTEXT_TOKENS = re.compile(r"maximum context length is (\d+)|context size \((\d+) tokens\)", re.IGNORECASE)
_SAID_MAX_CHARS = 600  # the server's message as quoted in an error: whole, unless it is a page of text


def _first_number(pattern: re.Pattern, text: str) -> int | None:
    match = pattern.search(text)
    return int(next(g for g in match.groups() if g)) if match else None


def context_overflow(said: str, fields: dict[str, Any]) -> tuple[int | None, int | None] | None:
    """(prompt tokens, context tokens), each None when the server did not say it, if the error says
    the prompt does not fit the server's context; None for any other error."""
    if not _CONTEXT_OVERFLOW.search(" ".join([said, str(fields.get("code") or ""), str(fields.get("type") or "")])):
        return None

    def number(name: str, pattern: re.Pattern) -> int | None:
        value = fields.get(name)
        return int(value) if isinstance(value, int) and value > 0 else _first_number(pattern, said)

    return number("n_prompt_tokens", _PROMPT_TOKENS), number("n_ctx", _CONTEXT_TOKENS)


def _server_said(exc) -> tuple[str, dict[str, Any]]:
    """The server's own error message on one line (not the client's wrapper around it), and the
    error object's fields (code, type, llama.cpp's n_ctx...) when it sent a JSON one."""
    body = exc.body
    fields = body if isinstance(body, dict) else {}
    message = fields.get("message") if isinstance(fields.get("message"), str) else None
    if message is None:
        message = body if isinstance(body, str) and body else str(exc.message)
    said = " ".join(message.split())
    return (said if len(said) <= _SAID_MAX_CHARS else said[:_SAID_MAX_CHARS] + "..."), fields


def parsed_answer(text: str | None) -> float:
    """1.0 for an answer starting with yes, 0.0 for no, 0.5 for anything else."""
    words = (text or "").split()
    first = _word(words[0]) if words else ""
    return {"yes": 1.0, "no": 0.0}.get(first, 0.5)


def score_response(body: dict[str, Any]) -> tuple[float, bool]:
    """(score, came from logprobs). The answer token is the first generated position whose candidates
    include yes or no (matched without spaces or punctuation, any case); a side absent from the top
    candidates gets the smallest listed logprob, an upper bound on its own."""
    choice = body["choices"][0]
    positions = ((choice.get("logprobs") or {}).get("content")) or []
    for position in positions:
        candidates = {position["token"]: position["logprob"]}
        for top in position.get("top_logprobs") or []:
            candidates.setdefault(top["token"], top["logprob"])
        yes = [lp for tok, lp in candidates.items() if _word(tok) == "yes"]
        no = [lp for tok, lp in candidates.items() if _word(tok) == "no"]
        if not yes and not no:
            continue
        known = list(candidates.values())
        floor = min(known) if len(known) > 1 else math.log(max(1e-12, 1 - math.exp(known[0])))
        log_odds = (_logsumexp(yes) if yes else floor) - (_logsumexp(no) if no else floor)
        return 1 / (1 + math.exp(-max(-700.0, min(700.0, log_odds)))), True
    return parsed_answer(choice.get("message", {}).get("content")), False


@register("icl")
class InContextChat(Method):
    """In-context prompting of a chat model via an OpenAI-compatible API (the paper's GPT-3.5 row).

    Retries (429, 5xx, timeouts, honouring Retry-After) are the openai client's.

    Parameters
    ----------
    model : str
        The chat model at the endpoint ("": $OPENAI_MODEL, then gpt-4o-mini).
    base_url : str
        An OpenAI-compatible endpoint, e.g. a local server ("": $OPENAI_BASE_URL, then OpenAI's API).
    k : int
        Solved examples in each prompt, the first k of the K shots (fewer when K < k; 0: none).
    api_key_env : str
        The environment variable holding the API key, read at call time and never recorded.
    top_logprobs : int
        Candidate tokens per answer position whose logprobs are requested; Yes and No are read among them.
    max_tokens : int
        Most tokens generated per answer; the first position with a Yes or No candidate gives the score.
    concurrency : int
        Requests in flight at once (>= 1).
    max_retries : int
        Retries of a failed request by the openai client (>= 0); malformed answers are retried as often.
    timeout : float
        Seconds the client waits for one answer (> 0); a timeout is retried like an error.
    history : str
        `recent` (the 10 latest items) or `retrieved` (the 10 of the user's past most similar to the target,
        ReLLa's retrieval, for the examples and the asked sample alike; needs a domain built from a log).
    """

    family = "language-model"
    reads = frozenset({"sample", "shots", "pool", "api"})  # the pool only for the hint

    operational_parameters = frozenset({"api_key_env", "concurrency", "max_retries", "timeout"})
    always_labelled = ("model", "k")
    test_parameters = {"model": "tiny-random-llama", "k": "1", "top_logprobs": "400", "concurrency": "1"}
    needs_chat_server = True
    key_neutral_defaults = {"history": "recent"}  # added after the first icl cells were recorded

    def __init__(self, *, model: str = "", base_url: str = "", k: int = 4, api_key_env: str = "OPENAI_API_KEY",
                 top_logprobs: int = 20, max_tokens: int = 3, concurrency: int = 4, max_retries: int = 5,
                 timeout: float = 60.0, history: str = "recent") -> None:
        from bench.lm.prompt_options import check_history

        self.history = check_history("icl", history)
        self.model = model or os.environ.get("OPENAI_MODEL") or DEFAULT_MODEL
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip("/")
        self.k = k
        self.api_key_env = api_key_env
        self.top_logprobs = top_logprobs
        self.max_tokens = max_tokens
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        if k < 0 or concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise BenchError("icl needs k >= 0, concurrency >= 1, max_retries >= 0 and timeout > 0")
        self._examples: list[Sample] = []
        self._reset_counts()

    # -- harness interface -------------------------------------------------------------------------

    def _prompted(self, samples: list[Sample]) -> list[Sample]:
        from bench.lm.prompt_options import retrieved

        return retrieved(samples, "icl") if self.history == "retrieved" and samples else list(samples)

    def fit(self, train: list[Sample], valid: list[Sample], context: FitContext) -> None:
        self._examples = self._prompted(train[: self.k])

    def score(self, samples: list[Sample]) -> list[float]:
        self._reset_counts()
        samples = self._prompted(samples)
        requests = [self.request_for(s) for s in samples]
        chat = CachingChat(self.base_url, lambda: functools.partial(self._send, self._client()), self.concurrency)
        bodies, sent = chat.answers(requests)
        for body, was_sent in zip(bodies, sent, strict=True):
            self._count(body, sent=was_sent)
        scores = []
        for body in bodies:
            value, from_logprobs = score_response(body)
            self._hard_labels += not from_logprobs
            scores.append(value)
        return scores

    def extra_record(self) -> dict[str, Any]:
        price = price_for(self.model)

        def cost(usage: dict[str, int]) -> float | None:
            if price is None:
                return None
            return (usage["prompt_tokens"] * price["input"] + usage["completion_tokens"] * price["output"]) / 1e6

        n = self._requests
        source = ("logprobs" if self._hard_labels == 0 else
                  "hard-labels" if self._hard_labels == n else "mixed")
        return {
            "score_source": source,  # "hard-labels": the AUC comes from parsed Yes/No answers, not probabilities
            "hard_label_samples": self._hard_labels,
            "examples_in_prompt": len(self._examples),
            "requests": n, "requests_sent": self._sent, "cache_hits": n - self._sent,
            "usage": dict(self._usage), "usage_sent": dict(self._usage_sent),
            "responses_without_usage": self._no_usage,
            "price_usd_per_1m_tokens": price, "cost_usd": cost(self._usage),
            "cost_usd_sent": cost(self._usage_sent),
        }

    # -- requests --------------------------------------------------------------------------------

    def request_for(self, sample: Sample) -> dict[str, Any]:
        """The full chat-completions request (also the cache key, with the endpoint)."""
        return {"model": self.model, "messages": messages_for(sample, self._examples), "temperature": 0,
                "max_tokens": self.max_tokens, "logprobs": True, "top_logprobs": self.top_logprobs}

    def _api_key(self) -> str:
        key = os.environ.get(self.api_key_env)
        if key:
            return key
        if self.base_url == OPENAI_BASE_URL:
            raise BenchError(f"no API key: set ${self.api_key_env} (or point icl.base_url at another endpoint)")
        return "unused"  # local OpenAI-compatible servers usually need none, but the client wants one

    def _client(self):
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=self._api_key(), max_retries=self.max_retries,
                             timeout=self.timeout)

    def _redact(self, text: str) -> str:
        key = os.environ.get(self.api_key_env)
        return text.replace(key, "***") if key else text

    def _status_error(self, exc, request: dict[str, Any]) -> str:
        """The one-line error for an HTTP error answer (after the client's retries): what the server
        said, and whether a rerun can help. 429/5xx are transient, and the cache keeps every answer
        already got, so a rerun resumes; any other 4xx is the same on every rerun until it is fixed."""
        status = exc.status_code
        said, fields = _server_said(exc)
        said = self._redact(said)
        where = f"{self.base_url} (model {self.model})"
        if 400 <= status < 500 and (overflow := context_overflow(said, fields)) is not None:
            return self._context_error(where, status, said, request, *overflow)
        if status == 429 or status >= 500:
            return (f"{where} answered HTTP {status} ({said}) after {self.max_retries} retries; answers received "
                    "so far are cached, so a rerun resumes (raise icl.max_retries if it recurs)")
        hint = " (check icl.model / $OPENAI_MODEL and icl.base_url)" if status == 404 else ""
        return (f"{where} answered HTTP {status} ({said}){hint}; the request is refused as it stands, "
                "so a rerun fails the same way until that is fixed")

    def _context_error(self, where: str, status: int, said: str, request: dict[str, Any],
                       prompt_tokens: int | None, limit: int | None) -> str:
        """The prompt is longer than the server's context: say by how much, and the two fixes."""
        examples = len(self._examples)
        chars = sum(len(m["content"]) for m in request["messages"])
        prompt = (f"the prompt is {prompt_tokens} tokens ({examples} in-context examples, {chars} characters)"
                  if prompt_tokens else f"the prompt is {chars} characters ({examples} in-context examples)")
        context = f"the server's context is {limit} tokens" if limit else "the server did not say its context size"
        raise_context = "raise the server's context (llama.cpp: --ctx-size/-c, shared by its --parallel slots)"
        if not examples:
            fixes = f"No examples are left to drop: {raise_context}"
        else:
            fits = ""
            if prompt_tokens and limit:
                per_turn = prompt_tokens / (examples + 1)  # each example and the sample are a turn each
                estimate = int((limit - self.max_tokens) / per_turn) - 1
                if estimate < 0:
                    fits = "; likely not even icl.k=0 fits"
                elif estimate < examples:
                    fits = f"; about {estimate} fit, --param icl.k={estimate}"
            fixes = f"Lower icl.k (now {self.k}{fits}) or {raise_context}"
        return (f"{where} refused the prompt as longer than its context (HTTP {status}): {prompt}, {context}. "
                f"{fixes}; a rerun fails the same way until then. The server said: {said}")

    def _send(self, client, request: dict[str, Any]) -> dict[str, Any]:
        """One request through the client's retries (malformed answers retried here); `CachingChat`
        caches what it returns."""
        import openai

        where = f"{self.base_url} (model {self.model})"
        for attempt in range(self.max_retries + 1):
            try:
                raw = client.chat.completions.with_raw_response.create(**request)
            except openai.AuthenticationError:
                raise BenchError(f"{where} rejected the API key (HTTP 401); set ${self.api_key_env} to a valid "
                                 "key. Answers received so far are cached; rerun to resume") from None
            except openai.APITimeoutError:
                raise BenchError(f"{where} did not answer within {self.timeout:g} s, {self.max_retries} retries "
                                 "included; raise icl.timeout or icl.max_retries, then rerun to resume") from None
            except openai.APIConnectionError:
                raise BenchError(f"cannot reach {where} after {self.max_retries} retries; check icl.base_url / "
                                 "$OPENAI_BASE_URL and that the server runs, then rerun to resume") from None
            except openai.APIStatusError as exc:
                raise BenchError(self._status_error(exc, request)) from None
            try:
                body = json.loads(raw.http_response.text)
                body["choices"][0]["message"]
            except (ValueError, KeyError, IndexError, TypeError):
                if attempt < self.max_retries:
                    time.sleep(_MALFORMED_BACKOFF_S * 2 ** attempt)
                    continue
                raise BenchError(f"{where} returned a malformed response (not a chat completion) "
                                 f"{self.max_retries + 1} times; check the server, then rerun to resume") from None
            return body
        raise AssertionError("unreachable")

    # -- usage ------------------------------------------------------------------------------------

    def _reset_counts(self) -> None:
        self._requests = self._sent = self._hard_labels = self._no_usage = 0
        self._usage = {"prompt_tokens": 0, "completion_tokens": 0}
        self._usage_sent = {"prompt_tokens": 0, "completion_tokens": 0}

    def _count(self, body: dict[str, Any], sent: bool) -> None:
        usage = body.get("usage") or {}
        self._requests += 1
        self._no_usage += not usage
        for name in ("prompt_tokens", "completion_tokens"):
            self._usage[name] += int(usage.get(name) or 0)
            if sent:
                self._usage_sent[name] += int(usage.get(name) or 0)
        self._sent += sent
