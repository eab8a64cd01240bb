"""Devices, precisions and batch sizes: what ``auto`` picks, that inputs are built on the model's
device, the out-of-memory back-off, and what a run records about them."""

import json

import pytest
import torch

from polistance_plugins.cli import main
from polistance_plugins.core import DIGITS
from polistance_plugins.engine import device
from polistance_plugins.engine.backends.hf import LocalBackend
from polistance_plugins.engine.device import Placement, largest_fitting_batch, parse_batch_size, resolve
from polistance_plugins.errors import PolistanceError

PROMPTS = [f"On a scale of 0-9, how much do you like {x}? Give only a number, no elaboration."
           for x in ("tea", "coffee", "rain", "jazz", "maps", "bread", "trains")]


def _no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_on_a_cpu_only_machine_is_cpu_and_float32(monkeypatch):
    _no_gpu(monkeypatch)
    assert resolve(Placement()) == ("cpu", "float32")
    assert resolve(Placement(dtype="bfloat16")) == ("cpu", "bfloat16")
    with pytest.raises(PolistanceError, match="no CUDA device"):
        resolve(Placement(device="cuda"))
    with pytest.raises(PolistanceError, match="MPS is not available"):
        resolve(Placement(device="mps"))


def test_auto_prefers_cuda_then_mps_with_their_precisions(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve(Placement()) == ("cuda:0", "bfloat16")
    assert resolve(Placement(device="cuda:1")) == ("cuda:1", "bfloat16")
    with pytest.raises(PolistanceError, match="has 2 CUDA device"):
        resolve(Placement(device="cuda:2"))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve(Placement()) == ("cuda:0", "float16")  # e.g. a V100 or T4
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve(Placement()) == ("mps", "float16")


@pytest.mark.parametrize("bad,needle", [({"device": "gpu"}, "--device 'gpu'"), ({"dtype": "fp8"}, "--dtype 'fp8'"),
                                        ({"device_map": "everywhere"}, "--device-map")])
def test_bad_placements_are_user_errors(bad, needle):
    with pytest.raises(PolistanceError, match=needle):
        Placement(**bad)


def test_batch_size_values():
    assert parse_batch_size("auto") == "auto" and parse_batch_size("8") == 8
    for bad in ("0", "-3", "many"):
        with pytest.raises(PolistanceError, match="--batch-size"):
            parse_batch_size(bad)


def test_largest_fitting_batch_halves_on_out_of_memory_only():
    tried = []

    def attempt(size):
        tried.append(size)
        if size > 5:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    assert largest_fitting_batch(attempt, 32) == 4
    assert tried == [32, 16, 8, 4]
    with pytest.raises(ValueError):
        largest_fitting_batch(lambda size: (_ for _ in ()).throw(ValueError("not memory")), 8)
    with pytest.raises(PolistanceError, match="even at batch size 1"):
        largest_fitting_batch(lambda size: (_ for _ in ()).throw(RuntimeError("MPS backend out of memory")), 4)


class _Spy(torch.nn.Module):
    """Stands in for the model: records where its inputs live, and stops the forward there."""

    def __init__(self, where):
        super().__init__()
        self.where = torch.device(where)
        self.seen = []

    @property
    def device(self):
        return self.where

    def forward(self, **kwargs):
        self.seen += [(k, v.device) for k, v in kwargs.items() if isinstance(v, torch.Tensor)]
        raise StopIteration

    def generate(self, **kwargs):
        return self.forward(**kwargs)


def test_inputs_are_built_on_the_models_device(tiny_model_dir):
    """``meta`` plays a device other than the CPU: every tensor the backend hands the model, for
    scoring (plain and prefix-shared) and for sampling, must be on the model's device."""
    from polistance_plugins.engine.backends.generate import sample_replies

    backend = LocalBackend(str(tiny_model_dir))
    spy = backend.model = _Spy("meta")
    seqs = [backend.encode(backend.chat_prompt(p)) for p in PROMPTS[:3]]
    for call in (lambda: backend.forward_last(seqs, 1),
                 lambda: backend.forward_shared(seqs, 1, [len(s) - 1 for s in seqs]),
                 lambda: sample_replies(backend, [[{"role": "user", "content": PROMPTS[0]}]], n=2)):
        spy.seen.clear()
        with pytest.raises(StopIteration):
            call()
        assert spy.seen and all(dev == torch.device("meta") for _, dev in spy.seen), spy.seen


@pytest.mark.filterwarnings("error::FutureWarning")  # the wrapped forward still gets the cache under its current name
def test_auto_batch_size_backs_off_on_out_of_memory_and_scores_as_that_batch_size(tiny_model_dir):
    """A model that runs out of memory above 5 rows: ``auto`` settles on 4 (32, 16, 8, 4) and gives
    the numbers a batch size of 4 gives."""
    backend = LocalBackend(str(tiny_model_dir), batch_size="auto")
    real_forward = backend.model.forward
    rows = []

    def forward(*args, **kwargs):
        rows.append(kwargs["input_ids"].shape[0])
        if kwargs["input_ids"].shape[0] > 5:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_forward(*args, **kwargs)

    backend.model.forward = forward
    got = backend.distributions(PROMPTS, DIGITS)
    assert backend.batch_size == 4 and rows[:4] == [32, 16, 8, 4] and max(rows[4:]) <= 4
    fixed = LocalBackend(str(tiny_model_dir), batch_size=4).distributions(PROMPTS, DIGITS)
    assert [d.probs for d in got] == [d.probs for d in fixed]


def test_eval_in_bfloat16_on_the_cpu_records_device_dtype_and_batch_size(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    argv = ["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--out", str(out),
            "--device", "cpu", "--dtype", "bfloat16", "--batch-size", "auto"]
    assert main(argv) == 0
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert config["backend"]["device"] == "cpu" and config["backend"]["dtype"] == "bfloat16"
    assert config["batch_size"] == device.AUTO_BATCH_START["cpu"]
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    fp32 = LocalBackend(str(tiny_model_dir), dtype="float32").distributions([r["prompt"] for r in records], DIGITS)
    gaps = [abs(a - b) for r, d in zip(records, fp32) for a, b in zip(r["probs"], d.probs)]
    assert 0 < max(gaps) < 0.05  # really bf16 (not fp32), and close to it


def test_resume_reuses_the_recorded_batch_size(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["eval", "--model", str(tiny_model_dir), "--bank", "terry9", "--device", "cpu"]
    assert main(base + ["--out", str(out), "--batch-size", "3"]) == 0
    lines = (out / "items.jsonl").read_text().splitlines()
    (out / "items.jsonl").write_text("\n".join(lines[:4]) + "\n")
    for given in ([], ["--batch-size", "auto"]):
        assert main(base + ["--resume", str(out)] + given) == 0
        assert json.loads((out / "manifest.json").read_text())["config"]["batch_size"] == 3
        assert (out / "items.jsonl").read_text().splitlines() == lines
        (out / "items.jsonl").write_text("\n".join(lines[:4]) + "\n")
    capsys.readouterr()
    assert main(base + ["--resume", str(out), "--batch-size", "5"]) == 2
    assert "batch_size: recorded 3, now 5" in capsys.readouterr().err


class _Settles:
    """A backend whose ``auto`` batch size is 6: records what it was asked to settle."""

    batch_size = None

    def __init__(self):
        self.asked = []

    def chat_prompt(self, text):
        return text

    def encode(self, text):
        return list(text)

    def settle_batch_size(self, contexts, extra_tokens=0):
        self.asked.append(len(contexts))
        return 6


def test_resume_with_nothing_recorded_keeps_what_was_asked(tmp_path):
    """A folder whose manifest records no batch size (an older run): ``auto`` still settles, and
    not given is still 16; a recorded number wins over both."""
    from polistance_plugins.engine.loop import DEFAULT_BATCH_SIZE, settle_batch_size

    (tmp_path / "manifest.json").write_text(json.dumps({"config": {}}))
    backend = _Settles()
    assert settle_batch_size(backend, "auto", PROMPTS, folder=tmp_path, resume=True) == 6
    assert backend.asked == [4]
    assert settle_batch_size(backend, None, PROMPTS, folder=tmp_path, resume=True) == DEFAULT_BATCH_SIZE
    (tmp_path / "manifest.json").write_text(json.dumps({"config": {"batch_size": 3}}))
    assert settle_batch_size(backend, "auto", PROMPTS, folder=tmp_path, resume=True) == 3
    assert backend.batch_size == 3
