"""`bench data pull` downloads with sha256 checks into the user cache, tested against a real HTTP
server on 127.0.0.1 that serves copies of the real files (the canonical URLs are swapped for it)."""

from __future__ import annotations

import copy
import dataclasses
import functools
import http.server
import shutil
import socket
import threading
import zipfile
from pathlib import Path

import pytest

from bench.data import cards
from bench.data import domains as data
from bench.errors import BenchError


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def local_cards(monkeypatch, base_url: str) -> None:
    """The built-in cards with their canonical URLs swapped for the local server's."""
    real = cards.get

    def card(domain: str) -> cards.Card:
        found = real(domain)
        raw, files = copy.deepcopy(found.raw), copy.deepcopy(found.files)
        if "archive_url" in raw:
            raw["archive_url"] = f"{base_url}/ml-100k.zip"
        for name, meta in files.items():
            if "url" in meta:
                meta["url"] = f"{base_url}/{Path(name).name}"
        return dataclasses.replace(found, raw=raw, files=files)

    monkeypatch.setattr(cards, "get", card)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    data._load.cache_clear()
    yield tmp_path / "cache"
    data._load.cache_clear()


def test_pull_fills_the_cache_and_the_cache_is_used(server, cache, data_dir, monkeypatch):
    root, url = server
    with zipfile.ZipFile(root / "ml-100k.zip", "w") as archive:
        for name in ("u.data", "u.item"):
            archive.write(data_dir / "ml-100k" / name, f"ml-100k/{name}")
    for name in ("valid.json", "test.json"):
        shutil.copyfile(data_dir / "tallrec" / "book" / name, root / name)
    local_cards(monkeypatch, url)

    assert data.pull("movie") == cache / "data"
    assert data.pull("book") == cache / "data"
    movie, book = data.load_domain("movie"), data.load_domain("book")
    assert movie.source == "cache" and book.source == "cache"
    assert len(book.test) == 2427 and len(movie.test) == 1000


def test_a_download_with_the_wrong_checksum_is_refused(server, cache, data_dir, monkeypatch):
    root, url = server
    shutil.copyfile(data_dir / "tallrec" / "book" / "valid.json", root / "valid.json")
    (root / "test.json").write_text("[]")
    local_cards(monkeypatch, url)
    with pytest.raises(BenchError, match="failed its checksum"):
        data.pull("book")


def test_an_unreachable_server_gives_a_clear_error(cache, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    local_cards(monkeypatch, f"http://127.0.0.1:{port}")
    with pytest.raises(BenchError, match="cannot download the book data"):
        data.pull("book")
