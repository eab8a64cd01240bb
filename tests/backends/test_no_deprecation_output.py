"""No deprecation notices from transformers or PEFT in a scoring run's output (issue 18, point 6):
a small `compare` on the tiny model with an adapter (questionnaire and compass with prefix sharing,
elaboration sampling and grading) emits no FutureWarning and no transformers deprecation log line."""

import logging
import warnings

from polistance_plugins.cli import main
from tests.backends.test_adapters import make_adapter


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_compare_with_an_adapter_emits_no_future_warning(tiny_model_dir, tmp_path):
    from transformers.utils import logging as hf_logging

    adapter = make_adapter(tiny_model_dir, tmp_path / "a", seed=3)
    seen = _Lines()
    library = logging.getLogger("transformers")
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()  # what a user sees (the suite runs at "error")
    library.addHandler(seen)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            code = main(["compare", "--model", str(tiny_model_dir), "--adapter", f"a={adapter}", "--device", "cpu",
                         "--suite", "questionnaire,compass,elaboration", "--bank", "terry9", "--limit", "3",
                         "--compass-paraphrases", "first", "--compass-labels", "numbers", "--samples", "2",
                         "--max-new-tokens", "6", "--out", str(tmp_path / "run"), "--quiet"])
    finally:
        library.removeHandler(seen)
        hf_logging.set_verbosity(level)
    assert code == 0
    assert not [line for line in seen.lines if "deprecated" in line.lower()], seen.lines
