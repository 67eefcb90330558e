"""Requests per second of the `icl` method through the cache-miss and the cache-hit paths.

The server answers from `CannedChatBackend` (no model), so the miss path measures what the client side
costs per request (prompt rendering, HTTP through the openai client, JSON, the sqlite write) and the
hit path what a rerun costs (rendering, key hashing, the sqlite read, scoring). A real endpoint adds
its own latency to the miss path; `--concurrency` shows how much of that overlaps.

    python benchmarks/bench_icl.py --n 400 --concurrency 1 4
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from bench.data.domains import load_domain
from bench.data.splits import few_shot
from bench.lm.openai_server import CannedChatBackend, ChatServer
from methods.icl import InContextChat


def measure(server: ChatServer, samples, shots, k: int, concurrency: int) -> tuple[float, float]:
    """(miss requests/s, hit requests/s) for one fresh cache."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ["BENCH_CACHE_DIR"] = cache
        method = InContextChat(base_url=server.base_url, model="canned", k=k, concurrency=concurrency)
        method.fit(shots, [], context=None)
        started = time.perf_counter()
        method.score(samples)
        miss = len(samples) / (time.perf_counter() - started)
        assert method.extra_record()["requests_sent"] == len(samples)
        started = time.perf_counter()
        method.score(samples)
        hit = len(samples) / (time.perf_counter() - started)
        assert method.extra_record()["cache_hits"] == len(samples)
    return miss, hit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="requests per measurement")
    parser.add_argument("--k", type=int, default=4, help="in-context examples per prompt")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    domain = load_domain("movie", None)
    samples = domain.test[: args.n]
    shots = few_shot(domain.train, 16, 0, "movie")
    server = ChatServer(CannedChatBackend()).start()
    try:
        for concurrency in args.concurrency:
            miss, hit = measure(server, samples, shots, args.k, concurrency)
            print(f"k={args.k} concurrency={concurrency} n={len(samples)}: cache miss {miss:.0f} requests/s, "
                  f"cache hit {hit:.0f} requests/s")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
