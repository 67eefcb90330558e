"""Facts recorded with every result: package versions, git commit, device, machine."""

from __future__ import annotations

import functools
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


@functools.cache
def git_commit() -> str | None:
    """The commit of the checkout the code runs from, with '+dirty' when it has uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


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
