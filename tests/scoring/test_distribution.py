import math

import pytest
from hypothesis import given, strategies as st

from polistance_plugins import digit_distribution_from_logprobs
from polistance_plugins.core import DIGITS, distribution_from_option_logprobs, option_distribution_from_logprobs

logprob = st.floats(min_value=-30.0, max_value=0.0, allow_nan=False)
digit = st.sampled_from(DIGITS)


@given(st.lists(logprob, min_size=10, max_size=10))
def test_exact_distribution_sums_to_one_and_keeps_mass(lps):
    d = distribution_from_option_logprobs(lps)
    assert math.isclose(sum(d.probs), 1.0, rel_tol=1e-9)
    assert math.isclose(d.mass, min(1.0, sum(math.exp(v) for v in lps)), rel_tol=1e-9)
    assert 0.0 <= d.expected <= 9.0
    assert -1e-12 <= d.entropy <= math.log(10) + 1e-9
    assert d.probs[d.mode] == max(d.probs)


@given(st.dictionaries(digit, logprob, min_size=1))
def test_topk_keeps_present_digits_and_renormalises(top):
    d = digit_distribution_from_logprobs(top)
    raw = {k: math.exp(v) for k, v in top.items()}
    total = sum(raw.values())
    for i, opt in enumerate(DIGITS):
        expected = raw.get(opt, 0.0) / total
        assert math.isclose(d.probs[i], expected, rel_tol=1e-9, abs_tol=1e-15)
        assert d.present[i] == (opt in top)
    assert math.isclose(d.mass, min(1.0, total), rel_tol=1e-9)


@given(st.dictionaries(digit, logprob, min_size=1), st.dictionaries(st.text(min_size=1).filter(lambda s: s.strip() not in DIGITS), logprob))
def test_non_digit_tokens_are_ignored(digits, others):
    assert digit_distribution_from_logprobs({**others, **digits}).probs == digit_distribution_from_logprobs(digits).probs


def test_spaced_and_bare_digit_tokens_are_summed():
    d = digit_distribution_from_logprobs({"7": math.log(0.3), " 7": math.log(0.1), "2": math.log(0.2), "The": math.log(0.4)})
    assert d.probs[7] == pytest.approx(0.4 / 0.6)
    assert d.probs[2] == pytest.approx(0.2 / 0.6)
    assert d.mass == pytest.approx(0.6)
    assert d.expected == pytest.approx((7 * 0.4 + 2 * 0.2) / 0.6)


def test_no_digits_is_invalid_not_zero():
    d = digit_distribution_from_logprobs({"The": -0.1, "I": -2.0})
    assert not d.valid and d.mass == 0.0
    assert math.isnan(d.expected) and d.mode == -1


def test_point_mass_has_zero_entropy_and_uniform_has_log10():
    point = distribution_from_option_logprobs([0.0] + [-math.inf] * 9)
    assert point.entropy == 0.0 and point.expected == 0.0 and point.coverage == 1
    uniform = distribution_from_option_logprobs([math.log(0.1)] * 10)
    assert uniform.entropy == pytest.approx(math.log(10))
    assert uniform.expected == pytest.approx(4.5)


def test_nan_logprob_is_rejected():
    with pytest.raises(ValueError):
        distribution_from_option_logprobs([float("nan")] + [-1.0] * 9)
    with pytest.raises(ValueError):
        option_distribution_from_logprobs({"3": float("nan")}, DIGITS)
