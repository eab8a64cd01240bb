"""The embedded model is prepared once, reused, and rebuilt when the cache is damaged."""

import json
import shutil
import time

import pytest

from polistance_plugins.engine import models
from polistance_plugins.errors import PolistanceError


def test_named_model_is_listed_and_prepared(embedded_dir):
    assert models.DEFAULT_MODEL in models.NAMED_MODELS
    meta = json.loads((embedded_dir / models.MANIFEST).read_text())
    assert meta["source_sha256"] == models.sha256_file(models.gguf_source(models.NAMED_MODELS[models.DEFAULT_MODEL]))
    assert (embedded_dir / "model.safetensors").is_file() and (embedded_dir / "tokenizer.json").is_file()
    config = json.loads((embedded_dir / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"


def test_second_prepare_is_a_no_op(embedded_dir):
    before = (embedded_dir / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    again = models.prepare(models.DEFAULT_MODEL, log=lambda m: pytest.fail("rebuilt: " + m))
    assert again == embedded_dir
    assert (embedded_dir / "model.safetensors").stat().st_mtime_ns == before
    assert time.perf_counter() - start < 5


def test_damaged_cache_is_detected(embedded_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(embedded_dir, copy)
    assert models.is_complete(copy)
    with open(copy / "model.safetensors", "r+b") as f:
        f.truncate(1000)
    assert not models.is_complete(copy)
    (copy / models.MANIFEST).unlink()
    assert not models.is_complete(copy)


@pytest.mark.real_model
def test_half_written_cache_is_rebuilt(embedded_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("POLISTANCE_HOME", str(tmp_path))
    target = models.prepared_dir(models.DEFAULT_MODEL)
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # a crash before the manifest was written
    logs = []
    path = models.prepare(models.DEFAULT_MODEL, log=logs.append)
    assert path == target and logs, "a folder without a complete manifest must be rebuilt"
    assert models.is_complete(target)
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")], "no temp folder left behind"


def test_resolve_passes_model_folders_and_hub_ids_through(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text("{}")
    assert models.resolve(str(tmp_path)) == str(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert models.resolve("some-org/some-model") == "some-org/some-model"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PolistanceError, match="not in the local Hugging Face cache"):
        models.resolve("some-org/some-model")
