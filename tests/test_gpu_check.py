"""``bench/gpu_check.py --device cpu --tiny``: every step of the GPU check runs (tiny shapes, the CPU)
and its table holds each check, passed."""

import importlib.util
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"


def test_gpu_check_dry_run_on_the_cpu(capsys):
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = gpu_check.main(["--device", "cpu", "--tiny"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert code == 0, out
    table = out[out.index("\ncheck "):]
    checks = {r[0]: r for r in gpu_check.ROWS}
    for name in ("bf16 vs fp32: largest |dp| of a digit", "adapters switch on the device", "scoring with prefix sharing",
                 "scoring without sharing", "useful FLOP/s / bf16 matmul rate", "LoRA training step",
                 "InhibitFT training step", "vs lm-eval's HF model", "total time"):
        assert name in checks and name in table
    assert checks["bf16 vs fp32: largest |dp| of a digit"][4] == "yes"
    assert checks["adapters switch on the device"][4] == "yes"
    assert [r[4] for r in gpu_check.ROWS if r[0] == "InhibitFT training step"] == ["yes", "yes"]  # both shapes
    assert {r[1] for r in gpu_check.ROWS if r[0] == "scoring with prefix sharing"} == {"smollm2-135m", "llama-7b"}
