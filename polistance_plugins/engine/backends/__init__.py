"""Where answer log-probabilities come from: local Hugging Face weights (with PEFT adapters) or
OpenAI-compatible servers. Both return one ``ScoreResult`` per prompt over the given options.

``BackendSpec`` says which model to use and how; ``make_backend`` builds it (the CLI, the Python
API and the demo all go through it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackendSpec:
    """A model to score: local weights (``model``) or a served model (``api_base`` + ``api_model``)."""

    model: str
    batch_size: int = 16
    system_prompt: str | None = None
    api_base: str | None = None
    api_model: str | None = None
    api_mode: str = "auto"
    tokenizer: str | None = None
    concurrency: int = 8


def make_backend(spec: BackendSpec):
    """Local weights (``spec.model``) or an OpenAI-compatible server (``spec.api_base``)."""
    if spec.api_base:
        from .api import ApiBackend

        return ApiBackend(base_url=spec.api_base, model=spec.api_model, tokenizer=spec.tokenizer, mode=spec.api_mode,
                          concurrency=spec.concurrency, system_prompt=spec.system_prompt)
    from .. import models
    from .hf import LocalBackend

    return LocalBackend(models.resolve(spec.model), batch_size=spec.batch_size, system_prompt=spec.system_prompt)
