"""Where answer log-probabilities come from: local Hugging Face weights (with PEFT adapters) or
OpenAI-compatible servers. Both return one ``ScoreResult`` per prompt over the given options.

``BackendSpec`` says which model to use and how; ``make_backend`` builds it (the CLI, the Python
API and the demo all go through it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..device import Placement


@dataclass(frozen=True)
class BackendSpec:
    """A model to score: local weights (``model``, loaded as ``placement`` says) or a served model
    (``api_base`` + ``api_model``). ``batch_size``: a number, ``auto`` or None (16; see
    ``engine.loop.settle_batch_size``)."""

    model: str
    batch_size: int | str | None = None
    system_prompt: str | None = None
    api_base: str | None = None
    api_model: str | None = None
    api_mode: str = "auto"
    tokenizer: str | None = None
    concurrency: int = 8
    placement: Placement = field(default_factory=Placement)
    share_prefix: bool = True


def make_backend(spec: BackendSpec):
    """Local weights (``spec.model``) or an OpenAI-compatible server (``spec.api_base``)."""
    if spec.api_base:
        from .api import ApiBackend

        return ApiBackend(base_url=spec.api_base, model=spec.api_model, tokenizer=spec.tokenizer, mode=spec.api_mode,
                          concurrency=spec.concurrency, system_prompt=spec.system_prompt)
    from .. import models
    from .hf import LocalBackend

    p = spec.placement
    return LocalBackend(models.resolve(spec.model), batch_size=spec.batch_size or 16, system_prompt=spec.system_prompt,
                        dtype=p.dtype, device=p.device, device_map=p.device_map, share_prefix=spec.share_prefix)
