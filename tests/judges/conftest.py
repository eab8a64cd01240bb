"""A grader biased on purpose: it puts a fixed share of its probability on whatever option is listed
first, and the rest on the true answer, which the text being graded names (``TRUE=<option>``)."""

from __future__ import annotations

import math
import re

from polistance_plugins.core import distribution_from_option_logprobs
from polistance_plugins.engine.backends.base import ScoreResult


class FirstLabelGrader:
    """A local-backend stand-in: ``score_prompts(prompts, codes)`` reads the numbered option list
    ("1. Name: ..." or "1. Name") in each prompt and answers ``bias`` on number 1, the rest on the
    number of the option the graded text names."""

    def __init__(self, options, bias: float = 0.6):
        self.options, self.bias, self.prompts = list(options), bias, []

    def listed(self, prompt: str) -> list[str]:
        found = {}
        for number, name in re.findall(r"^(\d)\. ([A-Za-z][A-Za-z -]*?)(?::|$)", prompt, re.M):
            if name in self.options and number not in found:
                found[number] = name
        return [found[str(i + 1)] for i in range(len(found))]

    def distributions(self, prompts, codes, share_prefix=False):
        self.prompts += prompts
        out = []
        for p in prompts:
            listing = self.listed(p)
            truth = re.search(r"TRUE=([A-Za-z -]+?)(?:\n|$|\.)", p).group(1)
            probs = [0.0] * len(codes)
            probs[0] += self.bias
            probs[listing.index(truth)] += 1 - self.bias
            out.append(distribution_from_option_logprobs([math.log(x) if x > 0 else -math.inf for x in probs], codes))
        return out

    def score_prompts(self, prompts, codes):
        """The backends' one scoring call, as ``LocalBackend.score_prompts`` gives it."""
        return [ScoreResult(distribution=d, method="exact") for d in self.distributions(prompts, codes)]
