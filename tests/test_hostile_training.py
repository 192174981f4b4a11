"""Training checkpoints hold safetensors and JSON only, resume never unpickles, and damaged checkpoints are
handled: ``resume=latest`` falls back to the previous checkpoint, a folder named explicitly is an error.

Runs are the toy GAN (faceforge/training/tasks/toy.py) in-process with one thread, as in test_training.py;
the two-process resume starts ``train/train.py`` under ``torchrun``.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate.state import AcceleratorState, GradientState
from safetensors.torch import load_file
from torch import nn

import faceforge.training.loop as loop_module
from faceforge.training import ConfigError, RunConfig, list_checkpoints, train
from faceforge.training import checkpoint as ckpt
from faceforge.training import state as st
from faceforge.training.tasks.toy import ToyGAN, ToyOptions

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PY = ROOT / "train" / "train.py"
QUIET = {"num_workers": 0, "trackers": "none", "log_every": 0, "checkpoint_every": 0, "sample_every": 0,
         "export": False}
TOY = {"ema_decay": 0.9, "options": {"d_every": 2, "lr_decay": 0.95}}  # EMA, LR schedules, dropout, D/G ratio


def _reset_accelerate() -> None:
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


@pytest.fixture(autouse=True)
def one_thread():
    """One thread, as in test_training.py, so runs in this file compare bit for bit with one another."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    _reset_accelerate()
    yield
    _reset_accelerate()
    torch.set_num_threads(threads)


def toy_run(out: Path, **kwargs) -> RunConfig:
    options = {**TOY["options"], **kwargs.pop("options", {})}
    values = {"task": "toy", "output_dir": str(out), "steps": 4, "batch_size": 32, "ema_decay": TOY["ema_decay"],
              **QUIET}
    return RunConfig(**{**values, **kwargs}, options=ToyOptions(**options))


def run_toy(out: Path, task: type[ToyGAN] = ToyGAN, **kwargs):
    _reset_accelerate()
    try:
        return train(task(toy_run(out, **kwargs)))
    finally:
        _reset_accelerate()


def step_dir(run_dir: Path, step: int) -> Path:
    return ckpt.checkpoint_dir(run_dir, step)


class Payload:
    """Unpickling this creates ``marker``: a stand-in for code a tampered checkpoint would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).touch, ())


def plant_pickles(folder: Path, marker: Path) -> list[str]:
    """Accelerate's pickle files (what ``load_state`` would unpickle), each creating ``marker`` if loaded."""
    names = ["custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl", "random_states_0.pkl"]
    for name in names:
        (folder / name).write_bytes(pickle.dumps(Payload(marker)))
    for name in ("optimizer.bin", "optimizer_1.bin", "scheduler.bin", "scaler.pt", "pytorch_model.bin",
                 "sampler.bin"):
        torch.save(Payload(marker), folder / name)
        names.append(name)
    return names


def test_the_planted_payload_would_run_if_anything_unpickled_it(tmp_path):
    """The control for the tests below: each planted file does create its marker when it is unpickled."""
    marker = tmp_path / "marker"
    for name in plant_pickles(tmp_path, marker):
        path = tmp_path / name
        if name.endswith(".pkl"):
            with open(path, "rb") as f:
                pickle.load(f)
        else:
            torch.load(path, weights_only=False)
        assert marker.exists(), name
        marker.unlink()


# --- what a checkpoint holds ----------------------------------------------------------------------------------
def test_a_checkpoint_is_safetensors_and_json_listed_with_digests(tmp_path):
    result = run_toy(tmp_path / "run", steps=2)
    folder = step_dir(result.run_dir, 2)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["ema_g.safetensors", "model.safetensors", "model_1.safetensors", "optimizers.json",
                     "optimizers.safetensors", "random_states_0.json", "random_states_0.safetensors",
                     "train_state.json"]
    state = json.loads((folder / "train_state.json").read_text())
    assert state["format"] == ckpt.FORMAT and state["step"] == 2 and state["processes"] == 1
    assert state["data"] == {"epoch": 0, "position": 2}
    assert state["networks"] == ["g", "d"] and state["ema"] == ["g"]
    assert sorted(state["files"]) == [n for n in names if n != "train_state.json"]
    for name in names:
        data = (folder / name).read_bytes()
        assert not data.startswith((b"\x80", b"PK")), f"{name} looks like a pickle or a torch.save zip"
        if name.endswith(".json"):
            json.loads(data, parse_constant=lambda c: pytest.fail(f"{name} holds {c}, which is not JSON"))
        else:
            assert load_file(folder / name)
    # The weights are the networks' and the EMA copy's state dicts; the optimizer tensors Adam's moments.
    for i, name in enumerate(("g", "d")):
        weights = load_file(folder / ckpt.network_file(i))
        assert weights.keys() == result.task.nets[name].state_dict().keys()
        for key, value in result.task.nets[name].state_dict().items():
            assert torch.equal(weights[key], value.cpu()), key
    ema = load_file(folder / "ema_g.safetensors")
    assert all(torch.equal(ema[k], v) for k, v in result.ema["g"].state_dict().items())
    optim = json.loads((folder / "optimizers.json").read_text())
    assert list(optim) == ["optimizers", "schedulers", "scaler"] and optim["scaler"] is None
    assert optim["schedulers"]["g"]["last_epoch"] == 2 and optim["schedulers"]["d"]["last_epoch"] == 1
    tensors = load_file(folder / "optimizers.safetensors")
    adam = result.task.optimizers["g"]
    first = adam.param_groups[0]["params"][0]
    assert torch.equal(tensors["optimizers.g.state.0.exp_avg_sq"], adam.state[first]["exp_avg_sq"])
    rng = load_file(folder / "random_states_0.safetensors")
    assert rng["torch"].dtype == torch.uint8 and rng["numpy.keys"].shape == (624,)


# --- pickles are never loaded ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted 8-iteration run, and a 6-iteration run of the same config checkpointed every 2
    iterations (checkpoints 2, 4, 6) that the tests copy, damage and resume to 8."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        base = tmp_path_factory.mktemp("reference")
        straight = run_toy(base / "straight", steps=8)
        run_toy(base / "split", steps=6, checkpoint_every=2)
    finally:
        torch.set_num_threads(threads)
    assert [p.name for p in list_checkpoints(base / "split")] == ["step_000002", "step_000004", "step_000006"]
    return {"digest": straight.summary["weights_sha256"], "split": base / "split"}


def copy_split(reference, tmp_path: Path) -> Path:
    out = tmp_path / "split"
    shutil.copytree(reference["split"], out)
    return out


def resume_to_8(out: Path, task: type[ToyGAN] = ToyGAN, **kwargs):
    return run_toy(out, task, steps=8, checkpoint_every=2, resume=kwargs.pop("resume", "latest"), **kwargs)


def test_planted_pickles_are_never_loaded_and_the_run_continues_exactly(reference, tmp_path):
    out = copy_split(reference, tmp_path)
    marker = tmp_path / "marker"
    plant_pickles(step_dir(out, 6), marker)
    resumed = resume_to_8(out)
    assert not marker.exists(), "a planted pickle was unpickled"
    assert resumed.summary["resumed_from"] == 6 and resumed.step == 8
    assert resumed.summary["weights_sha256"] == reference["digest"]


FORBIDDEN = ("pickle.load", "pickle.loads", "pickle.Unpickler", "torch.load", "torch.serialization.load")


@pytest.fixture
def no_unpickling(monkeypatch):
    """Every way to unpickle raises, and is recorded (a caller that swallows the error is still caught)."""
    import torch._dynamo  # noqa: F401  (imported lazily by optimizers; it subclasses pickle.Unpickler)

    calls: list[str] = []

    def forbid(name):
        def refuse(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called")

        return refuse

    class ForbiddenUnpickler(pickle.Unpickler):
        def __init__(self, *args, **kwargs):
            forbid("pickle.Unpickler")()

    for name in FORBIDDEN:
        module, attr = name.rsplit(".", 1)
        monkeypatch.setattr(sys.modules[module], attr, ForbiddenUnpickler if attr == "Unpickler" else forbid(name))
    return calls


def test_a_whole_save_and_resume_cycle_never_unpickles(no_unpickling, tmp_path):
    straight = run_toy(tmp_path / "straight", steps=8)
    first = run_toy(tmp_path / "split", steps=5, checkpoint_every=2)
    resumed = resume_to_8(tmp_path / "split")
    assert no_unpickling == []
    assert (first.step, resumed.summary["resumed_from"], resumed.step) == (5, 5, 8)
    assert resumed.summary["weights_sha256"] == straight.summary["weights_sha256"]


def test_an_accelerate_checkpoint_is_refused_not_unpickled(tmp_path, no_unpickling):
    folder = step_dir(tmp_path / "old", 6)
    folder.mkdir(parents=True)
    (folder / "train_state.json").write_text(json.dumps({"step": 6, "data": {"epoch": 0, "position": 6}}))
    marker = tmp_path / "marker"
    plant_pickles(folder, marker)  # writing pickles needs no loader
    with pytest.raises(ConfigError, match="Accelerate's save_state.*pickles.*fresh run"):
        resume_to_8(tmp_path / "old")
    assert not marker.exists() and no_unpickling == []
    assert folder.is_dir() and not list(folder.parent.glob("*.corrupt"))  # not moved aside: not damaged


# --- damaged checkpoints -------------------------------------------------------------------------------------
def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))


def rehash(folder: Path, name: str) -> None:
    """Record ``name``'s present size and digest, as if it had been written so: the parsers must then notice."""
    import hashlib

    state = json.loads((folder / "train_state.json").read_text())
    data = (folder / name).read_bytes()
    state["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "train_state.json").write_text(json.dumps(state))


def truncated_and_rehashed(name):
    def damage(folder: Path) -> None:
        truncate(folder / name)
        rehash(folder, name)

    return damage


def replaced_and_rehashed(name, text):
    def damage(folder: Path) -> None:
        (folder / name).write_text(text)
        rehash(folder, name)

    return damage


DAMAGE = {
    "truncated weights": (lambda f: truncate(f / "model.safetensors"), "model.safetensors has .* bytes"),
    "altered optimizer tensors": (lambda f: flip_a_byte(f / "optimizers.safetensors"),
                                  "optimizers.safetensors does not match the SHA-256"),
    "missing RNG file": (lambda f: (f / "random_states_0.safetensors").unlink(),
                         "random_states_0.safetensors cannot be read"),
    "bad train_state.json": (lambda f: truncate(f / "train_state.json"), "train_state.json is not valid JSON"),
    "truncated safetensors, digest rewritten": (truncated_and_rehashed("ema_g.safetensors"),
                                                "ema_g.safetensors is no readable safetensors file"),
    "bad JSON, digest rewritten": (replaced_and_rehashed("optimizers.json", '{"optimizers": '),
                                   "optimizers.json is not valid JSON"),
    "JSON naming a missing tensor": (
        replaced_and_rehashed("optimizers.json", '{"optimizers": {"g": {"__tensor__": "nope"}}, '
                                                 '"schedulers": {}, "scaler": null}'),
        "names a tensor 'nope' that the safetensors file lacks"),
    "NaN in JSON, digest rewritten": (replaced_and_rehashed("random_states_0.json", '{"python": NaN}'),
                                      "random_states_0.json is not valid JSON"),
    "manifest missing": (lambda f: (f / "train_state.json").write_text('{"format": "%s", "step": 6}'
                                                                        % ckpt.FORMAT), "no 'files' manifest"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(reference, tmp_path, caplog, kind):
    damage, reason = DAMAGE[kind]
    out = copy_split(reference, tmp_path)
    damage(step_dir(out, 6))
    with caplog.at_level(logging.WARNING, logger="faceforge.training"):
        resumed = resume_to_8(out)
    warnings = [r.getMessage() for r in caplog.records if r.name == "faceforge.training"]
    assert len(warnings) == 1, warnings
    assert str(step_dir(out, 6)) in warnings[0] and "step_000006.corrupt" in warnings[0]
    assert re.search(reason, warnings[0]), warnings[0]
    assert resumed.summary["resumed_from"] == 4 and resumed.step == 8
    assert resumed.summary["weights_sha256"] == reference["digest"]  # from 4, exactly as the straight run
    aside = out / "checkpoints" / "step_000006.corrupt"
    assert aside.is_dir() and ckpt.checkpoint_step(aside) is None  # kept to look at, never picked again
    assert [p.name for p in list_checkpoints(out)] == ["step_000004", "step_000006", "step_000008"]  # keep 3


def test_a_pickle_in_place_of_a_checkpoint_file_is_not_loaded_but_a_fallback(reference, tmp_path, caplog):
    out = copy_split(reference, tmp_path)
    marker = tmp_path / "marker"
    torch.save(Payload(marker), step_dir(out, 6) / "optimizers.safetensors")
    rehash(step_dir(out, 6), "optimizers.safetensors")  # even a matching digest does not make it load
    with caplog.at_level(logging.WARNING, logger="faceforge.training"):
        resumed = resume_to_8(out)
    assert not marker.exists()
    assert "optimizers.safetensors is no readable safetensors file" in caplog.text
    assert resumed.summary["resumed_from"] == 4 and resumed.summary["weights_sha256"] == reference["digest"]


def test_when_no_checkpoint_loads_resume_latest_is_a_clear_error(reference, tmp_path):
    out = copy_split(reference, tmp_path)
    for step in (2, 4, 6):
        truncate(step_dir(out, step) / "model_1.safetensors")
    with pytest.raises(ConfigError, match=r"no checkpoint in .*checkpoints loads.*step_000006 \(model_1"):
        resume_to_8(out)
    assert list_checkpoints(out) == []
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "step_000002.corrupt", "step_000004.corrupt", "step_000006.corrupt"]


def test_a_damaged_checkpoint_named_explicitly_is_an_error_without_fallback(reference, tmp_path):
    out = copy_split(reference, tmp_path)
    folder = step_dir(out, 6)
    truncate(folder / "optimizers.json")
    with pytest.raises(ConfigError, match=r"cannot resume from .*step_000006: it is corrupt \(optimizers.json"):
        resume_to_8(out, resume=str(folder))
    assert folder.is_dir() and not list((out / "checkpoints").glob("*.corrupt"))  # left where it was
    truncate(folder / "train_state.json")
    with pytest.raises(ConfigError, match=r"cannot resume from .*step_000006: it is corrupt"):
        resume_to_8(out, resume=str(folder))


def test_a_corrupt_name_is_not_reused(tmp_path):
    folder = step_dir(tmp_path, 6)
    for _ in range(3):
        folder.mkdir(parents=True)
        ckpt.move_aside(folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == [
        "step_000006.corrupt", "step_000006.corrupt.1", "step_000006.corrupt.2"]


# --- every piece of state, exactly ----------------------------------------------------------------------------
def test_state_trees_round_trip_exactly_through_json_and_safetensors(tmp_path):
    tree = {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(2, 3, dtype=torch.float64)},
                  7: {"momentum_buffer": torch.arange(4, dtype=torch.bfloat16), "i": torch.tensor([1, 2])}},
        "param_groups": [{"params": [0, 7], "betas": (0.5, 0.99), "lr": 1e-3, "nesterov": False, "foreach": None}],
        "milestones": collections.Counter({30: 1, 80: 2}),
        "floats": [float("inf"), float("-inf"), 0.1 + 0.2, -0.0],
        "__dunder": "kept", "nested": ((1, "a"), [()]), "big": 2**70,
    }
    st.save_tree(tree, tmp_path, "tree")
    encoded = st.parse_json((tmp_path / "tree.json").read_bytes(), "tree.json")
    back = st.parse_tree(encoded, (tmp_path / "tree.safetensors").read_bytes(), "tree")
    nan = st.parse_tree(st.flatten({"x": float("nan")})[0], None, "nan")["x"]
    assert nan != nan

    def same(a, b):
        assert type(a) is type(b), (a, b)
        if isinstance(a, torch.Tensor):
            assert a.dtype == b.dtype and torch.equal(a, b)
        elif isinstance(a, dict):
            assert list(a) == list(b)
            for k in a:
                same(a[k], b[k])
        elif isinstance(a, (list, tuple)):
            assert len(a) == len(b)
            for x, y in zip(a, b):
                same(x, y)
        else:
            assert a == b and str(a) == str(b)

    same(tree, back)


@pytest.mark.parametrize("value", [object(), np.float32(1.0), nn.Linear(1, 1), {1: {"f": print}}])
def test_anything_but_tensors_numbers_and_containers_is_refused_not_pickled(value):
    with pytest.raises(TypeError, match="cannot save"):
        st.flatten({"x": value})


def _scheduler_cases():
    S = torch.optim.lr_scheduler

    def adam(p):
        return torch.optim.Adam(p, lr=0.1, betas=(0.8, 0.9))

    def sgd(p):
        return torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)

    return {
        "MultiStepLR (a Counter)": (sgd, lambda o: S.MultiStepLR(o, milestones=[2, 4, 4], gamma=0.5)),
        "OneCycleLR": (adam, lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=12)),
        "SequentialLR": (sgd, lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=3),
                                                           S.ExponentialLR(o, 0.9)], milestones=[3])),
        "CosineAnnealingWarmRestarts": (adam, lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3)),
        "LambdaLR": (adam, lambda o: S.LambdaLR(o, lambda step: 1 / (step + 1))),
    }


@pytest.mark.parametrize("case", list(_scheduler_cases()))
def test_optimizers_and_schedulers_continue_exactly_after_a_round_trip(case, tmp_path):
    make_opt, make_sched = _scheduler_cases()[case]

    def build():
        torch.manual_seed(0)
        net = nn.Linear(3, 2)
        opt = make_opt(net.parameters())
        return net, opt, make_sched(opt)

    def train_steps(net, opt, sched, steps, start):
        lrs = []
        for i in range(start, start + steps):
            opt.zero_grad()
            net(torch.full((4, 3), float(i))).square().mean().backward()
            opt.step()
            sched.step()
            lrs.append(opt.param_groups[0]["lr"])
        return lrs

    straight = build()
    expected = train_steps(*straight, 10, 0)
    first = build()
    train_steps(*first, 4, 0)
    folder = tmp_path / "ck"
    folder.mkdir()
    ckpt.save_shared_state(folder, networks={"f": first[0]}, ema={}, optimizers={"f": first[1]},
                           schedulers={"f": first[2]})
    ckpt.save_random_states(folder, 0)
    ckpt.write_train_state(folder, {"step": 4, "data": {"epoch": 0, "position": 4}, "processes": 1,
                                    "networks": ["f"], "ema": []})
    loaded = ckpt.read_checkpoint(folder)
    second = build()
    second[0].load_state_dict(loaded.networks["f"])
    second[1].load_state_dict(loaded.optimizers["f"])
    second[2].load_state_dict(loaded.schedulers["f"])
    assert train_steps(*second, 6, 4) == expected[4:]
    for a, b in zip(straight[0].parameters(), second[0].parameters()):
        assert torch.equal(a, b)


def test_the_fp16_gradient_scaler_state_round_trips(tmp_path):
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**20, growth_interval=3)
    for i in range(7):  # an overflow halves the scale; three clean steps double it
        opt.zero_grad()
        loss = net(torch.ones(2, 3)).sum() * (float("inf") if i == 1 else 1.0)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    folder = tmp_path / "ck"
    folder.mkdir()
    ckpt.save_shared_state(folder, networks={"f": net}, ema={}, optimizers={"f": opt}, schedulers={},
                           scaler=scaler)
    ckpt.save_random_states(folder, 0)
    ckpt.write_train_state(folder, {"step": 7, "data": {"epoch": 0, "position": 7}, "processes": 1,
                                    "networks": ["f"], "ema": []})
    loaded = ckpt.read_checkpoint(folder)
    assert loaded.scaler == scaler.state_dict() and loaded.scaler["_growth_tracker"] == 2
    fresh = torch.amp.GradScaler("cpu")
    fresh.load_state_dict(loaded.scaler)
    assert fresh.state_dict() == scaler.state_dict()


class ScaledAccelerator(loop_module.Accelerator):
    """An Accelerator with a CPU GradScaler, standing in for fp16 on a GPU (Accelerate keeps none on CPU)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16, growth_interval=2)


class Overflowing(ToyGAN):
    """The toy whose generator loss overflows at iterations 1 and 6, as fp16 losses sometimes do."""

    def g_step(self, batch):
        loss, logs = super().g_step(batch)
        return (loss * float("inf") if self.iteration in (1, 6) else loss), logs


def test_a_run_with_a_gradient_scaler_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(loop_module, "Accelerator", ScaledAccelerator)
    straight = run_toy(tmp_path / "straight", Overflowing, steps=8)
    run_toy(tmp_path / "split", Overflowing, steps=5)
    saved = json.loads((step_dir(tmp_path / "split", 5) / "optimizers.json").read_text())["scaler"]
    fresh = torch.amp.GradScaler("cpu", init_scale=2.0**16, growth_interval=2)
    fresh.scale(torch.ones(()))  # creates the scale tensor, as the first backward does
    assert saved is not None and saved != fresh.state_dict()  # overflows and growth moved the loss scale
    resumed = resume_to_8(tmp_path / "split", Overflowing)
    assert resumed.summary["weights_sha256"] == straight.summary["weights_sha256"]
    last = [json.loads((step_dir(tmp_path / name, 8) / "optimizers.json").read_text())["scaler"]
            for name in ("straight", "split")]
    assert last[0] == last[1]  # the resumed run continued from the saved scale and growth tracker


def test_rng_states_round_trip_through_their_files(tmp_path):
    import random

    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    random.gauss(0, 1), np.random.randn(3)  # cached Gaussians: python's gauss_next, numpy's has_gauss
    st.save_tree(st.rng_state(), tmp_path, "random_states_0")
    expected = (random.gauss(0, 1), random.random(), np.random.randn(5), torch.rand(5))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    tree = st.parse_tree(st.parse_json((tmp_path / "random_states_0.json").read_bytes(), "json"),
                         (tmp_path / "random_states_0.safetensors").read_bytes(), "random_states_0")
    st.set_rng_state(tree)
    got = (random.gauss(0, 1), random.random(), np.random.randn(5), torch.rand(5))
    assert got[:2] == expected[:2]
    assert np.array_equal(got[2], expected[2]) and torch.equal(got[3], expected[3])


def test_malformed_rng_states_are_refused_before_any_generator_changes():
    state = st.rng_state()
    state["numpy"]["keys"] = state["numpy"]["keys"][:10]
    before = torch.get_rng_state()
    with pytest.raises(st.StateError, match="624 key words"):
        st.set_rng_state(state)
    assert torch.equal(torch.get_rng_state(), before)


# --- several processes ------------------------------------------------------------------------------------------
def _torchrun(out: Path, steps: int, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(TRAIN_PY),
           "--task", "toy", f"output_dir={out}", f"steps={steps}", "batch_size=16", "cpu=true", "num_workers=0",
           "trackers=none", "log_every=0", "sample_every=0", "eval_every=0", "export=false",
           *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_processes_each_save_their_rng_states_and_resume_exactly(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    _torchrun(straight, 8, "checkpoint_every=4")
    folder = step_dir(straight, 4)
    rngs = [load_file(folder / f"random_states_{rank}.safetensors")["torch"] for rank in (0, 1)]
    assert not torch.equal(*rngs)  # each process draws its own stream (device_specific seeds)
    assert json.loads((folder / "train_state.json").read_text())["processes"] == 2
    # The same run stopped after iteration 4: its checkpoint is the straight run's (saving changes nothing).
    (split / "checkpoints").mkdir(parents=True)
    shutil.copytree(folder, step_dir(split, 4))
    resumed = _torchrun(split, 8, "checkpoint_every=4", "--resume")
    assert f"resumed from {step_dir(split, 4)} at iteration 4" in resumed.stdout
    summaries = [json.loads((out / "train_summary.json").read_text()) for out in (straight, split)]
    assert summaries[1]["resumed_from"] == 4 and summaries[1]["in_sync"]
    assert summaries[0]["weights_sha256"] == summaries[1]["weights_sha256"]
