"""``--device``, ``--dtype``, ``--device-map`` and ``--batch-size auto`` on every path that loads a
model itself (issue 16): each reaches the ``LocalBackend`` that path builds. The backend is stopped
as it is built, so nothing loads."""

import pytest

from polistance_plugins.cli import build_parser, main
from polistance_plugins.engine.backends import hf

PLACE = ["--device", "cpu", "--dtype", "bfloat16", "--device-map", "auto", "--batch-size", "auto"]
WANT = {"device": "cpu", "dtype": "bfloat16", "device_map": "auto", "batch_size": "auto"}


class _Stop(Exception):
    pass


@pytest.fixture
def built(monkeypatch):
    """The keyword arguments of every LocalBackend built (the first one stops the command)."""
    seen = []

    def init(self, model_path, **kwargs):
        seen.append(kwargs)
        raise _Stop

    monkeypatch.setattr(hf.LocalBackend, "__init__", init)
    return seen


def _placed(kwargs: dict) -> dict:
    return {k: kwargs.get(k) for k in WANT}


@pytest.mark.parametrize("argv", [
    ["eval", "--bank", "terry9"],
    ["compass", "--limit", "2"],
    ["compare", "--suite", "questionnaire,compass,elaboration", "--bank", "terry9"],
], ids=["eval", "compass", "compare"])
def test_run_commands_load_the_model_where_asked(argv, built, tiny_model_dir, tmp_path):
    with pytest.raises(_Stop):
        main([*argv, "--model", str(tiny_model_dir), "--out", str(tmp_path / "run"), *PLACE])
    assert _placed(built[0]) == WANT and built[0]["share_prefix"] is True
    with pytest.raises(_Stop):
        main([*argv, "--model", str(tiny_model_dir), "--out", str(tmp_path / "run2"), "--no-prefix-sharing"])
    assert _placed(built[1]) == {"device": "auto", "dtype": "auto", "device_map": None, "batch_size": 16}
    assert built[1]["share_prefix"] is False


def test_compare_grader_loads_where_the_base_does(built, tiny_model_dir):
    from polistance_plugins.engine.device import Placement
    from polistance_plugins.pipelines.compare import CompareOptions
    from polistance_plugins.pipelines.graders import grader_backends

    class Base:
        def describe(self):
            return {"model": "base", "weights_sha256": "x"}

    with pytest.raises(_Stop):
        grader_backends(Base(), CompareOptions(graders=(str(tiny_model_dir),), batch_size=8,
                                               placement=Placement("cpu", "bfloat16", "auto")))
    assert built == [{"batch_size": 8, "device": "cpu", "dtype": "bfloat16", "device_map": "auto"}]


@pytest.mark.parametrize("argv", [["localize", "--adapter", "a=DIR"], ["patch", "--adapter", "a=DIR", "--neurons", "n.json"]],
                         ids=["localize", "patch"])
def test_neuron_commands_load_the_model_where_asked(argv, built, tiny_model_dir):
    from polistance_plugins.cli.neurons import _backend

    args = build_parser().parse_args([*argv, "--model", str(tiny_model_dir), "--threads", "1", *PLACE])
    with pytest.raises(_Stop):
        _backend(args)
    assert _placed(built[0]) == WANT


def test_inhibitft_study_evaluates_where_asked(monkeypatch, tiny_model_dir, tmp_path):
    from polistance_plugins.neurons import study

    configs = []
    monkeypatch.setattr(study, "run_study", lambda cfg, out: configs.append(cfg) or (_ for _ in ()).throw(_Stop()))
    with pytest.raises(_Stop):
        main(["inhibitft-study", "--model", str(tiny_model_dir), "--topics", "science", "--out", str(tmp_path / "s"), *PLACE])
    p = configs[0].placement
    assert (p.device, p.dtype, p.device_map, configs[0].eval_batch_size) == ("cpu", "bfloat16", "auto", "auto")


def test_inspect_elaboration_task_chooses_targets_where_asked(built, tiny_model_dir):
    from polistance_plugins.tasks.elaboration import elaboration

    with pytest.raises(_Stop):
        elaboration(base=str(tiny_model_dir), device="cpu", dtype="bfloat16", device_map="auto", batch_size="auto")
    assert _placed(built[0]) == WANT
