"""Peak memory over one stretch of work (a fit, a scoring), so that each cell records its own peak.

The process's high-water mark (`ru_maxrss`) only grows, so later cells of one process would inherit
earlier peaks. On Linux the kernel's mark (VmHWM) is reset before each stretch through
/proc/self/clear_refs; where that fails a thread samples VmRSS every 10 ms; without /proc, ru_maxrss
counts only when the stretch raised it. CUDA's peak is read only if torch has already started CUDA.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from pathlib import Path
from typing import Any


def _status_mb(field: str) -> float | None:
    """A size from /proc/self/status (Linux) in MiB; None where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _trim() -> None:
    """Hand memory freed earlier back to the system, which glibc would otherwise keep resident: else a
    stretch that reuses those pages shows no growth, and one after a big stretch inherits its size."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets the high-water mark (VmHWM) to the current resident size."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_mb("VmHWM:") is not None


def _ru_maxrss_mb() -> float | None:
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KiB elsewhere


def _cuda_in_use():
    """torch.cuda when torch is imported and has initialised CUDA (never imports or initialises it)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    return cuda if cuda is not None and cuda.is_initialized() else None


class MemoryPeak:
    """The peak host resident set and CUDA allocation over one stretch of work (a fit, a scoring)."""

    def __init__(self) -> None:
        self.rss_mb: float | None = None
        self.cuda_mb: float | None = None
        self.source = ""
        self._sampler: threading.Thread | None = None
        self._stop = threading.Event()

    def __enter__(self) -> MemoryPeak:
        if (cuda := _cuda_in_use()) is not None:
            cuda.reset_peak_memory_stats()
        _trim()
        if _reset_peak_rss():
            self.source = "VmHWM"
        elif (now := _status_mb("VmRSS:")) is not None:
            self.source, self.rss_mb = "VmRSS sampled", now
            self._sampler = threading.Thread(target=self._sample, daemon=True, name="peak-rss")
            self._sampler.start()
        else:
            self.source, self._before = "ru_maxrss", _ru_maxrss_mb()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self._note(_status_mb("VmRSS:"))

    def _note(self, mb: float | None) -> None:
        if mb is not None:
            self.rss_mb = max(self.rss_mb or 0.0, mb)

    def __exit__(self, *exc: object) -> None:
        if self.source == "VmHWM":
            self.rss_mb = _status_mb("VmHWM:")
        elif self._sampler is not None:
            self._stop.set()
            self._sampler.join()
            self._note(_status_mb("VmRSS:"))
        else:
            after = _ru_maxrss_mb()
            self.rss_mb = after if after is not None and self._before is not None and after > self._before else None
        if (cuda := _cuda_in_use()) is not None:  # initialised before or during the stretch: its peak is ours
            self.cuda_mb = cuda.max_memory_allocated() / 2**20


def memory_fields(*stretches: MemoryPeak) -> dict[str, Any]:
    """A cell's peaks: the largest of its stretches' (fit, scoring). With ru_maxrss a stretch that did
    not raise the process's peak stayed below one that did, so the known ones suffice."""
    rss = [s.rss_mb for s in stretches if s.rss_mb is not None]
    cuda = [s.cuda_mb for s in stretches if s.cuda_mb is not None]
    fields: dict[str, Any] = {"peak_rss_mb": round(max(rss), 1) if rss else None,
                              "peak_rss_source": stretches[-1].source}
    if cuda:
        fields["peak_cuda_mb"] = round(max(cuda), 1)
    return fields
