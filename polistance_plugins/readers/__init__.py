"""Readers of the harnesses' own outputs: lm-eval ``--output_path`` folders and Inspect logs, turned
into the same per-form records ``polistance eval`` and ``compare`` write."""
