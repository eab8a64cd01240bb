"""The ideology training split must stay off the sub-issues that the topics bank asks about.

Every topics-bank statement and every ideology row names its sub-issue (the concrete policy question).
If a training instruction (ids 01-40) asked the same question as a bank statement, an in-topic stance
shift measured on the bank would partly measure the training set itself. Two checks guard this: the
sub-issue labels are disjoint, and, independent of the labels, no training row uses a key phrase of a
bank statement.
"""

import re
from collections import Counter

from polistance_plugins import load_bank
from polistance_plugins.train.datasets import load_ideology, training_split

# Key phrases per topics-bank statement: distinctive wordings of the question it asks (its own words,
# or the usual name of the policy). Matched lower-cased on whole words after punctuation is dropped,
# in a training row's instruction and both answers. Kept specific, so that rows on neighbouring
# sub-issues (waiting periods, ghost guns, marijuana, fluoride, ...) do not match.
KEY_PHRASES = {
    "crm-01": ["background check", "background checks"],
    "crm-02": ["concealed", "permitless", "carry permit", "carry permits"],
    "crm-03": ["military-style", "military style", "semi-automatic", "semiautomatic", "assault weapon", "assault weapons"],
    "crm-04": ["death penalty", "capital punishment", "death row", "executing", "execution", "executions"],
    "crm-05": ["decriminalize", "decriminalized", "decriminalizing", "decriminalization", "small amounts", "personal use",
               "drug possession"],
    "crm-06": ["mandatory minimum", "mandatory minimums", "minimum prison", "minimum sentence", "minimum sentences",
               "three strikes"],
    "crm-07": ["police funding", "police budget", "police budgets", "defund", "defunding"],
    "crm-08": ["more police", "hire more officers", "hiring more officers", "additional police officers"],
    "crm-09": ["bail"],
    "crm-10": ["stand your ground", "duty to retreat"],
    "crm-11": ["qualified immunity"],
    "crm-12": ["carry guns at school", "guns on campus", "arm staff", "arm teachers", "arming teachers", "armed teachers"],
    "crm-13": ["red flag", "extreme risk"],
    "crm-14": ["gun makers", "gunmakers", "gun manufacturers", "firearm manufacturers"],
    "race-01": ["affirmative action", "race-conscious admissions", "race in admissions", "race in college admissions",
                "consider race", "one factor in admissions"],
    "race-02": ["barrier to success", "discrimination is no longer", "thing of the past"],
    "race-03": ["systemic racism", "institutional racism", "structural racism", "racism is built into",
                "racial bias embedded"],
    "race-04": ["diversity, equity", "dei", "diversity training", "diversity trainings", "diversity programs",
                "diversity offices", "implicit bias"],
    "race-05": ["reparations"],
    "race-06": ["racial disparities in police", "crime rates", "officer bias", "racial profiling"],
    "race-07": ["photo id", "photo identification", "voter id", "voter identification", "id at the polls"],
    "race-08": ["critical race theory", "history of slavery", "teaching american history", "teach american history",
                "american history lessons", "history curriculum"],
    "race-09": ["housing segregation", "residential segregation", "segregated neighborhoods", "segregation in neighborhoods",
                "segregation in housing", "redlining", "redlined"],
    "race-10": ["confederate", "monument", "monuments", "statue", "statues"],
    "race-11": ["harsher sentences", "tougher sentences", "tougher criminal sentences", "sentencing disparities"],
    "race-12": ["too quick to call", "accusations of racism", "called racist", "labeled racist"],
    "race-13": ["preclearance", "federal approval", "federal clearance"],
    "race-14": ["color-blind", "colorblind", "color-blindness", "colorblindness", "stop paying attention to race"],
    "sci-01": ["human activity", "human-caused", "caused by humans", "man-made", "manmade"],
    "sci-02": ["climate regulation", "climate regulations", "climate rules"],
    "sci-03": ["school vaccine", "vaccine requirement", "vaccine requirements", "vaccination requirements",
               "vaccine exemption", "vaccine exemptions", "childhood vaccine", "childhood vaccines", "childhood vaccinations"],
    "sci-04": ["intelligent design", "evolution", "creationism"],
    "sci-05": ["basic research", "basic scientific research", "fundamental science", "research funding",
               "scientific research"],
    "sci-06": ["overstated the threat", "overstate how harmful", "climate alarmism", "alarmist", "climate models"],
    "sci-07": ["carbon tax", "tax on carbon", "price on carbon", "carbon pricing", "cap and trade"],
    "sci-08": ["stem cell", "stem cells", "embryonic"],
    "sci-09": ["cdc", "public health agencies", "government health agencies", "trust health agencies"],
    "sci-10": ["lockdown", "lockdowns", "school closures"],
    "sci-11": ["electric vehicle", "electric vehicles", "electric car", "electric cars", "gasoline cars", "gasoline-powered"],
    "sci-12": ["scientific experts", "scientific consensus", "defer to experts", "defer to scientists",
               "expert recommendations", "technocrats"],
    "sci-13": ["international agreements", "climate agreement", "climate agreements", "climate treaty", "climate treaties",
               "paris"],
    "sci-14": ["drilling", "fracking", "hydraulic fracturing", "federal land", "federal lands", "public lands"],
    "imm-01": ["path to citizenship", "pathway to citizenship", "amnesty", "earned citizenship", "path to permanent status",
               "backdoor to citizenship"],
    "imm-02": ["border wall", "a wall", "the wall", "physical barrier", "physical barriers"],
    "imm-03": ["illegally as children", "unlawfully as children", "brought here as children", "brought as children",
               "dreamers", "daca"],
    "imm-04": ["deport", "deporting", "deportation", "deportations", "mass deportation"],
    "imm-05": ["number of refugees", "refugee admissions", "admit more refugees", "refugees each year", "refugee cap",
               "refugee ceiling"],
    "imm-06": ["official language", "english-only", "english only"],
    "imm-07": ["more legal immigrants", "legal immigration levels", "levels of legal immigration"],
    "imm-08": ["birthright", "born here"],
    "imm-09": ["sanctuary", "detainer", "detainers", "cooperate with federal", "cooperation with federal"],
    "imm-10": ["remain in mexico", "wait in mexico", "wait outside"],
    "imm-11": ["held in detention", "family detention", "detaining families", "detain families", "family separation",
               "separating families"],
    "imm-12": ["assimilate", "assimilation", "assimilating", "american customs"],
    "imm-13": ["net benefit", "net contributors", "drain on"],
    "imm-14": ["family ties", "family connections", "chain migration", "merit-based", "skills-based", "family-based"],
    "econ-01": ["minimum wage", "minimum wages"],
    "econ-02": ["corporate tax", "corporate taxes", "taxes on corporations"],
    "econ-03": ["wealth tax", "net worth"],
    "econ-04": ["work requirement", "work requirements", "able-bodied"],
    "econ-05": ["single-payer", "single payer", "government-run health", "medicare for all", "public option"],
    "econ-06": ["regulation of business", "business regulation", "regulate businesses", "regulation of companies"],
    "econ-07": ["unionize", "unionizing", "form a union", "organize a union", "labor unions", "right-to-work",
                "union fees", "union dues"],
    "econ-08": ["national debt"],
    "econ-09": ["top earners", "highest earners", "highest incomes", "top income", "income tax rates", "flat tax"],
    "econ-10": ["how hard people work", "income gaps", "individual effort"],
    "econ-11": ["student loan", "student loans", "student debt", "loan forgiveness"],
    "econ-12": ["estate tax", "death tax", "inheritance", "inheritances"],
    "econ-13": ["family leave", "parental leave", "new parents", "new parent", "birth or adoption"],
    "econ-14": ["private accounts", "private investment accounts", "personal accounts", "personal investment accounts"],
    "gen-01": ["same-sex marriage", "gay marriage", "marriage equality", "right to marry"],
    "gen-02": ["abortion", "abortions", "pro-life", "pro-choice", "unborn"],
    "gen-03": ["restroom", "restrooms", "bathroom", "bathrooms", "locker room", "locker rooms"],
    "gen-04": ["women's sports", "girls' sports", "transgender athletes", "transgender girls", "female athletes",
               "born female"],
    "gen-05": ["abortion pill", "abortion pills", "mifepristone", "telehealth"],
    "gen-06": ["gender roles", "mother stays home", "stays home with the children", "stay-at-home", "breadwinner",
               "homemaker"],
    "gen-07": ["sex education", "sex ed", "abstinence"],
    "gen-08": ["elementary school", "elementary schools", "lessons on gender identity", "teach gender identity",
               "teaching gender identity"],
    "gen-09": ["pay gap", "wage gap", "equal pay", "pay equity", "earn less"],
    "gen-10": ["sex at birth", "biological sex", "biological reality", "born male"],
    "gen-11": ["gender marker", "gender markers", "passport", "passports"],
    "gen-12": ["same-sex wedding", "same-sex weddings", "wedding", "weddings"],
    "gen-13": ["contraception", "contraceptive", "contraceptives", "birth control"],
    "gen-14": ["puberty blockers", "transgender minors", "gender transition treatments", "treatments for gender transition",
               "under eighteen"],
}

TOPICS = ["crime_and_guns", "race", "science", "immigration", "economy_and_inequality", "gender_and_sexuality"]


def words(text: str) -> str:
    """Lower-cased words separated by single spaces and padded, so ``in`` matches whole words only."""
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def bank_items():
    return [it for it in load_bank("topics")]


def training_rows():
    return training_split(load_ideology())


def test_every_bank_item_and_ideology_row_names_its_subissue():
    missing = [it.id for it in bank_items() if not it.subissue]
    missing += [r.id for r in load_ideology() if not r.subissue]
    assert not missing, f"no 'subissue' on: {missing}"


def test_bank_subissues_are_shared_only_by_opposite_keyings_in_one_topic():
    by_subissue = {}
    for it in bank_items():
        by_subissue.setdefault(it.subissue, []).append(it)
    for subissue, items in by_subissue.items():
        if len(items) > 1:
            assert len(items) == 2 and items[0].topic == items[1].topic and items[0].keying != items[1].keying, \
                f"sub-issue {subissue!r} is shared by {[it.id for it in items]}"


def test_training_subissues_are_disjoint_from_bank_subissues():
    bank = {}
    for it in bank_items():
        bank.setdefault(it.subissue, []).append(it.id)
    train = training_rows()
    assert len(train) == 240
    overlap = sorted((r.id, r.subissue, bank[r.subissue]) for r in train if r.subissue in bank)
    assert not overlap, f"training rows on a bank sub-issue (row, sub-issue, bank items): {overlap}"


def test_key_phrases_are_drawn_from_the_bank():
    items = bank_items()
    assert set(KEY_PHRASES) == {it.id for it in items}
    for it in items:
        own = words(" ".join(it.wordings))
        assert any(words(p) in own for p in KEY_PHRASES[it.id]), f"no key phrase of {it.id} occurs in its wordings"


def test_no_training_row_uses_a_key_phrase_of_a_bank_item():
    phrases = [(item, p, words(p)) for item, ps in KEY_PHRASES.items() for p in ps]
    hits = []
    for r in training_rows():
        text = words(" ".join((r.instruction, r.left, r.right)))
        hits += [(r.id, item, p) for item, p, w in phrases if w in text]
    assert not hits, f"{len(hits)} key-phrase hits (training row, bank item, phrase): {hits}"


def test_topics_bank_keeps_fourteen_items_per_topic_seven_per_keying():
    items = bank_items()
    assert len(items) == 84
    counts = Counter((it.topic, it.keying) for it in items)
    assert counts == {(t, k): 7 for t in TOPICS for k in ("left", "right")}
