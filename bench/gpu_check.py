"""A GPU check, ready for the day a CUDA machine is there: no network, no downloaded weights.

It builds randomly initialised Llama models from configs (the embedded model's shape, SmolLM2-135M,
and a 7B-class shape, Llama-2-7B's) and a small tokenizer trained here on the project's own bank
texts, then

1. checks that bf16 distributions on the device agree with fp32 within ``TOLERANCE`` (small shape);
2. checks that PEFT adapters switch on the device (each gives its own numbers, and again the same);
3. times questionnaire scoring on the topics bank's forms, with and without prefix sharing:
   prompts/s, and useful FLOP/s (2 x non-embedding parameters x prompt tokens actually computed)
   against the device's measured bf16 matrix-multiply rate; and lm-eval's HF model on the same
   prompts when lm-eval is installed;
4. times a few LoRA and InhibitFT training steps (a plain PEFT + AdamW loop, bf16 autocast; the
   InhibitFT mask is polistance's own, and its pinned rows must stay unchanged);

and prints one table (exit code 1 when a check fails). It needs torch, transformers, peft and
accelerate, plus polistance's few pure-Python dependencies that its imports reach (pydantic and
its helpers; see README of docs/gpu.md), and finishes in well under 8 minutes on one modern GPU.

Usage:
  python bench/gpu_check.py                       # on a CUDA machine
  python bench/gpu_check.py --device cpu --tiny   # dry run with tiny shapes (the test suite runs it)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOLERANCE = 0.05
"""bf16 vs fp32: the largest difference in any answer option's probability that passes. bf16 keeps 8
bits of mantissa; on the random 30-layer small shape (peaked distributions, top digit near 0.75) the
CPU gives 0.028 (measured here). A broken device path (masks, padding, NaN) is far above it."""
USEFUL_TARGET = 0.40  # the target for the 7B-class shape: useful FLOP/s / bf16 matrix rate
SHAPES = {
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True, rope_theta=100000.0),
    "llama-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                     num_key_value_heads=32, vocab_size=32000, tie_word_embeddings=False),
}
TINY = {
    "smollm2-135m": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=4096, tie_word_embeddings=True),
    "llama-7b": dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
                     num_key_value_heads=4, vocab_size=4096, tie_word_embeddings=False),
}
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
ROWS: list[tuple[str, str, str, str, str]] = []


def row(check: str, shape: str, result: str, target: str = "", ok: bool | None = None) -> None:
    ROWS.append((check, shape, result, target, "" if ok is None else ("yes" if ok else "NO")))
    print(f"  {check} [{shape}]: {result}", flush=True)


# ---- building blocks -----------------------------------------------------------------------------
def bank_prompts() -> list[str]:
    from polistance_plugins.banks import load_bank
    from polistance_plugins.instruments.questionnaire import bank_forms, directions_for

    bank = load_bank("topics")
    return [f.prompt() for f in bank_forms(bank, "all", directions_for(bank, "auto"))]


def build_tokenizer(vocab_size: int):
    """A byte-level BPE tokenizer trained here on the bundled banks' texts, with a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from polistance_plugins.banks import available_banks, load_bank

    texts = bank_prompts()
    for name in available_banks():
        with contextlib.suppress(Exception):
            texts += [str(getattr(item, "text", "")) for item in load_bank(name).items]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.train_from_iterator(texts * 3, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(shape: dict, tokenizer, dtype, device: str, seed: int = 0):
    """A randomly initialised Llama of ``shape`` on ``device``; the embedding is scaled so that the
    next-token distributions are far from uniform, as a trained model's are."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**shape, max_position_embeddings=2048, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(before)
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(8.0)
    return model.eval()


def non_embedding_parameters(model) -> int:
    cfg = model.config
    emb = cfg.vocab_size * cfg.hidden_size
    return sum(p.numel() for p in model.parameters()) - emb * (1 if cfg.tie_word_embeddings else 2)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_rate(device: str, dtype, n: int, reps: int = 10) -> float:
    """FLOP/s of an n x n matrix multiply in ``dtype`` on ``device`` (best of ``reps``)."""
    import torch

    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


# ---- the checks ----------------------------------------------------------------------------------
def check_precision(shape_name: str, shape: dict, tokenizer, device: str, prompts: list[str]) -> bool:
    """bf16 vs fp32 answer distributions of the same weights on the device."""
    import torch

    from polistance_plugins.core import DIGITS
    from polistance_plugins.engine.backends.hf import LocalBackend

    fp32 = build_model(shape, tokenizer, torch.float32, device, seed=1)
    bf16 = copy.deepcopy(fp32).to(torch.bfloat16)
    a = LocalBackend.from_loaded(fp32, tokenizer, shape_name, batch_size=32).distributions(prompts, DIGITS)
    b = LocalBackend.from_loaded(bf16, tokenizer, shape_name, batch_size=32).distributions(prompts, DIGITS)
    worst = max(abs(p - q) for x, y in zip(a, b) for p, q in zip(x.probs, y.probs))
    ok = worst <= TOLERANCE
    row("bf16 vs fp32: largest |dp| of a digit", shape_name, f"{worst:.4f} over {len(prompts)} prompts", f"<= {TOLERANCE}", ok)
    del fp32, bf16
    return ok


def check_adapters(shape_name: str, model, tokenizer, work: Path, prompts: list[str]) -> bool:
    """Two LoRA adapters loaded next to the base on the device: each changes the answers, and
    switching back and forth gives the same numbers again."""
    import torch
    from peft import LoraConfig, get_peft_model

    from polistance_plugins.core import DIGITS
    from polistance_plugins.engine.backends.hf import LocalBackend

    folders = {}
    for name, seed in (("a", 1), ("b", 2)):
        torch.manual_seed(seed)
        peft = get_peft_model(copy.deepcopy(model), LoraConfig(r=8, target_modules="all-linear", init_lora_weights=False))
        folders[name] = work / name
        peft.save_pretrained(folders[name])
        del peft
    backend = LocalBackend.from_loaded(model, tokenizer, shape_name, batch_size=16)
    for name, folder in folders.items():
        backend.load_adapter(name, str(folder))
    probs = {}
    for label in (None, "a", "b", None, "a"):
        with backend.use(label):
            probs.setdefault(label, []).append([d.probs for d in backend.distributions(prompts, DIGITS)])
    differs = probs[None][0] != probs["a"][0] and probs["a"][0] != probs["b"][0]
    again = probs[None][0] == probs[None][1] and probs["a"][0] == probs["a"][1]
    where = str(next(model.parameters()).device)
    row("adapters switch on the device", shape_name, f"base, a, b differ: {differs}; same again: {again} ({where})", "both", differs and again)
    backend._peft.unload()
    return differs and again


def time_scoring(shape_name: str, model, tokenizer, device: str, prompts: list[str], batch, peak: float, lm_eval_too: bool) -> dict:
    """prompts/s with and without prefix sharing, and useful FLOP/s against the matmul rate."""
    from polistance_plugins.core import DIGITS
    from polistance_plugins.engine.backends.hf import LocalBackend

    backend = LocalBackend.from_loaded(model, tokenizer, shape_name, batch_size=batch)
    backend.distributions(prompts[:8], DIGITS)  # warm-up (and the auto batch size)
    non_emb = non_embedding_parameters(model)
    out = {}
    for share in (True, False):
        before = backend.computed_tokens
        sync(device)
        t = time.perf_counter()
        backend.distributions(prompts, DIGITS, share_prefix=share)
        sync(device)
        seconds = time.perf_counter() - t
        computed = backend.computed_tokens - before
        out[share] = (len(prompts) / seconds, 2 * non_emb * computed / seconds, computed)
    tokens = sum(len(backend.encode(backend.chat_prompt(p))) for p in prompts)
    (rate, useful, computed), (plain, _, _) = out[True], out[False]
    row("scoring with prefix sharing", shape_name, f"{rate:.1f} prompts/s (batch {backend.batch_size}; {computed} of {tokens} prompt tokens computed)")
    row("scoring without sharing", shape_name, f"{plain:.1f} prompts/s; sharing {rate / plain:.2f}x")
    limit = peak / (2 * non_emb * tokens / len(prompts))
    row("no-reuse limit at the matmul rate", shape_name, f"{limit:.1f} prompts/s; sharing is {rate / limit:.2f}x of it")
    target = shape_name == "llama-7b" and device.startswith("cuda")
    row("useful FLOP/s / bf16 matmul rate", shape_name, f"{useful / 1e12:.2f} / {peak / 1e12:.2f} TFLOP/s = {useful / peak:.0%}",
        f">= {USEFUL_TARGET:.0%}" if target else "", (useful / peak >= USEFUL_TARGET) if target else None)
    if lm_eval_too:
        lm_rate = lm_eval_rate(model, tokenizer, backend, prompts, backend.batch_size)  # noqa: E501
        if lm_rate is None:
            row("vs lm-eval's HF model", shape_name, "not measured: lm-eval is not installed here", ">= 1.5x")
        else:
            row("vs lm-eval's HF model", shape_name, f"{lm_rate:.1f} prompts/s: polistance {rate / lm_rate:.2f}x", ">= 1.5x",
                rate / lm_rate >= 1.5 if device.startswith("cuda") else None)
    return {"rate": rate, "plain": plain, "useful": useful}


def lm_eval_rate(model, tokenizer, backend, prompts: list[str], batch: int) -> float | None:
    """lm-eval's HF model on the same prompts (ten one-digit continuations each), prompts/s."""
    try:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM
    except ImportError:
        return None
    from polistance_plugins.core import DIGITS

    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch)
    requests = [Instance("loglikelihood", {}, (backend.chat_prompt(p), d), i) for i, p in enumerate(prompts) for d in DIGITS]
    lm.loglikelihood(requests[:20], disable_tqdm=True)
    t = time.perf_counter()
    lm.loglikelihood(requests, disable_tqdm=True)
    return len(prompts) / (time.perf_counter() - t)


def time_training(shape_name: str, model, device: str, steps: int, batch: int, length: int, rank: int) -> bool:
    """Seconds per LoRA step, then per InhibitFT step (5% of each layer's MLP outputs pinned)."""
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model

    from polistance_plugins.neurons.inhibit import InhibitMask

    gpu = device.startswith("cuda")
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(10, model.config.vocab_size, (batch, length), generator=gen).to(device)
    width, layers = model.config.hidden_size, model.config.num_hidden_layers
    pinned = {layer: np.sort(np.random.default_rng(layer).choice(width, max(1, width // 20), replace=False)) for layer in range(layers)}
    ok = True
    for label, mask in (("LoRA", None), ("InhibitFT", InhibitMask(pinned, "mlp_out"))):
        peft = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", lora_dropout=0.0))
        peft.train()
        if mask is not None:
            mask.attach(peft)
        params = [p for p in peft.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
        times = []
        for step in range(steps + 1):
            sync(device)
            t = time.perf_counter()
            with torch.autocast(device_type="cuda" if gpu else "cpu", dtype=torch.bfloat16, enabled=gpu):
                loss = peft(input_ids=ids, labels=ids).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if mask is not None:
                mask.restore()
            sync(device)
            times.append(time.perf_counter() - t)
        per_step = sum(times[1:]) / steps  # the first step warms up
        note, good = "", None
        if mask is not None:
            good = mask.check() and mask.restored_drift == 0.0
            ok = ok and good
            note = f"; {int(sum(len(d) for d in pinned.values()))} rows pinned, unchanged after {steps + 1} steps: {good}"
            mask.detach()
        row(f"{label} training step", shape_name, f"{per_step:.3f} s/step ({batch} x {length} tokens, rank {rank}){note}",
            "rows unchanged" if mask is not None else "", good)
        peft.unload()
        model.train(False)
        del opt, params
    return ok


def polistance_needs() -> list[str]:
    """Top-level packages that polistance's modules used here import beyond torch, transformers, peft
    and accelerate (what a GPU machine with only those four needs carried as wheels)."""
    import accelerate  # noqa: F401
    import peft  # noqa: F401
    import tokenizers  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: F401

    before = {m.split(".")[0] for m in sys.modules}
    import polistance_plugins.banks  # noqa: F401
    import polistance_plugins.engine.backends.hf  # noqa: F401
    import polistance_plugins.instruments.questionnaire  # noqa: F401
    import polistance_plugins.neurons.inhibit  # noqa: F401

    new = {m.split(".")[0] for m in sys.modules} - before - set(sys.stdlib_module_names) - {"polistance_plugins"}
    return sorted(m for m in new if not m.startswith("_"))


# ---- main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a dry run")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes and few prompts: a dry run of every step in seconds")
    ap.add_argument("--shapes", default="smollm2-135m,llama-7b", help="which shapes to time (comma list)")
    ap.add_argument("--prompts", type=int, default=None, help="questionnaire prompts to time (default: all 504, or 32 with --tiny)")
    args = ap.parse_args(argv)

    import torch

    start = time.perf_counter()
    gpu = args.device.startswith("cuda")
    if gpu and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; for a dry run use --device cpu --tiny", file=sys.stderr)
        return 2
    shapes = TINY if args.tiny else SHAPES
    names = [s.strip() for s in args.shapes.split(",") if s.strip()]
    needs = polistance_needs()
    prompts = bank_prompts()[: args.prompts or (16 if args.tiny else None)]
    where = torch.cuda.get_device_name(args.device) if gpu else "cpu"
    print(f"gpu_check on {where}: torch {torch.__version__}, {len(prompts)} prompts; polistance's imports need, beyond "
          f"torch, transformers, peft and accelerate: {', '.join(needs) or 'nothing'}", flush=True)
    tokenizer = build_tokenizer(4096 if args.tiny else 8192)
    peak = matmul_rate(args.device, torch.bfloat16 if gpu else torch.float32, 512 if args.tiny else 8192)
    row("matrix multiply rate", "-", f"{peak / 1e12:.3f} TFLOP/s ({'bf16' if gpu else 'fp32'})")
    ok = check_precision("smollm2-135m", shapes["smollm2-135m"], tokenizer, args.device, prompts[:64])
    dtype = torch.bfloat16 if gpu else torch.float32
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            model = build_model(shapes[name], tokenizer, dtype, args.device)
            if name == "smollm2-135m":
                ok = check_adapters(name, model, tokenizer, Path(tmp), prompts[:8]) and ok
            time_scoring(name, model, tokenizer, args.device, prompts, "auto" if gpu else 16, peak, lm_eval_too=True)
            ok = time_training(name, model, args.device, steps=2 if args.tiny else 5, batch=2 if args.tiny else 8,
                               length=32 if args.tiny else 256, rank=4 if args.tiny else 32) and ok
            del model
            if gpu:
                torch.cuda.empty_cache()
    total = time.perf_counter() - start
    row("total time", "-", f"{total:.0f} s", "< 480 s", total < 480 if not args.tiny else None)
    print_table()
    return 0 if ok and (args.tiny or total < 480) else 1


def print_table() -> None:
    heads = ("check", "shape", "result", "target", "ok")
    widths = [max(len(h), *(len(r[i]) for r in ROWS)) for i, h in enumerate(heads)]
    line = "  ".join(h.ljust(w) for h, w in zip(heads, widths))
    print("\n" + line + "\n" + "-" * len(line))
    for r in ROWS:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    sys.exit(main())
