"""Whole runs: ``polistance eval`` (questionnaire), ``compass``, ``compare`` and the demo, each from a
backend and its adapters to a run folder with summaries and (compare) the report."""
