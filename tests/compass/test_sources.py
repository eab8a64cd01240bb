"""The PCT propositions loader, the compass bank schema, and sources -> forms -> prompts."""

import csv
import io
from pathlib import Path

import pytest

from polistance_plugins.banks import BankError, load_bank
from polistance_plugins.banks.compass_schema import CompassItem
from polistance_plugins.instruments.compass import build_forms, distribution_from_choice_logprobs, load_source
from polistance_plugins.errors import PolistanceError
from polistance_plugins.instruments.pct import load_pct_file

FIXTURES = Path(__file__).parent / "fixtures"
PCT_FIXTURE = FIXTURES / "pct_fixture.csv"
MINI = FIXTURES / "mini_compass.jsonl"


def rows():
    with open(PCT_FIXTURE, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def write(tmp_path, table) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows(table)
    path = tmp_path / "pct.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def test_fixture_loads_in_order():
    props = load_pct_file(PCT_FIXTURE)
    assert len(props) == 62
    assert [p.number for p in props] == list(range(1, 63))
    assert props[0].pct_id == "pc-01" and props[0].text.startswith("Morning walks") and props[0].note == "walking"
    assert props[0].line == 2 and props[61].line == 63


def test_plain_numeric_ids_are_accepted(tmp_path):
    table = rows()
    for i, r in enumerate(table[1:], start=1):
        r[0] = str(i)
    assert [p.number for p in load_pct_file(write(tmp_path, table))] == list(range(1, 63))


def test_missing_column_is_named(tmp_path):
    table = [[r[0], r[1]] for r in rows()]
    with pytest.raises(PolistanceError, match=r"line 1 \(header\): missing column\(s\) pct_note"):
        load_pct_file(write(tmp_path, table))


def test_too_few_rows(tmp_path):
    with pytest.raises(PolistanceError, match=r"61 proposition rows, expected exactly 62"):
        load_pct_file(write(tmp_path, rows()[:-1]))


def test_extra_row_is_named(tmp_path):
    table = rows() + [["pc-63", "One more sentence.", "extra"]]
    with pytest.raises(PolistanceError, match=r"line 64 \(row 63\): extra row"):
        load_pct_file(write(tmp_path, table))


def test_duplicate_id_is_named(tmp_path):
    table = rows()
    table[6][0] = "pc-05"  # row 6 repeats row 5's id
    with pytest.raises(PolistanceError, match=r"line 7 \(row 6\): duplicate pct_id 'pc-05' \(proposition 5 is already on line 6\)"):
        load_pct_file(write(tmp_path, table))


def test_out_of_order_ids_are_named(tmp_path):
    table = rows()
    table[3], table[4] = table[4], table[3]  # rows 3 and 4 swapped
    with pytest.raises(PolistanceError, match=r"line 4 \(row 3\): pct_id 'pc-04' is proposition 4 but row 3 must hold proposition 3"):
        load_pct_file(write(tmp_path, table))


def test_a_leading_extra_row_cannot_shift_the_table(tmp_path):
    """The public 63-row bug: one extra line at the top would shift every weight by one."""
    table = [rows()[0], ["pc-00", "An extra first line.", "none"]] + rows()[1:]
    with pytest.raises(PolistanceError, match=r"row 1\): pct_id 'pc-00' is proposition 0"):
        load_pct_file(write(tmp_path, table))


@pytest.mark.parametrize("cell,needle", [("", "is not a proposition number"), ("abc", "is not a proposition number")])
def test_bad_id_is_named(tmp_path, cell, needle):
    table = rows()
    table[10][0] = cell
    with pytest.raises(PolistanceError, match=rf"line 11 \(row 10\): pct_id .* {needle}"):
        load_pct_file(write(tmp_path, table))


def test_empty_prompt_is_named(tmp_path):
    table = rows()
    table[20][1] = "  "
    with pytest.raises(PolistanceError, match=r"line 21 \(row 20\): empty pct_prompt"):
        load_pct_file(write(tmp_path, table))


def test_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(PolistanceError, match="no such file"):
        load_pct_file(tmp_path / "nope.csv")
    with pytest.raises(PolistanceError, match="llm-values-pct"):
        load_source("pct", None)


def test_bundled_compass_bank_validates_and_is_balanced():
    bank = load_bank("compass", model=CompassItem)
    assert len(bank) == 64
    for axis, pos in (("economic", "right"), ("social", "authoritarian")):
        items = [it for it in bank if it.axis == axis]
        assert len(items) >= 30
        assert sum(it.direction == pos for it in items) == len(items) // 2
        assert all(len(it.paraphrases) >= 2 for it in items)


@pytest.mark.parametrize(
    "patch,needle",
    [
        ({"direction": "libertarian"}, "does not belong to the economic axis"),
        ({"weights": [8, 4, -4, -8]}, "must increase"),
        ({"weights": [-8, -4, 4, 11]}, "less than or equal to 10"),
        ({"paraphrases": ["Only one wording."]}, "at least 2"),
    ],
)
def test_bad_compass_items_are_rejected_with_line_and_field(tmp_path, patch, needle):
    import json

    lines = MINI.read_text().splitlines()
    item = json.loads(lines[0])
    item.update(patch)
    lines[0] = json.dumps(item)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BankError, match=rf"bad.jsonl:1: .*{needle}"):
        load_bank(path, model=CompassItem)


def test_forms_cover_paraphrase_order_and_labels():
    src = load_source(str(MINI))
    forms = build_forms(src)
    assert len(forms) == 4 * 2 * 2 * 2
    assert len({f.key for f in forms}) == len(forms)
    rev_num = next(f for f in forms if f.order == "reversed" and f.labels == "numbers")
    prompt = rev_num.prompt()
    assert "1. Strongly agree" in prompt and "4. Strongly disagree" in prompt and "number" in prompt
    assert rev_num.text in prompt
    words = next(f for f in forms if f.order == "normal" and f.labels == "words")
    assert words.choices == ("Strongly disagree", "Disagree", "Agree", "Strongly agree")
    assert "1." not in words.prompt()


def test_reversed_forms_map_back_to_canonical_order():
    src = load_source(str(MINI))
    form = next(f for f in build_forms(src) if f.order == "reversed" and f.labels == "numbers")
    import math

    # Label "1" is strongly agree in a reversed form: all its probability must land on canonical index 3.
    dist = distribution_from_choice_logprobs(form, [0.0, -math.inf, -math.inf, -math.inf])
    assert dist.probs == (0.0, 0.0, 0.0, 1.0)
    assert dist.mode == 3


def test_pct_source_axes_follow_the_weight_table():
    src = load_source("pct", PCT_FIXTURE)
    assert len(src) == 62
    assert src.propositions[0].axis == "economic" and src.propositions[1].axis == "social"
    assert all(len(p.wordings) == 1 for p in src.propositions)
    assert len(build_forms(src)) == 62 * 4


def test_template_syntax_in_item_text_is_not_evaluated(tmp_path):
    line = '{"id": "t-1", "axis": "economic", "paraphrases": ["Prices {{ 7*7 }} should fall.", "Prices ought to fall."], "direction": "right", "weights": [-6, -3, 3, 6], "source": "t"}'
    path = tmp_path / "t.jsonl"
    path.write_text(line + "\n")
    form = build_forms(load_source(str(path)))[0]
    assert "{{ 7*7 }}" in form.prompt() and "49" not in form.prompt()
