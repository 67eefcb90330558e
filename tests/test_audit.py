"""`bench data audit`: facts about the splits, on hand-made samples (exact numbers) and on the real data."""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from bench.data import audit
from bench.data import domains as data
from bench.data.domains import DomainData
from bench.data.samples import HistoryItem, Item, Sample


def _sample(uid: str, user: str, history: str, target: str, ts: int | None, label: int = 1) -> Sample:
    return Sample(uid=uid, domain="toy", history=tuple(HistoryItem(Item(i, i.upper()), True) for i in history),
                  target=Item(target, target.upper()), label=label, user=user, timestamp=ts)


def _toy() -> DomainData:
    test = [
        _sample("a1", "A", "xy", "z", 100),
        _sample("a2", "A", "yz", "w", 200, label=0),  # z is a1's target: the one overlapping entry
        _sample("b1", "B", "zx", "x", 300),  # x is b1's own target (same sample) and A's x is not B's
    ]
    pool = [
        _sample("p1", "C", "x", "y", 150),
        _sample("p2", "C", "", "x", 250),
        _sample("p3", "D", "", "x", 350),
    ]
    return DomainData(name="toy", source="hand", location="", train=pool, valid=[], test=test)


def test_hand_made_exact_numbers():
    facts = audit.audit(_toy())
    assert facts["user_ids"] == audit.SOURCE_USER_IDS
    test = facts["splits"]["test"]
    assert (test["samples"], test["users"]) == (3, 2)
    assert test["samples_per_user"] == {"min": 1, "median": 1.5, "max": 2}
    assert test["liked_share"] == pytest.approx(2 / 3)
    assert facts["test_history_overlap"] == {"measurable": True, "note": None, "entries": 6, "overlapping": 1,
                                             "share": pytest.approx(1 / 6)}
    assert facts["items"] == {"test_target_items": 3, "unseen_test_items": 2, "unseen_test_samples": 2,
                              "unseen_test_sample_share": pytest.approx(2 / 3)}
    time = facts["time"]
    assert time["pool_later_than_first_test_share"] == 1.0
    assert time["pool_later_than_last_test_share"] == pytest.approx(1 / 3)
    assert time["test_samples_with_item_in_pool"] == 1  # only b1's x is a pool target: p2 before, p3 after
    assert time["item_pool_later_share_mean"] == 0.5
    # pool times 150, 250, 350 against test targets at 100, 200, 300: 3/3, 2/3, 1/3 later
    assert facts["pool_later_than_test_mean_share"] == pytest.approx(2 / 3)
    assert facts["users_left_out"] == 0 and facts["resolution"]["like_ratio_auc"] == 0.5  # all histories liked
    json.dumps(facts)  # plain JSON types only
    assert "2 users" in audit.audit_text(facts) and "16.7%" in audit.audit_text(facts)


def test_hand_made_without_user_ids_or_timestamps():
    d = _toy()
    strip = [Sample(s.uid, s.domain, s.history, s.target, s.label, user=s.uid) for s in d.test]
    facts = audit.audit(DomainData(name="toy", source="hand", location="", train=[], valid=[], test=strip))
    assert facts["user_ids"] == audit.NO_USER_IDS
    assert facts["test_history_overlap"]["measurable"] is False
    assert facts["test_history_overlap"]["share"] is None
    assert facts["time"] is None
    assert "not measurable" in audit.audit_text(facts)


def test_movie(data_dir):
    facts = audit.audit(data.load_domain("movie", data_dir))
    assert facts["user_ids"] == audit.SOURCE_USER_IDS
    assert facts["splits"]["test"]["users"] == 16 and facts["splits"]["test"]["samples"] == 1000
    share = facts["test_history_overlap"]["share"]
    print(f"movie test history overlap: {share}")
    assert 0.85 < share < 0.95
    time = facts["time"]
    assert 0 < time["pool_later_than_first_test_share"] <= 1
    assert 0 < time["item_pool_later_share_mean"] <= 1
    assert 0 <= facts["items"]["unseen_test_sample_share"] < 1
    md = audit.audit_markdown(facts)
    assert "| test | 1000 | 16 |" in md


def test_book(data_dir):
    facts = audit.audit(data.load_domain("book", data_dir))
    test = facts["splits"]["test"]
    assert test["users"] == test["samples"] > 0
    assert facts["user_ids"] == audit.NO_USER_IDS
    assert facts["test_history_overlap"]["share"] is None and facts["time"] is None


def test_cli(capsys, data_dir):
    assert main(["data", "audit", "movie", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "16 users" in out and "% of the 10000 history entries" in out
    assert main(["data", "audit", "book", "--data-dir", str(data_dir), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["domain"] == "book" and facts["time"] is None


def test_movie_loo_tests_every_user_once_and_states_its_resolution(capsys, data_dir):
    assert main(["data", "audit", "movie-loo", "--data-dir", str(data_dir), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    test = facts["splits"]["test"]
    assert test["users"] == test["samples"] == 943 and test["samples_per_user"]["max"] == 1
    assert 0.2 < facts["pool_later_than_test_mean_share"] < 0.8  # other users' pools overlap the test period
    resolution = facts["resolution"]
    assert resolution["like_ratio_auc"] == pytest.approx(0.7588, abs=5e-5)
    # 943 independent users: a by-user interval of like-ratio's AUC under 8 points wide
    assert 2 * 1.96 * resolution["standard_error"] < 0.08
    assert resolution["detectable_difference"] == pytest.approx(2.80 * resolution["standard_error"], rel=1e-3)
    assert main(["data", "audit", "movie-loo", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "943 samples from 943 users" in out and "Across users" in out and "Resolution:" in out


def test_cli_unknown_domain(capsys, data_dir):
    assert main(["data", "audit", "music", "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown domain 'music'" in err
