"""Facts recorded with every result: package versions, git commit, device, machine."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("tallrec-bench", "torch", "transformers", "peft", "recbole", "openai", "numpy", "pandas",
            "scipy", "scikit-learn")


@functools.cache  # fixed for the life of a process; every fit group records it
def package_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


#: Folders a run writes into the checkout (the default results store, the reports): outputs, not
#: code, so they leave a tree clean; otherwise every run after the first would be "+dirty".
OUTPUT_FOLDERS = ("results", "reports")
#: Untracked files larger than this are hashed by name and size only, to keep the check fast.
MAX_HASHED_BYTES = 16 << 20


def _git(args: list[str], cwd: Path) -> bytes:
    """Read-only: GIT_OPTIONAL_LOCKS=0 keeps `git status` off the index lock, so a run never makes a
    concurrent `git add` or commit in the same checkout fail."""
    return subprocess.run(["git", "-c", "core.quotepath=off", *args], cwd=cwd, capture_output=True, timeout=30,
                          check=True, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"}).stdout


def read_git_state(where: Path) -> dict[str, str | None]:
    """The commit of the checkout holding `where`, and what differs from it.

    `git_commit` is the commit, with '+dirty' when tracked files changed or untracked, non-ignored
    files exist (outside OUTPUT_FOLDERS); `git_diff_sha256` then is the first 16 hex digits of the
    sha256 of `git status --porcelain`, `git diff HEAD` and each untracked file's name and contents,
    so two records with the same value ran the same uncommitted code. Both None outside a checkout
    (or without git); the hash is None on a clean tree."""
    outputs = [f":(exclude,top){folder}" for folder in OUTPUT_FOLDERS]
    try:
        top, commit = os.fsdecode(_git(["rev-parse", "--show-toplevel", "HEAD"], where)).splitlines()
        root = Path(top)
        status = _git(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".", *outputs], root)
        if not status:
            return {"git_commit": commit, "git_diff_sha256": None}
        diff = _git(["diff", "HEAD", "--binary", "--no-color", "--no-ext-diff", "--no-textconv", "--", ".",
                     *outputs], root)
    except (OSError, ValueError, subprocess.SubprocessError):
        return {"git_commit": None, "git_diff_sha256": None}
    digest = hashlib.sha256(status + b"\0" + diff)
    for entry in status.split(b"\0"):
        if entry.startswith(b"?? "):
            name = entry[3:]
            digest.update(b"\0" + name + b"\0" + _file_digest(root / os.fsdecode(name)))
    return {"git_commit": commit + "+dirty", "git_diff_sha256": digest.hexdigest()[:16]}


def _file_digest(path: Path) -> bytes:
    """An untracked file's contents by hash (a link's target, a large file's size)."""
    try:
        if path.is_symlink():
            return b"link:" + os.fsencode(os.readlink(path))
        size = path.stat().st_size
        if size > MAX_HASHED_BYTES:
            return f"size:{size}".encode()
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").digest()
    except OSError:  # gone meanwhile, or unreadable: its name still counts
        return b"unreadable"


@functools.cache  # fixed for the life of a process; every fit group records it
def git_state() -> dict[str, str | None]:
    """`read_git_state` of the checkout this code runs from: the fields every record carries."""
    return read_git_state(Path(__file__).resolve().parent)


def _cpu_model() -> str:
    """The CPU's marketing name (platform.processor() is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine(device: str = "cpu") -> str:
    """Where a record was computed, in words: host, architecture, CPU model, how many CPUs and, for
    a CUDA run, the GPU (its timings mean nothing without it)."""
    where = f"{platform.node()} {platform.machine()}, {_cpu_model()}, {os.cpu_count()} CPUs"
    if device == "cuda" and default_device() == "cuda":
        import torch

        where += f", GPU {torch.cuda.get_device_name()}"
    return where


def require_device(device: str) -> None:
    """A clear error, before anything runs, when a CUDA run is asked for on a machine without one."""
    if device == "cuda" and default_device() != "cuda":
        from bench.errors import BenchError

        raise BenchError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu or auto")


def default_device() -> str:
    """'cuda' when a GPU is usable, else 'cpu' (torch is imported only when asked)."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
