"""Data: the movie recipe rebuilds the authors' files byte for byte; book text parses robustly;
the like-ratio figures from docs/data.md and docs/design.md come out to 4 decimals."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.data import cards, movielens, recbole_atomic, tallrec_json
from bench.data import domains as data
from bench.data.prompts import input_text
from bench.metrics import auc
from methods.baselines import LikeRatio

MOVIE_SHA256 = data.load_card("movie")["exports"]


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_exported_movie_split_matches_authors_bytes(split, data_dir, tmp_path):
    out = tmp_path / f"{split}.json"
    assert main(["data", "export", "movie", "--split", split, "--format", "tallrec-json",
                 "--out", str(out), "--data-dir", str(data_dir)]) == 0
    assert hashlib.sha256(out.read_bytes()).hexdigest() == MOVIE_SHA256[split]


def test_released_movie_files_equal_export(data_dir, tmp_path):
    for split in ("valid", "test"):
        released = data_dir / "tallrec" / "movie" / f"{split}.json"
        assert hashlib.sha256(released.read_bytes()).hexdigest() == MOVIE_SHA256[split]


def test_embedded_recbole_copy_has_same_ratings_and_four_title_differences(data_dir):
    card = cards.get("movie")
    embedded = data._embedded_folder(card)
    source = card.embedded["source"]
    raw_ratings = movielens.read_raw_ratings(data_dir / "ml-100k" / "u.data")
    atomic_ratings = recbole_atomic.read_ratings(embedded / "ml-100k.inter", source, card.path)
    assert raw_ratings == atomic_ratings
    raw_titles = movielens.read_raw_titles(data_dir / "ml-100k" / "u.item")
    atomic_titles = {k: v.title for k, v in recbole_atomic.read_items(embedded / "ml-100k.item", source,
                                                                       card.path).items()}
    differing = sorted((k for k in raw_titles if raw_titles[k] != atomic_titles[k]), key=int)
    assert len(differing) == 4 and "267" in differing


def test_embedded_default_is_used_without_a_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("BENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "empty-cache"))
    data._load.cache_clear()
    movie = data.load_domain("movie")
    assert movie.source == "embedded-recbole"
    assert (len(movie.train), len(movie.valid), len(movie.test)) == (8000, 1000, 1000)


@pytest.mark.parametrize("domain, split", [("book", "valid"), ("book", "test"), ("movie", "test")])
def test_released_json_round_trips_through_parser(domain, split, data_dir):
    path = data_dir / "tallrec" / domain / f"{split}.json"
    records = json.loads(path.read_text())
    samples = tallrec_json.read_file(domain, path, f"{domain}-{split}")
    assert [input_text(s) for s in samples] == [r["input"] for r in records]
    assert sum(s.label for s in samples) == sum(r["output"] == "Yes." for r in records)


def test_book_titles_with_commas_and_quotes_parse_into_items():
    record = {
        "instruction": "", "output": "No.",
        "input": 'User Preference: "East, West" written by Salman Rushdie, "\\The Man (Penguin 60s S.)"" '
                 'written by Sir Arthur Conan Doyle\nUser Unpreference: \n'
                 'Whether the user will like the target book ""Sula, a novel" written by Toni Morrison"?',
    }
    sample = tallrec_json.parse_record("book", record, uid="x")
    assert [h.item.title for h in sample.history] == ["East, West", '\\The Man (Penguin 60s S.)"']
    assert [h.item.author for h in sample.history] == ["Salman Rushdie", "Sir Arthur Conan Doyle"]
    assert sample.target.title == "Sula, a novel" and sample.target.author == "Toni Morrison"
    assert input_text(sample) == record["input"]


@pytest.mark.parametrize("domain, expected", [("movie", 0.7260), ("book", 0.6962)])
def test_like_ratio_auc_on_test(domain, expected, data_dir):
    test = data.load_domain(domain, data_dir).test
    value = auc([s.label for s in test], LikeRatio().score(test))
    assert round(value, 4) == expected


def test_book_pool_and_valid_are_carved_from_released_valid(data_dir):
    book = data.load_domain("book", data_dir)
    released = tallrec_json.read_file("book", data_dir / "tallrec/book/valid.json", "book-valid")
    assert book.train + book.valid == released
    assert (len(book.train), len(book.valid), len(book.test)) == (1927, 500, 2427)


def test_corrupt_file_error_names_file_checksum_and_fix(data_dir, tmp_path):
    copy = tmp_path / "data"
    (copy / "ml-100k").mkdir(parents=True)
    for name in ("u.data", "u.item"):
        shutil.copyfile(data_dir / "ml-100k" / name, copy / "ml-100k" / name)
    with open(copy / "ml-100k" / "u.data", "a") as f:
        f.write("1\t1\t5\t0\n")
    with pytest.raises(data.BenchError) as err:
        data.load_domain("movie", copy.resolve())
    message = str(err.value)
    assert "u.data" in message and "06416e597f82b734" in message and "bench data pull movie" in message


def test_missing_file_error(tmp_path):
    (tmp_path / "ml-100k").mkdir()
    with pytest.raises(data.BenchError, match=r"missing data file .*u\.data"):
        data.load_domain("movie", tmp_path.resolve())


def test_a_data_folder_of_ones_own_data_leaves_the_builtin_movie_to_the_embedded_copy(tmp_path, monkeypatch):
    """--data-dir MYDATA holding only a user's dataset: `movie` still loads, from the copy in the recbole
    wheel (the user cache is empty here), and its record says where it came from."""
    (tmp_path / "mydata").mkdir()
    (tmp_path / "mydata" / "ratings.inter").write_text("user_id:token\titem_id:token\n")
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "empty-cache"))
    domain = data.load_domain("movie", (tmp_path / "mydata").resolve())
    assert domain.source == "embedded-recbole" and len(domain.test) == 1000


def test_transformers_and_peft_import_from_repository_root():
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", "import transformers, peft"], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
