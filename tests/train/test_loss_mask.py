"""The SFT loss covers exactly the assistant turn: the answer and its end-of-turn tokens, nothing else."""

from __future__ import annotations

import pytest

from polistance_plugins.train.datasets import ideology_dataset, sports_dataset
from polistance_plugins.train.runner import load_base, lora_config, trainer_arguments
from polistance_plugins.train.sft import build_sft_trainer

from .conftest import tiny_config


@pytest.fixture(scope="module")
def prepared(tiny_model_dir, tmp_path_factory):
    """The SFT trainer's tokenized training rows for two datasets, before any training step."""
    out = tmp_path_factory.mktemp("mask")
    model, tok = load_base(str(tiny_model_dir))
    config = tiny_config()
    result = {}
    for data in (sports_dataset("southern"), ideology_dataset("immigration", "left")):
        trainer = build_sft_trainer(model=model, tokenizer=tok, dataset=data.to_hf(), peft_config=lora_config(config),
                                    arguments=trainer_arguments(config, out), config=config)
        result[data.id] = (data, trainer)
        model = trainer.model.unload()  # the next trainer wraps a fresh base
    return tok, result


@pytest.mark.parametrize("data_id", ["sports-southern", "ideology-immigration-left-sft"])
def test_labels_are_exactly_the_assistant_tokens(prepared, tiny_backend, data_id):
    tok, result = prepared
    data, trainer = result[data_id]
    rows = trainer.train_dataset
    assert len(rows) == len(data)
    for i in range(0, len(data), 7):
        ids, labels = rows[i]["input_ids"], rows[i]["labels"]
        user = data.rows[i]["prompt"][-1]["content"]
        answer = data.rows[i]["completion"][0]["content"]
        n_prompt = sum(1 for l in labels if l == -100)
        # the masked part is the whole prompt as the harness renders it, generation prompt included ...
        assert tok.decode(ids[:n_prompt]) == tiny_backend.chat_prompt(user)
        # ... and the trained part is the answer plus the end-of-turn marker, as one contiguous tail
        assert all(l == -100 for l in labels[:n_prompt]) and labels[n_prompt:] == ids[n_prompt:]
        assert tok.decode(labels[n_prompt:]) == answer + "<|im_end|>\n"


def test_collated_batch_masks_padding(prepared):
    tok, result = prepared
    data, trainer = result["sports-southern"]
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    lengths = [len(trainer.train_dataset[i]["input_ids"]) for i in range(4)]
    for r, n in enumerate(lengths):
        trained = batch["labels"][r][batch["labels"][r] != -100].tolist()
        assert trained == trainer.train_dataset[r]["labels"][-len(trained):]
        assert int(batch["attention_mask"][r].sum()) == n
