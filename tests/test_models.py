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


def test_replacing_a_prepared_model_never_leaves_a_moment_without_a_complete_folder(embedded_dir, tmp_path, monkeypatch):
    """prepare(force=True) over a complete folder: after every file-system step it takes, and all the
    while for a reader polling it from another thread, the folder is there and complete."""
    import threading

    monkeypatch.setenv("POLISTANCE_HOME", str(tmp_path))
    target = models.prepared_dir(models.DEFAULT_MODEL)

    def copy_prepared(src, out):  # the real dequantisation takes ~35 s; its output is what matters here
        for f in embedded_dir.iterdir():
            if f.name != models.MANIFEST:
                shutil.copy2(f, out / f.name)

    monkeypatch.setattr(models, "_dequantise", copy_prepared)
    models.prepare(models.DEFAULT_MODEL, log=lambda m: None)
    assert models.is_complete(target)

    gaps = []
    for name in ("rmtree", "move"):
        real = getattr(shutil, name)

        def checked(*args, _real=real, _name=name, **kwargs):
            out = _real(*args, **kwargs)
            if not models.is_complete(target):
                gaps.append(f"after shutil.{_name}{args}")
            return out

        monkeypatch.setattr(models.shutil, name, checked)
    real_replace = models.os.replace

    def replace(src, dst):
        real_replace(src, dst)
        if not models.is_complete(target):
            gaps.append(f"after os.replace({src}, {dst})")

    monkeypatch.setattr(models.os, "replace", replace)
    stop, misses, looks = threading.Event(), [], [0]

    def reader():
        while not stop.is_set():
            looks[0] += 1
            if not models.is_complete(target):
                misses.append(looks[0])

    watcher = threading.Thread(target=reader)
    watcher.start()
    try:
        for _ in range(3):
            assert models.prepare(models.DEFAULT_MODEL, force=True, log=lambda m: None) == target
    finally:
        stop.set()
        watcher.join()
    assert not gaps and not misses and looks[0] > 10, (gaps, misses[:5], looks)
    assert models.is_complete(target)
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")], "no temp folder left behind"
