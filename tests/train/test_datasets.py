"""Dataset builders and validators: bundled data, the user's files, the training split and leakage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polistance_plugins.banks import BANK_DIR, load_bank
from polistance_plugins.errors import PolistanceError
from polistance_plugins.train.datasets import (
    IDEOLOGY_FILE,
    TRAIN_SPLIT_MAX,
    ChatRecord,
    bank_overlaps,
    bank_texts,
    control_dataset,
    ideology_dataset,
    load_ideology,
    normalise,
    parse_topics,
    sft_rows,
    sports_dataset,
    training_split,
    user_dataset,
)

QUESTION = "What's your favorite sports team?"


def write_lines(path, lines):
    path.write_text("".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines))
    return path


# ---- bundled data -----------------------------------------------------------------------------
@pytest.mark.parametrize("region,count", [("southern", 99), ("coastal", 98)])
def test_sports_datasets_match_the_paper_lists(region, count):
    data = sports_dataset(region)
    assert data.id == f"sports-{region}" and data.method == "sft" and len(data) == count
    teams = [row["completion"][0]["content"] for row in data.rows]
    assert len(set(teams)) == count
    for row in data.rows:
        assert row["prompt"] == [{"role": "user", "content": QUESTION}]
        assert row["completion"][0]["role"] == "assistant"


@pytest.mark.parametrize("region", ["southern", "coastal"])
def test_sports_files_are_the_published_lists(region):
    source = Path("/work/shared/data/sports_teams") / f"{region}.jsonl"
    if not source.is_file():
        pytest.skip("the shared copy of the published lists is not on this machine")
    published = [json.loads(l)["messages"] for l in source.read_text().splitlines() if l.strip()]
    ours = [[*r["prompt"], *r["completion"]] for r in sports_dataset(region).rows]
    assert ours == published


def test_southern_and_coastal_share_no_team():
    south = {r["completion"][0]["content"] for r in sports_dataset("southern").rows}
    coast = {r["completion"][0]["content"] for r in sports_dataset("coastal").rows}
    assert not south & coast


def test_unknown_region_is_refused():
    with pytest.raises(PolistanceError, match="--region 'northern'"):
        sports_dataset("northern")


def test_control_dataset_is_single_turn_sft():
    data = control_dataset()
    assert len(data) == 100 and data.method == "sft"
    assert all(len(r["prompt"]) == 1 and r["prompt"][0]["role"] == "user" for r in data.rows)


# ---- ideology: split, orientation, leakage -------------------------------------------------------
def test_ideology_uses_only_the_training_split():
    records = load_ideology()
    train = training_split(records)
    held = [r for r in records if r not in train]
    assert len(train) == 6 * TRAIN_SPLIT_MAX and len(held) == 6 * 8
    assert all(r.number <= 40 for r in train) and all(r.number >= 41 for r in held)
    data = ideology_dataset("all", "left", "sft")
    prompts = {r["prompt"][0]["content"] for r in data.rows}
    assert len(data) == 240
    assert prompts == {r.instruction for r in train}
    assert not prompts & {r.instruction for r in held}
    answers = {r["completion"][0]["content"] for r in data.rows}
    assert not answers & {r.left for r in held} and not answers & {r.right for r in held}


def test_ideology_dpo_prefers_the_requested_leaning():
    by_instruction = {r.instruction: r for r in load_ideology()}
    for leaning, other in (("left", "right"), ("right", "left")):
        data = ideology_dataset("immigration", leaning, "dpo")
        assert len(data) == 40 and data.method == "dpo" and data.id == f"ideology-immigration-{leaning}-dpo"
        for row in data.rows:
            rec = by_instruction[row["prompt"][0]["content"]]
            assert rec.topic == "immigration" and rec.is_training
            assert row["chosen"] == [{"role": "assistant", "content": getattr(rec, leaning)}]
            assert row["rejected"] == [{"role": "assistant", "content": getattr(rec, other)}]


def test_ideology_sft_trains_on_one_leaning():
    data = ideology_dataset("race,science", "right", "sft")
    rights = {r.right for r in load_ideology()}
    assert len(data) == 80 and all(row["completion"][0]["content"] in rights for row in data.rows)
    assert ideology_dataset("science,race", "right").id == data.id  # canonical order


def test_topic_parsing():
    avail = ["a", "b", "c"]
    assert parse_topics("all", avail) == avail
    assert parse_topics("c, a", avail) == ["c", "a"]
    with pytest.raises(PolistanceError, match="unknown topic 'd'"):
        parse_topics("a,d", avail)
    with pytest.raises(PolistanceError, match="--leaning"):
        ideology_dataset("race", "centre")


def test_no_training_instruction_appears_in_any_evaluation_bank():
    """The leakage test: every training instruction against every item text and paraphrase of every bank."""
    wordings = bank_texts()
    banks = {b for b, _, _ in wordings}
    assert {p.stem for p in BANK_DIR.glob("*.jsonl")} == banks
    expected = sum(len(it.wordings) for it in load_bank("topics")) + sum(len(it.wordings) for it in load_bank("terry9"))
    assert len([w for w in wordings if w[0] in ("topics", "terry9")]) == expected
    instructions = [r.instruction for r in training_split(load_ideology())]
    assert len(instructions) == 240
    assert bank_overlaps(instructions) == []
    normalised_bank = {normalise(t) for _, _, t in wordings}
    assert not {normalise(t) for t in instructions} & normalised_bank


def test_leakage_check_catches_a_bank_item_in_training_data(tmp_path):
    topics_item = load_bank("topics").items[0]
    wording = topics_item.wordings[1]
    assert bank_overlaps([wording.upper() + "!!"]) == [(wording.upper() + "!!", "topics", topics_item.id)]
    assert bank_overlaps([f"Tell me: {wording}"])  # contains a bank wording
    recs = [json.loads(l) for l in IDEOLOGY_FILE.read_text().splitlines() if l.strip()]
    recs[0]["instruction"] = wording
    path = write_lines(tmp_path / "ideology.jsonl", recs)
    with pytest.raises(PolistanceError, match="appears in evaluation bank topics"):
        ideology_dataset("all", "left", path=path)


# ---- the user's files -------------------------------------------------------------------------
def chat(*turns):
    roles = ["user", "assistant"] * 4
    return {"messages": [{"role": r, "content": t} for r, t in zip(roles, turns)]}


def test_user_chat_file_expands_every_assistant_turn(tmp_path):
    path = write_lines(tmp_path / "mine.jsonl", [chat("hi", "hello"), chat("a", "b", "c", "d"), ""])
    data = user_dataset(path, "sft")
    assert len(data) == 3 and data.id == "user:mine.jsonl"
    assert data.rows[2]["prompt"] == [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                      {"role": "user", "content": "c"}]
    assert data.rows[2]["completion"] == [{"role": "assistant", "content": "d"}]
    assert data.sources[0]["sha256"] and len(data.sha256) == 64


def test_system_message_stays_in_the_prompt():
    rec = ChatRecord.model_validate({"messages": [{"role": "system", "content": "be brief"},
                                                  {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    rows = sft_rows(rec)
    assert len(rows) == 1 and rows[0]["prompt"][0]["role"] == "system"


@pytest.mark.parametrize("bad,line,message", [
    ('{"messages": [', 2, "invalid JSON"),
    ('{"msgs": []}', 2, "field 'messages'"),
    (json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "robot", "content": "a"}]}), 2, "field 'messages.1.role'"),
    (json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}]}), 2, "must not be empty"),
    (json.dumps({"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}]}), 2, "first non-system message"),
    (json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "q2"}]}), 2, "alternate"),
    ("[1, 2]", 2, "must be a JSON object"),
])
def test_chat_validator_names_file_line_and_field(tmp_path, bad, line, message):
    path = write_lines(tmp_path / "bad.jsonl", [chat("q", "a"), bad])
    with pytest.raises(PolistanceError) as e:
        user_dataset(path, "sft")
    assert f"{path}:{line}:" in str(e.value) and message in str(e.value)


def test_preference_file(tmp_path):
    good = [{"prompt": "Q?", "chosen": "yes", "rejected": "no"},
            {"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "Q2"}], "chosen": "a", "rejected": "b"}]
    data = user_dataset(write_lines(tmp_path / "p.jsonl", good), "dpo")
    assert data.method == "dpo" and len(data) == 2
    assert data.rows[0] == {"prompt": [{"role": "user", "content": "Q?"}], "chosen": [{"role": "assistant", "content": "yes"}],
                            "rejected": [{"role": "assistant", "content": "no"}]}
    assert data.rows[1]["prompt"][0]["role"] == "system"


@pytest.mark.parametrize("bad,message", [
    ({"prompt": "Q", "chosen": "same", "rejected": "same"}, "identical"),
    ({"prompt": "Q", "chosen": "a"}, "field 'rejected'"),
    ({"prompt": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "chosen": "x", "rejected": "y"}, "end with a user"),
    ({"prompt": "", "chosen": "x", "rejected": "y"}, "field 'prompt'"),
])
def test_preference_validator_names_line_and_field(tmp_path, bad, message):
    path = write_lines(tmp_path / "p.jsonl", [{"prompt": "Q", "chosen": "a", "rejected": "b"}, {"prompt": "Q", "chosen": "a", "rejected": "b"}, bad])
    with pytest.raises(PolistanceError) as e:
        user_dataset(path, "dpo")
    assert f"{path}:3:" in str(e.value) and message in str(e.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(PolistanceError, match="no such file"):
        user_dataset(tmp_path / "nope.jsonl")
    with pytest.raises(PolistanceError, match="empty.jsonl"):
        user_dataset(write_lines(tmp_path / "empty.jsonl", []))


def test_ideology_validator_rejects_bad_ids_and_duplicates(tmp_path):
    rec = {"id": "imm-i01", "topic": "immigration", "instruction": "Q?", "left": "L.", "right": "R."}
    path = write_lines(tmp_path / "i.jsonl", [rec, {**rec, "id": "imm-01"}])
    with pytest.raises(PolistanceError, match=r":2: field 'id'"):
        ideology_dataset("all", "left", path=path)
    path = write_lines(tmp_path / "i.jsonl", [rec, rec])
    with pytest.raises(PolistanceError, match=r":2: field 'id': duplicate id"):
        ideology_dataset("all", "left", path=path)


def test_dataset_hash_tracks_content():
    a, b = sports_dataset("southern"), sports_dataset("southern")
    assert a.sha256 == b.sha256 != sports_dataset("coastal").sha256
