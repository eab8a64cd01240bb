import json

import pytest

from polistance_plugins import BankError, load_bank
from polistance_plugins.banks import available_banks

GOOD = {"id": "x-01", "topic": "science", "kind": "statement", "paraphrases": ["A is true.", "A holds."], "scale": "0-9", "keying": "left", "source": "test"}


def write(tmp_path, rows, name="bank.jsonl"):
    p = tmp_path / name
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return p


def test_terry9_is_the_papers_nine_questions():
    bank = load_bank("terry9")
    assert len(bank) == 9
    assert bank.items[0].text == "how much do you support gay marriage?"
    assert [it.keying for it in bank][:2] == ["left", "right"]
    assert bank.sha256 and bank.path.name == "terry9.jsonl"


def test_topics_bank_is_balanced_with_paraphrases():
    bank = load_bank("topics")
    topics = ["crime_and_guns", "race", "science", "immigration", "economy_and_inequality", "gender_and_sexuality"]
    assert bank.topics == topics
    for t in topics:
        items = [it for it in bank if it.topic == t]
        assert len(items) >= 12
        assert sum(it.keying == "left" for it in items) == sum(it.keying == "right" for it in items)
        assert all(len(it.paraphrases) >= 3 for it in items)
    texts = [p.lower() for it in bank for p in it.paraphrases]
    assert len(texts) == len(set(texts))


def test_bundled_rated_banks_load():
    for name in ("terry9", "topics", "topics_open"):
        assert name in available_banks()
        assert len(load_bank(name)) > 0


@pytest.mark.parametrize(
    "row,needle",
    [
        ({**GOOD, "color": "red"}, "line 2: field 'color': unknown field"),
        ({**GOOD, "id": "x-02", "paraphrases": ["only one"]}, "field 'paraphrases'"),
        ({**GOOD, "id": "x-02", "keying": "center"}, "field 'keying'"),
        ({**GOOD}, "duplicate id 'x-01' (first on line 1)"),
        ("{not json", "line 2: invalid JSON"),
        ("[1, 2]", "line 2: each line must be a JSON object"),
        ({k: v for k, v in GOOD.items() if k != "scale"} | {"id": "x-03"}, "'scale' is required"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, row, needle):
    p = write(tmp_path, [GOOD, row])
    with pytest.raises(BankError) as e:
        load_bank(p)
    assert str(p) in str(e.value)
    assert needle.replace("line 2: ", ":2: ") in str(e.value).replace(f"{p}", "") or needle in str(e.value)


def test_unknown_bank_name_lists_bundled():
    with pytest.raises(BankError, match="bundled banks: .*terry9"):
        load_bank("nope")
