"""Fixtures for the training tests: one thread (tiny models train faster without thread contention
on a shared 2-core machine) and a small trained adapter several tests read."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(**overrides):
    """Settings for seconds-long runs on the tiny model."""
    from polistance_plugins.train import TrainConfig

    values = dict(max_steps=2, batch_size=2, max_length=256)
    values.update(overrides)
    return TrainConfig(**values)


def quiet(_msg: str) -> None:
    pass


@pytest.fixture(scope="package")
def sports_adapter(tmp_path_factory, tiny_model_dir):
    """A southern sports adapter trained for 2 steps on the tiny model."""
    from polistance_plugins.train import train_sports

    out = tmp_path_factory.mktemp("adapters") / "southern"
    result = train_sports("southern", out, model=str(tiny_model_dir), config=tiny_config(), log=quiet)
    return result
