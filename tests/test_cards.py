"""Domains from cards: a RecBole atomic card rebuilds the built-in movie samples, a user's JSON card runs
end to end (records say its files were unchecked), `movie-temporal` keeps the pool before validation,
and bad cards or data get one-line errors that name the problem and the fix. All on the real files."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.data import cards, interactions, movielens, recbole_atomic
from bench.data import domains as data
from bench.errors import BenchError
from bench.run.store import ResultStore

ATOMIC_CARD = """
name = "ml100k-atomic"
noun = "movie"
[source]
format = "recbole-atomic"
inter = "ml-100k.inter"
item = "ml-100k.item"
title_field = "movie_title"
year_field = "release_year"
[recipe]
protocol = "authors"
like_above = 3
history = 10
keep_last = 10000
split = [80, 10, 10]
"""

JSON_CARD = """
name = "mybook"
noun = "book"
[source]
format = "tallrec-json"
folder = "files"
items = "title-author"
pool_from_valid = 1927
"""


def write_card(folder: Path, text: str, name: str = "card.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def recbole_folder() -> Path:
    return data._embedded_folder(cards.get("movie"))


def test_recbole_atomic_card_yields_the_builtin_movie_samples(tmp_path, data_dir):
    cards.register([str(write_card(tmp_path, ATOMIC_CARD))])
    atomic = data.load_domain("ml100k-atomic", recbole_folder())
    builtin = data.load_domain("movie", data_dir)  # built from the raw GroupLens files
    assert atomic.unchecked_files == ["ml-100k.inter", "ml-100k.item"]
    for split in ("train", "valid", "test"):
        assert [dataclasses.replace(s, domain="movie") for s in atomic.split(split)] == builtin.split(split)
    # RecBole spells 4 of the 1682 MovieLens-100K titles differently (item 267 `unkonwn`, 3 lose a trailing
    # space); none of those 4 items occurs in the 10,000 samples the recipe keeps, so the samples are equal
    raw = movielens.read_raw_titles(data_dir / "ml-100k" / "u.item")
    items = recbole_atomic.read_items(recbole_folder() / "ml-100k.item", cards.get("ml100k-atomic").source, "c")
    differing = {i for i in raw if raw[i] != items[i].title}
    used = {x.id for s in builtin.train + builtin.valid + builtin.test for x in (s.target, *(h.item for h in s.history))}
    assert len(differing) == 4 and not differing & used


def edited_book_copy(data_dir: Path, folder: Path) -> int:
    """Copies of the released book files with some titles edited; returns how many records changed."""
    folder.mkdir(parents=True)
    changed = 0
    for name in ("valid.json", "test.json"):
        records = json.loads((data_dir / "tallrec" / "book" / name).read_text())
        for record in records:
            edited = record["input"].replace('"The ', '"A ')
            changed += edited != record["input"]
            record["input"] = edited
        (folder / name).write_text(json.dumps(records, indent=4))
    return changed


def test_user_json_card_runs_end_to_end_and_records_say_unchecked(tmp_path, data_dir, capsys):
    assert edited_book_copy(data_dir, tmp_path / "cards" / "files") > 100
    card = write_card(tmp_path / "cards", JSON_CARD)
    store = tmp_path / "results"
    code = main(["run", "--card", str(card), "--method", "like-ratio", "--train", "mybook", "--test", "mybook",
                 "--shots", "16", "--seeds", "0", "--store", str(store), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    (record,) = ResultStore(store).records()
    facts = record["data"]["mybook"]
    assert facts["files_checked"] is False and facts["source"] == "card-folder"
    assert facts["unchecked_files"] == ["files/valid.json", "files/test.json"]
    assert facts["card"] == str(card.resolve()) and record["n_test"] == 2427
    assert record["run_config"]["cards"] == [str(card.resolve())]
    assert 0.6 < record["auc"] < 0.8  # like-ratio reads labels, not titles: about its 69.62 on book
    code = main(["list", "--card", str(card)])
    assert code == 0 and "mybook: tallrec-json; " in capsys.readouterr().out


def test_the_builtin_book_card_refuses_edited_files_and_points_to_cards(tmp_path, data_dir):
    edited_book_copy(data_dir, tmp_path / "tallrec" / "book")
    with pytest.raises(BenchError, match="corrupt or unexpected.*--card FILE"):
        data.load_domain("book", tmp_path)


def test_movie_temporal_pool_is_strictly_before_validation(data_dir):
    domain = data.load_domain("movie-temporal", data_dir)
    ratings = movielens.read_raw_ratings(data_dir / "ml-100k" / "u.data")
    by_user: dict[str, list[interactions.Rating]] = {}
    for r in ratings:
        by_user.setdefault(r.user, []).append(r)
    ordered = {u: sorted(rs, key=lambda r: r.timestamp) for u, rs in by_user.items()}

    def times(sample) -> list[int]:  # the history's and the target's timestamps, from the raw log
        user, position = sample.uid[1:].rsplit("-", 1)
        window = ordered[user][int(position) - 10 : int(position) + 1]
        assert window[-1].item == sample.target.id and [r.item for r in window[:-1]] == \
               [h.item.id for h in sample.history]
        return [r.timestamp for r in window]

    first_valid = min(s.timestamp for s in domain.valid)
    assert max(t for s in domain.train for t in times(s)) < first_valid
    assert max(s.timestamp for s in domain.valid) <= min(s.timestamp for s in domain.test)
    assert len(domain.test) == 1000 and len(domain.valid) == 1000 and 7000 < len(domain.train) <= 8000
    assert len({s.user for s in domain.test}) > 16  # the authors' movie test set has 16 users
    # the authors' split, by contrast, has pool interactions after its earliest test target
    movie = data.load_domain("movie", data_dir)
    assert max(s.timestamp for s in movie.train) > min(s.timestamp for s in movie.test)


def test_movie_loo_tests_every_user_once_on_their_last_rating(data_dir):
    """Leave-last-out from the raw log: each user's last sample (stable time order, so ties keep the file
    order) is test, the one before it validation, the rest the pool; every MovieLens-100K user is tested."""
    domain = data.load_domain("movie-loo", data_dir)
    ratings = movielens.read_raw_ratings(data_dir / "ml-100k" / "u.data")
    ordered: dict[str, list[interactions.Rating]] = {}
    for r in ratings:
        ordered.setdefault(r.user, []).append(r)
    ordered = {u: sorted(rs, key=lambda r: r.timestamp) for u, rs in ordered.items()}
    assert len(domain.test) == len(domain.valid) == len(ordered) == 943 and domain.users_left_out == 0
    assert len({s.user for s in domain.test}) == 943
    for test, valid in zip(domain.test, domain.valid, strict=True):
        mine = ordered[test.user]
        assert test.user == valid.user and test.target.id == mine[-1].item and valid.target.id == mine[-2].item
        assert [h.item.id for h in test.history] == [r.item for r in mine[-11:-1]]
    last = {s.user: int(s.uid.rsplit("-", 1)[1]) for s in domain.valid}
    assert all(int(s.uid.rsplit("-", 1)[1]) < last[s.user] for s in domain.train)
    assert len(domain.train) == sum(len(rs) - 12 for rs in ordered.values())


def test_leave_last_out_counts_users_too_short_and_caps_the_pool_in_time(tmp_path):
    """A user with fewer than history + 2 ratings has no validation sample: left out and counted.
    keep_last keeps the pool's latest samples in time, whoever they belong to."""
    log = [interactions.Rating("a", f"i{i}", 5.0 if i % 2 else 1.0, 100 + i) for i in range(8)]
    log += [interactions.Rating("b", f"i{i}", 5.0 if i % 2 else 1.0, 10 + i) for i in range(7)]
    log += [interactions.Rating("c", f"i{i}", 4.0, i) for i in range(3)]  # too short for history 2 + 2
    items = {f"i{i}": interactions.Item(f"i{i}", f"title {i}") for i in range(8)}
    recipe = cards.Recipe(protocol="leave-last-out", history=2, past=2)
    splits = interactions.build_splits(log, items, recipe, "toy", "item")
    assert [s.user for s in splits["test"]] == ["a", "b"] and [s.target.id for s in splits["test"]] == ["i7", "i6"]
    assert [s.target.id for s in splits["valid"]] == ["i6", "i5"]
    assert len(splits["train"]) == (8 - 4) + (7 - 4) and interactions.users_left_out(log, recipe) == 1
    capped = interactions.build_splits(log, items, dataclasses.replace(recipe, keep_last=3), "toy", "item")
    assert [s.uid for s in capped["train"]] == ["ua-3", "ua-4", "ua-5"]  # a's are later than all of b's
    with pytest.raises(BenchError, match="recipe.split does not apply to protocol leave-last-out"):
        cards.parse('name = "x"\n[source]\nformat = "movielens"\nratings = "r"\nitems = "i"\n'
                    '[recipe]\nprotocol = "leave-last-out"\nsplit = [80, 10, 10]\n', "x.toml")


@pytest.mark.parametrize("text, message", [
    ('noun = "x"\n[source]\nformat = "movielens"\nratings = "a"\nitems = "b"', "missing field `name`"),
    ('name = "x"\n[source]\nformat = "movielens"\nratings = "a"', "missing field `items`"),
    ('name = "x"\n[source]\nformat = "csv"', "source.format = 'csv'; choose one of"),
    ('name = "x"\n[source]\nformat = "movielens"\nratings = "a"\nitems = "b"\n[recipe]\nsplit = [80, 20]',
     "recipe.split"),
    ('name = "x"\n[source]\nformat = "movielens"\nratings = "a"\nitems = "b"\n[recipe]\nthreshold = 3',
     "unknown \\[recipe\\] field"),
    ('name = "movie"\n[source]\nformat = "movielens"\nratings = "a"\nitems = "b"', "is a built-in domain"),
    ('name = "x"\n[source]\nformat = "tallrec-json"\nfolder = "f"\nitems = "bold"', "source.items"),
    ('name = "x"\nsource = 3', "wrong type"),
])
def test_bad_cards_are_one_line_errors_naming_the_field(tmp_path, text, message, capsys):
    card = write_card(tmp_path, text)
    assert main(["list", "--card", str(card)]) == 2
    err = capsys.readouterr().err.strip()
    assert re.search(message, err) and str(card.resolve()) in err and "\n" not in err


def audit_exit(capsys, card: Path, domain: str, data_dir: Path) -> tuple[int, str]:
    """`bench data audit DOMAIN --card CARD --data-dir DIR`: exit code and its one stderr line."""
    code = main(["data", "audit", domain, "--card", str(card), "--data-dir", str(data_dir)])
    return code, capsys.readouterr().err.strip()


def atomic_copy(tmp_path: Path, inter_lines: int | None = None) -> Path:
    folder = tmp_path / "atomic"
    folder.mkdir()
    lines = (recbole_folder() / "ml-100k.inter").read_text().splitlines()
    (folder / "ml-100k.inter").write_text("\n".join(lines[: inter_lines or len(lines)]) + "\n")
    shutil.copyfile(recbole_folder() / "ml-100k.item", folder / "ml-100k.item")
    return folder


def test_a_source_file_without_the_named_column(tmp_path, capsys):
    card = write_card(tmp_path, ATOMIC_CARD.replace("movie_title", "book_title").replace("ml100k-atomic", "c1"))
    code, err = audit_exit(capsys, card, "c1", recbole_folder())
    assert code == 2 and "\n" not in err
    assert re.search("ml-100k.item has no column 'book_title'.*source.title_field.*movie_title", err)


def test_a_dataset_too_small_for_the_split(tmp_path, capsys):
    card = write_card(tmp_path, ATOMIC_CARD.replace("ml100k-atomic", "c2"))
    code, err = audit_exit(capsys, card, "c2", atomic_copy(tmp_path, inter_lines=12))
    assert code == 2 and "\n" not in err and str(card.resolve()) in err
    assert re.search("the train split is empty.*shorter recipe.history", err)


def test_a_threshold_that_leaves_one_class_empty(tmp_path, capsys):
    card = write_card(tmp_path, ATOMIC_CARD.replace("like_above = 3", "like_above = 5").replace("ml100k-atomic", "c3"))
    code, err = audit_exit(capsys, card, "c3", recbole_folder())
    assert code == 2 and "\n" not in err and str(card.resolve()) in err
    assert "recipe.like_above = 5 leaves the train split with no liked samples" in err


def test_data_dir_naming_a_file(tmp_path, capsys):
    path = tmp_path / "u.data"
    path.write_text("1\t1\t5\t0\n")
    assert main(["data", "audit", "movie", "--data-dir", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a file, not a folder" in err and "ml-100k/u.data" in err and "\n" not in err


def test_an_ambiguous_author_is_an_error_naming_the_record(tmp_path, data_dir, capsys):
    folder = tmp_path / "cards" / "files"
    folder.mkdir(parents=True)
    records = json.loads((data_dir / "tallrec" / "book" / "test.json").read_text())
    first = records[0]["input"].split("\n")[0]
    marker = '" written by '
    assert first.count(marker) >= 2  # a history of two or more books
    author_end = first.index(', "', first.index(marker))
    records[3]["input"] = records[0]["input"].replace(first, first[:author_end] + ', "Jr.' + first[author_end:], 1)
    (folder / "test.json").write_text(json.dumps(records, indent=4))
    shutil.copyfile(data_dir / "tallrec" / "book" / "valid.json", folder / "valid.json")
    card = write_card(tmp_path / "cards", JSON_CARD.replace("mybook", "ambiguous"))
    (tmp_path / "elsewhere").mkdir()  # a data folder without the card's files: the card's folder is used
    code, err = audit_exit(capsys, card, "ambiguous", tmp_path / "elsewhere")
    assert code == 2 and "\n" not in err and re.search(r"files/test.json record 3 .*ambiguous item list", err)


def test_a_card_is_read_once_per_process_until_its_file_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(cards, "_USER_CARDS", {})  # leave other tests' domains as they were
    path = write_card(tmp_path / "cards", JSON_CARD)
    (first,) = cards.register([str(path)])
    assert cards.register([str(path)])[0] is first  # unchanged: not read again
    path.write_text(JSON_CARD.replace('noun = "book"', 'noun = "novel"'))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # a later edit, whatever the clock
    (edited,) = cards.register([str(path)])
    assert edited.noun == "novel" and cards.get("mybook").noun == "novel"
    write_card(tmp_path / "cards", JSON_CARD.replace('"mybook"', '"mybook2"'), "second.toml")
    assert {c.name for c in cards.register([str(tmp_path / "cards")])} == {"mybook", "mybook2"}  # an added card is seen
