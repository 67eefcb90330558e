"""Records say what ran: a dirty tree's records carry a hash of what differs from the commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench.run.provenance import read_git_state


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / ".gitignore").write_text("*.log\n")
    _git(tmp_path, "add", "code.py", ".gitignore")
    _git(tmp_path, "commit", "-q", "-m", "first")
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_a_clean_tree_has_its_commit_and_no_hash(repo):
    commit = _git(repo, "rev-parse", "HEAD")
    (repo / "run.log").write_text("ignored files do not count")
    (repo / "results" / "records").mkdir(parents=True)
    (repo / "results" / "records" / "r.json").write_text("{}")  # a run's own output does not count
    assert read_git_state(repo / "sub") == {"git_commit": commit, "git_diff_sha256": None}


def test_a_changed_tracked_file_gives_a_hash_that_follows_the_change(repo):
    commit = _git(repo, "rev-parse", "HEAD")
    (repo / "code.py").write_text("x = 2\n")
    first = read_git_state(repo)
    assert first["git_commit"] == commit + "+dirty"
    assert len(first["git_diff_sha256"]) == 16 and int(first["git_diff_sha256"], 16) >= 0
    assert read_git_state(repo) == first, "the same change must give the same hash"

    (repo / "code.py").write_text("x = 3\n")
    assert read_git_state(repo)["git_diff_sha256"] not in (None, first["git_diff_sha256"])
    (repo / "code.py").write_text("x = 2\n")
    assert read_git_state(repo) == first

    (repo / "code.py").write_text("x = 1\n")
    assert read_git_state(repo) == {"git_commit": commit, "git_diff_sha256": None}


def test_untracked_files_count_by_name_and_contents(repo):
    commit = _git(repo, "rev-parse", "HEAD")
    (repo / "sub" / "plugin.py").write_text("a = 1\n")
    first = read_git_state(repo)
    assert first["git_commit"] == commit + "+dirty" and first["git_diff_sha256"]

    (repo / "sub" / "plugin.py").write_text("a = 2\n")  # same name, same status line: other contents
    second = read_git_state(repo)
    assert second["git_diff_sha256"] not in (None, first["git_diff_sha256"])
    (repo / "sub" / "plugin.py").rename(repo / "sub" / "other.py")
    assert read_git_state(repo)["git_diff_sha256"] not in (None, first["git_diff_sha256"], second["git_diff_sha256"])


def test_outside_a_checkout_nothing_is_claimed(tmp_path):
    assert read_git_state(tmp_path) == {"git_commit": None, "git_diff_sha256": None}
