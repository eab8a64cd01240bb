import math

import pytest
from hypothesis import given, strategies as st

from polistance_plugins import digit_distribution_from_logprobs
from polistance_plugins.core import DIGITS, distribution_from_option_logprobs, option_distribution_from_logprobs

logprob = st.floats(min_value=-30.0, max_value=0.0, allow_nan=False)
digit = st.sampled_from(DIGITS)


@given(st.lists(logprob, min_size=10, max_size=10).map(lambda lps: list(sub_distribution(dict(enumerate(lps))).values())))
def test_exact_distribution_sums_to_one_and_keeps_mass(lps):
    d = distribution_from_option_logprobs(lps)
    assert math.isclose(sum(d.probs), 1.0, rel_tol=1e-9)
    assert math.isclose(d.mass, min(1.0, sum(math.exp(v) for v in lps)), rel_tol=1e-9)
    assert 0.0 <= d.expected <= 9.0
    assert -1e-12 <= d.entropy <= math.log(10) + 1e-9
    assert d.probs[d.mode] == max(d.probs)


def sub_distribution(top: dict) -> dict:
    """``top`` scaled down, if needed, so its tokens hold at most all of the probability (as a real top-k does)."""
    total = sum(math.exp(v) for v in top.values())
    return top if total <= 1 else {k: v - math.log(total) for k, v in top.items()}


@given(st.dictionaries(digit, logprob, min_size=1).map(sub_distribution))
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
    both = sub_distribution({**others, **digits})
    alone = {k: v for k, v in both.items() if k in digits}
    assert digit_distribution_from_logprobs(both).probs == pytest.approx(digit_distribution_from_logprobs(alone).probs, abs=1e-12)


def test_spaced_and_bare_digit_tokens_are_summed():
    d = digit_distribution_from_logprobs({"7": math.log(0.3), " 7": math.log(0.1), "2": math.log(0.2), "The": math.log(0.4)})
    assert d.probs[7] == pytest.approx(0.4 / 0.6)
    assert d.probs[2] == pytest.approx(0.2 / 0.6)
    assert d.mass == pytest.approx(0.6)
    assert d.expected == pytest.approx((7 * 0.4 + 2 * 0.2) / 0.6)


def test_no_digits_is_invalid_not_zero():
    d = digit_distribution_from_logprobs({"The": -0.2, "I": -2.0})
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


# ---- impossible log-probabilities are refused, never clamped --------------------------------------
@pytest.mark.parametrize("bad,reason", [
    (3.0, "impossible log-probability"), (True, "not a number"), ("-1.0", "not a number"), (None, "not a number"),
    (float("inf"), "impossible log-probability"),
])
def test_exact_refuses_values_that_cannot_be_log_probabilities(bad, reason):
    with pytest.raises(ValueError, match=reason):
        distribution_from_option_logprobs([bad] + [-5.0] * 9)


def test_exact_refuses_options_holding_more_than_all_the_probability():
    with pytest.raises(ValueError, match="more than 1"):
        distribution_from_option_logprobs([math.log(0.6), math.log(0.6)] + [-math.inf] * 8)
    # float rounding just above 1 is not a lie: the mass is 1
    d = distribution_from_option_logprobs([math.log(0.5 + 2e-7), math.log(0.5)] + [-math.inf] * 8)
    assert d.mass == 1.0 and d.probs[0] == pytest.approx(0.5)
    assert distribution_from_option_logprobs([1e-7] + [-math.inf] * 9).mass == 1.0


def test_topk_refuses_shifted_or_non_numeric_logprobs():
    honest = {"7": math.log(0.5), "3": math.log(0.2), "The": math.log(0.25)}
    assert digit_distribution_from_logprobs(honest).mass == pytest.approx(0.7)
    shifted = {t: v + 4.0 for t, v in honest.items()}
    with pytest.raises(ValueError, match="impossible"):
        digit_distribution_from_logprobs(shifted)
    # every value negative, but all the tokens together hold 1.6 of the probability
    inflated = {"7": math.log(0.5), "3": math.log(0.5), "The": math.log(0.6)}
    with pytest.raises(ValueError, match="3 tokens returned hold a probability of 1.6"):
        digit_distribution_from_logprobs(inflated)
    with pytest.raises(ValueError, match="not a number"):
        digit_distribution_from_logprobs({"7": True, "3": -1.0})
