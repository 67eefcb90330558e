"""Replacing the best adapter never leaves a window without one: kill -9 at any moment of the
replacement and the adapter folder still holds a complete adapter (the previous or the new one)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.lm.tuning import _save_adapter_atomically


class FakeAdapter:
    """Writes what peft writes (a config and weights), slowly when asked, like a large adapter."""

    def __init__(self, step: int, pause: float = 0.0) -> None:
        self.step, self.pause = step, pause

    def save_pretrained(self, folder: str) -> None:
        Path(folder).mkdir(parents=True)
        (Path(folder) / "adapter_config.json").write_text(json.dumps({"step": self.step}))
        time.sleep(self.pause)
        (Path(folder) / "adapter_model.safetensors").write_bytes(b"w" * 1000)


def _complete_step(target: Path) -> int:
    assert (target / "adapter_model.safetensors").read_bytes() == b"w" * 1000
    return json.loads((target / "adapter_config.json").read_text())["step"]


def test_a_replacement_switches_to_the_new_adapter_and_removes_the_old(tmp_path):
    target = tmp_path / "adapter"
    _save_adapter_atomically(FakeAdapter(1), target)
    _save_adapter_atomically(FakeAdapter(2), target)
    assert _complete_step(target) == 2
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("adapter-")]) == 1  # the old one is gone


def test_an_adapter_written_as_a_plain_folder_before_is_replaced_too(tmp_path):
    target = tmp_path / "adapter"
    FakeAdapter(1).save_pretrained(str(target))
    _save_adapter_atomically(FakeAdapter(2), target)
    assert _complete_step(target) == 2 and target.is_symlink()


def test_kill_9_during_a_replacement_leaves_the_previous_adapter_loadable(tmp_path):
    target = tmp_path / "adapter"
    _save_adapter_atomically(FakeAdapter(1), target)
    script = (f"import sys; sys.path[:0] = {[str(Path(__file__).parent), str(Path(__file__).parents[1])]!r}\n"
              "from test_adapter_replace import FakeAdapter\n"
              "from bench.lm.tuning import _save_adapter_atomically\n"
              "from pathlib import Path\n"
              "print('writing', flush=True)\n"
              f"_save_adapter_atomically(FakeAdapter(2, pause=30), Path({str(target)!r}))\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    deadline = time.time() + 30
    while not any(p.name.startswith("adapter-") and p.resolve() != target.resolve() for p in tmp_path.iterdir()):
        assert time.time() < deadline, "the child never started writing the new adapter"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)  # mid-write of the new adapter
    child.wait()
    assert _complete_step(target) == 1
    _save_adapter_atomically(FakeAdapter(3), target)  # and the next replacement still works
    assert _complete_step(target) == 3


def test_a_crash_at_the_switch_itself_leaves_the_previous_adapter(tmp_path, monkeypatch):
    """The old way deleted the best adapter, then renamed the new one in: a crash between the two lost
    both. Here the rename is the switch; make it fail and the previous adapter is still there."""
    target = tmp_path / "adapter"
    _save_adapter_atomically(FakeAdapter(1), target)

    def crash(*args, **kwargs):
        raise OSError("crashed at the rename")

    monkeypatch.setattr(os, "replace", crash)
    try:
        _save_adapter_atomically(FakeAdapter(2), target)
    except OSError:
        pass
    assert _complete_step(target) == 1
