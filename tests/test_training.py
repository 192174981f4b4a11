"""The training loop: configs, exports, exact resumption, interruption, several processes, the update maths.

In-process runs use the toy GAN (faceforge/training/tasks/toy.py) or a one-layer regression defined here;
runs that must be killed or need two processes start ``train/train.py`` as a subprocess with one thread.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import set_seed
from safetensors.torch import load_file
from torch import nn

import faceforge
import faceforge.registry
from faceforge.training import (
    EMA,
    ConfigError,
    RunConfig,
    Step,
    Task,
    TrainingInterrupted,
    list_checkpoints,
    train,
)
from faceforge.training.tasks import TASKS, load_run
from faceforge.training.tasks.toy import ToyGAN, ToyGenerator, ToyOptions

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PY = ROOT / "train" / "train.py"
QUIET = {"num_workers": 0, "trackers": "none", "log_every": 0, "checkpoint_every": 0, "sample_every": 0,
         "export": False}


@pytest.fixture(autouse=True)
def fresh_accelerate():
    """Each in-process run builds its own Accelerator (precision may differ between tests); one thread, as in
    the subprocesses, so that in-process and subprocess runs compute bit for bit the same."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    torch.set_num_threads(threads)


def toy_run(tmp_path: Path, name: str = "run", **kwargs) -> RunConfig:
    options = kwargs.pop("options", {})
    values = {"task": "toy", "output_dir": str(tmp_path / name), "steps": 4, "batch_size": 32, **QUIET}
    return RunConfig(**{**values, **kwargs}, options=ToyOptions(**options))


def state_of(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert torch.equal(value, b[key]), key


# --- config -------------------------------------------------------------------------------------------------
def test_yaml_then_command_line_overrides_typed_by_the_dataclasses(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("task: toy\nsteps: 100\nclip_grad: 1\noptions:\n  lr_g: 1e-4\n  d_every: 3\n")
    run = load_run(path, ["steps=7", "mixed_precision=bf16", "shuffle=false", "ema_decay=0.5",
                             "options.betas=0.9,0.95", "options.lr_d=2e-5"])
    assert (run.task, run.steps, run.mixed_precision) == ("toy", 7, "bf16")
    assert run.shuffle is False and run.ema_decay == 0.5
    assert run.clip_grad == 1.0 and isinstance(run.clip_grad, float)
    assert isinstance(run.options, ToyOptions)
    assert run.options.lr_g == 1e-4 and run.options.d_every == 3  # YAML reads "1e-4" as a string
    assert run.options.betas == (0.9, 0.95) and run.options.lr_d == 2e-5
    assert run.run_dir == Path("runs/toy")


@pytest.mark.parametrize(("overrides", "message"), [
    (["stpes=3"], "did you mean 'steps'"),
    (["steps=many"], "steps='many': expected int"),
    (["mixed_precision=fp8"], "mixed_precision='fp8': expected one of 'no', 'bf16', 'fp16'"),
    (["options.lr_q=1"], "did you mean 'lr_g'"),
    (["options.net.hiden=3"], r"options.net: unknown key 'hiden' \(did you mean 'hidden'\?\)"),
    (["options.net.hidden=0"], "hidden and image_size must be >= 1"),
    (["options.net=3"], "options.net='3': expected a mapping of ToyGeneratorConfig keys"),
    (["steps"], "not KEY=VALUE"),
])
def test_bad_config_values_are_refused_with_a_clear_message(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_run(None, overrides, task="toy")


def test_dotted_overrides_reach_the_network_config_nested_in_the_options(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("task: toy\nsteps: 5\noptions:\n  net:\n    hidden: 16\n    latent_dim: 4\n")
    run = load_run(path, ["options.net.hidden=24"])
    assert (run.options.net.hidden, run.options.net.latent_dim, run.options.net.image_size) == (24, 4, 8)
    assert run.to_dict()["options"]["net"]["hidden"] == 24


def test_synth_version_defaults_to_renderer_2_and_is_checked(tmp_path):
    from faceforge.data.synth.faces import DEFAULT_RENDERER

    assert RunConfig().synth_version == 2 == DEFAULT_RENDERER
    assert load_run(None, ["synth_version=1"], task="toy").synth_version == 1
    path = tmp_path / "run.yaml"
    path.write_text("task: toy\nsynth_version: 3\n")
    with pytest.raises(ConfigError, match="synth_version must be 1 or 2, got 3"):
        load_run(path)
    with pytest.raises(ConfigError, match="synth_version must be 1 or 2, got 0"):
        load_run(None, ["synth_version=0"], task="toy")


def test_each_training_config_renders_the_faces_its_shipped_card_names():
    # Retraining a shipped model from its config must render the faces its weights were trained on: the config's
    # synth_version is the renderer the card's data row names. Configs without a shipped card use the default.
    from faceforge.data.synth.faces import DEFAULT_RENDERER

    checked = 0
    for path in sorted((ROOT / "train" / "configs").glob("*.yaml")):
        run = load_run(path)  # mpenet_cpu.yaml: the CPU schedule of the shipped mpenet
        card = ROOT / "hub_cards" / path.stem.removesuffix("_cpu").replace("_", "-") / "README.md"
        if not card.is_file():
            assert run.synth_version == DEFAULT_RENDERER, path.name
            continue
        data = next(line for line in card.read_text().splitlines() if line.startswith("| data |"))
        assert f"FaceForge-Synth v{run.synth_version} (renderer {run.synth_version}" in data, (path.name, data)
        checked += 1
    # the six priors, and the paper and CPU configs of mpenet, mpegan, covpoolfer, fsrfer, groupgan and igcn
    assert checked == 18


def test_unknown_task_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown task 'nope'.*toy"):
        load_run(None, [], task="nope")


@pytest.mark.parametrize("path", sorted((ROOT / "train" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_names_a_known_task(path):
    run = load_run(path)
    assert run.task in TASKS and isinstance(run.options, TASKS[run.task].Options)
    assert run.steps or run.epochs


def test_print_config_shows_the_resolved_run(capsys):
    main = runpy.run_path(str(TRAIN_PY))["main"]
    assert main(["--task", "toy", "--print-config", "--resume", "steps=3", "options.d_every=2"]) == 0
    out = capsys.readouterr().out
    assert "steps: 3" in out and "d_every: 2" in out and "resume: latest" in out
    assert "batch_size: 32" in out  # from train/configs/toy.yaml


# --- a run and its outputs ----------------------------------------------------------------------------------
def test_run_writes_model_card_samples_checkpoints_and_logs(tmp_path):
    run = toy_run(tmp_path, steps=6, sample_every=3, eval_every=3, checkpoint_every=2, keep_checkpoints=2,
                  log_every=2, export=True, trackers="tensorboard", ema_decay=0.9)
    result = train(run)
    out = run.run_dir
    assert result.step == 6 and result.model_dir == out / "model"

    loaded = faceforge.from_pretrained(out / "model")
    assert isinstance(loaded, ToyGenerator)
    assert_same(state_of(loaded), state_of(result.ema["g"]))  # the EMA generator is what gets exported
    assert not torch.equal(loaded.net[0].weight, result.task.nets["g"].net[0].weight.cpu())

    card = (out / "model" / "README.md").read_text()
    assert "library_name: faceforge" in card and "pipeline_tag: unconditional-image-generation" in card
    assert f"{result.metrics['mean_l1']}" in card and "| iterations | 6 |" in card
    assert "| training time | 0 min (wall clock) |" in card and "no GPU" in card

    from PIL import Image

    for step in (3, 6):
        grid = Image.open(out / "samples" / f"step_{step:06d}.png")
        assert min(grid.size) >= 64 and len(np.unique(np.asarray(grid.convert("L")))) > 10
    assert [p.name for p in list_checkpoints(out)] == ["step_000004", "step_000006"]  # keep_checkpoints=2
    assert not list((out / "checkpoints").glob("*.partial"))
    first, last = (json.loads((p / "train_state.json").read_text())["seconds"] for p in list_checkpoints(out))
    assert 0 < first <= last  # training time so far, carried over resumes

    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if "g/loss" in e] == [2, 4, 6]
    assert {"d/loss", "d/real", "d/fake", "g/loss", "d/lr", "samples_per_second"} <= set(log[-2])
    assert [e["step"] for e in log if "eval/mean_l1" in e] == [3, 6]
    assert list((out / "tensorboard").rglob("events.out.tfevents*"))
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["step"] == 6 and summary["in_sync"] and summary["metrics"] == result.metrics


def test_export_hands_test_metrics_to_a_pure_card_and_the_summary(tmp_path):
    calls = []

    class Tested(ToyGAN):
        def test_metrics(self):
            calls.append(("test_metrics", self.nets["g"], self.nets["g"].training, torch.is_grad_enabled()))
            return {"mean": torch.tensor(0.25), "split": {"a": np.float32(0.5), "b": 1}}

        def card(self, metrics, test):
            calls.append(("card", sorted(metrics), test["split"]["b"]))
            return super().card(metrics, test)

    result = train(Tested(toy_run(tmp_path, steps=2, export=True, ema_decay=0.9)))
    # after export, in the inference view (EMA generator, eval mode, no grad); then card, given the figures
    assert calls == [("test_metrics", result.ema["g"], False, False), ("card", ["mean_l1"], 1)]
    expected = {"mean": 0.25, "split": {"a": 0.5, "b": 1.0}}
    assert json.loads((result.run_dir / "train_summary.json").read_text())["test_metrics"] == expected
    assert result.summary["test_metrics"] == expected and (result.model_dir / "README.md").is_file()
    AcceleratorState._reset_state(reset_partial_state=True)
    assert "test_metrics" not in train(toy_run(tmp_path, "plain", steps=1, export=True)).summary  # none


def test_a_fresh_run_refuses_a_folder_with_checkpoints(tmp_path):
    train(toy_run(tmp_path, steps=1))
    AcceleratorState._reset_state(reset_partial_state=True)
    with pytest.raises(ConfigError, match="--resume"):
        train(toy_run(tmp_path, steps=2))


def test_bf16_autocast_runs_the_steps(tmp_path):
    seen = []

    class Watched(ToyGAN):
        def g_step(self, batch):
            seen.append(torch.is_autocast_enabled("cpu"))
            return super().g_step(batch)

    result = train(Watched(toy_run(tmp_path, steps=2, mixed_precision="bf16")))
    assert seen == [True, True]
    assert all(torch.isfinite(p).all() for p in result.task.nets["g"].parameters())


@pytest.mark.parametrize(("precision", "native", "warned"), [("bf16", False, True), ("bf16", True, False),
                                                            ("no", False, False)])
def test_bf16_on_a_cpu_without_bf16_instructions_warns_that_fp32_is_faster(tmp_path, monkeypatch, capsys, precision,
                                                                           native, warned):
    from faceforge.training import loop

    assert isinstance(loop.cpu_has_bf16(), bool)
    monkeypatch.setattr(loop, "cpu_has_bf16", lambda: native)
    train(ToyGAN(toy_run(tmp_path, steps=1, mixed_precision=precision)))
    assert ("this CPU has no bf16 instructions" in capsys.readouterr().out) is warned


# --- exact resumption ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_resume_continues_exactly_as_the_uninterrupted_run(tmp_path):
    # 8 batches per epoch: 9 iterations end mid-epoch 1; D runs on even iterations; EMA, LR decay, dropout.
    kwargs = {"ema_decay": 0.9, "options": {"d_every": 2, "lr_decay": 0.95}}
    straight = train(toy_run(tmp_path, "straight", steps=20, **kwargs))
    AcceleratorState._reset_state(reset_partial_state=True)
    first = train(toy_run(tmp_path, "split", steps=9, **kwargs))
    assert first.step == 9
    AcceleratorState._reset_state(reset_partial_state=True)
    resumed = train(toy_run(tmp_path, "split", steps=20, resume="latest", **kwargs))
    assert resumed.summary["resumed_from"] == 9 and resumed.step == 20
    for name in ("g", "d"):
        assert_same(state_of(straight.task.nets[name]), state_of(resumed.task.nets[name]))
    assert_same(state_of(straight.ema["g"]), state_of(resumed.ema["g"]))
    for name in ("g", "d"):
        a, b = straight.task.optimizers[name], resumed.task.optimizers[name]
        assert a.param_groups[0]["lr"] == b.param_groups[0]["lr"]
        for pa, pb in zip(a.param_groups[0]["params"], b.param_groups[0]["params"]):
            assert torch.equal(a.state[pa]["exp_avg_sq"], b.state[pb]["exp_avg_sq"])
    assert straight.summary["weights_sha256"] == resumed.summary["weights_sha256"]


class Augmented(ToyGAN):
    """The toy with random augmentation drawn from torch's and numpy's global RNGs inside the dataset."""

    def train_dataset(self):
        return AugmentedSquares(super().train_dataset())


class AugmentedSquares(torch.utils.data.Dataset):
    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        image = self.base[index]["image"]
        if np.random.rand() < 0.5:
            image = image.flip(-1)
        return {"image": (image + 0.05 * torch.rand_like(image)).clamp(0, 1)}


@pytest.mark.slow
def test_random_augmentation_repeats_with_any_number_of_workers_and_after_a_resume(tmp_path):
    digests = []
    for name, workers, steps, resume in (("w0", 0, 20, ""), ("w2", 2, 20, ""), ("split", 2, 9, ""),
                                         ("split", 2, 20, "latest")):
        AcceleratorState._reset_state(reset_partial_state=True)
        result = train(Augmented(toy_run(tmp_path, name, steps=steps, num_workers=workers, resume=resume)))
        digests.append(result.summary["weights_sha256"])
    assert digests[0] == digests[1] == digests[3] != digests[2]


def _subprocess_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _overrides(out: Path) -> list[str]:
    return [f"output_dir={out}", "steps=40", "batch_size=32", "checkpoint_every=5", "log_every=1",
            "sample_every=0", "eval_every=0", "num_workers=0", "trackers=none", "export=false", "cpu=true"]


def _train_cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(TRAIN_PY), "--task", "toy", *_overrides(out), *extra]


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            stderr = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"training ended (rc {proc.returncode}) too early:\n{stderr}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for a checkpoint")
        time.sleep(0.01)


def _logged_steps(out: Path) -> list[int]:
    steps = []
    for line in (out / "log.jsonl").read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # a line cut by SIGKILL
            continue
        if "g/loss" in entry:
            steps.append(entry["step"])
    return steps


def _checkpoint_steps(out: Path) -> list[int]:
    return [int(p.name.split("_")[1]) for p in list_checkpoints(out)]


@pytest.mark.slow
@pytest.mark.timeout(600)  # its own waits for checkpoints and for the SIGTERM exit alone allow 240 s
def test_killed_runs_lose_at_most_the_steps_since_the_last_checkpoint_and_resume_exactly(tmp_path):
    env = _subprocess_env()
    # The uninterrupted run, in this process (train/train.py reads the same config file and overrides).
    config = ROOT / "train" / "configs" / "toy.yaml"
    reference = train(load_run(config, _overrides(tmp_path / "ref"), task="toy"))
    out = tmp_path / "killed"
    slow = "options.step_seconds=0.05"

    # SIGKILL: nothing can be saved; the newest complete checkpoint is where the run continues.
    proc = subprocess.Popen(_train_cmd(out, slow), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    _wait_for(lambda: max(_checkpoint_steps(out), default=0) >= 10, proc)
    proc.kill()
    proc.wait()
    reached, resume_at = max(_logged_steps(out)), max(_checkpoint_steps(out))
    assert 10 <= resume_at <= reached < 40
    assert reached - resume_at <= 5  # checkpoint_every

    # SIGTERM: the current iteration finishes, a checkpoint is written, nothing is lost.
    proc = subprocess.Popen(_train_cmd(out, slow, "--resume"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    _wait_for(lambda: max(_checkpoint_steps(out)) >= resume_at + 5, proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "SIGTERM" in stderr and "--resume" in stderr
    assert f"resumed from {out / 'checkpoints' / f'step_{resume_at:06d}'} at iteration {resume_at}" in stdout
    stopped = max(_logged_steps(out))
    assert max(_checkpoint_steps(out)) == stopped < 40

    finish = subprocess.run(_train_cmd(out, "--resume"), check=False, env=env, capture_output=True, text=True,
                            cwd=ROOT)
    assert finish.returncode == 0, finish.stderr
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from"] == stopped and summary["step"] == 40
    assert summary["weights_sha256"] == reference.summary["weights_sha256"]
    final, straight = (d / "checkpoints" / "step_000040" for d in (out, tmp_path / "ref"))
    for name in ("model.safetensors", "model_1.safetensors"):
        assert_same(load_file(final / name), load_file(straight / name))


# --- several processes --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_cpu_processes_end_with_identical_weights(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(TRAIN_PY), "--task", "toy", f"output_dir={out}", "steps=12", "batch_size=16", "grad_accum=2",
           "cpu=true", "num_workers=0", "trackers=none", "log_every=4", "sample_every=0", "eval_every=0",
           "checkpoint_every=0"]
    result = subprocess.run(cmd, check=False, env=_subprocess_env(), capture_output=True, text=True, cwd=ROOT,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["processes"] == 2 and summary["step"] == 12
    first, second = summary["weights_sha256"]
    assert first == second and summary["in_sync"]
    assert "32 x 2 accumulated x 2 processes" not in result.stdout  # batch_size is per process
    assert "16 x 2 accumulated x 2 processes = 64 samples" in result.stdout
    assert (out / "model" / "model.safetensors").is_file()


# --- the update maths ---------------------------------------------------------------------------------------
class Counting(ToyGAN):
    def __init__(self, run):
        super().__init__(run)
        self.calls: list[tuple[str, int, float]] = []

    def d_step(self, batch):
        self.calls.append(("d", self.iteration, float(batch["image"].sum())))
        return super().d_step(batch)

    def g_step(self, batch):
        self.calls.append(("g", self.iteration, float(batch["image"].sum())))
        assert not any(p.requires_grad for p in self.nets["d"].parameters()), "D must be frozen in a G step"
        return super().g_step(batch)


def test_d_and_g_steps_run_at_their_ratio_over_the_same_accumulated_micro_batches(tmp_path):
    task = Counting(toy_run(tmp_path, steps=7, grad_accum=2, options={"d_every": 3}))
    result = train(task)
    d_iterations = [i for s, i, _ in task.calls if s == "d"]
    g_iterations = [i for s, i, _ in task.calls if s == "g"]
    assert d_iterations == [0, 0, 3, 3, 6, 6]  # one D update every three G updates, 2 micro-batches each
    assert g_iterations == [i for i in range(7) for _ in range(2)]
    at_zero = [(s, x) for s, i, x in task.calls if i == 0]
    assert [x for s, x in at_zero if s == "d"] == [x for s, x in at_zero if s == "g"]
    assert at_zero[0][1] != at_zero[1][1]  # two different micro-batches
    adam = result.task.optimizers
    assert {int(st["step"]) for st in adam["d"].state.values()} == {3}
    assert {int(st["step"]) for st in adam["g"].state.values()} == {7}


@dataclass
class RegressionOptions:
    lr: float = 0.5


class Regression(Task):
    """y = x . w + b on fixed random points, with plain SGD: the update can be computed by hand."""

    Options = RegressionOptions

    def build_networks(self):
        return {"f": nn.Linear(4, 1)}

    def build_optimizers(self):
        return {"f": torch.optim.SGD(self.nets["f"].parameters(), lr=self.opts.lr)}

    def train_dataset(self):
        g = torch.Generator().manual_seed(3)
        x = torch.randn(64, 4, generator=g)
        y = x @ torch.tensor([1.0, -2.0, 3.0, 0.5]) + 4.0
        return [{"x": x[i], "y": y[i:i + 1]} for i in range(64)]

    def steps(self):
        return [Step("f", self.step)]

    def step(self, batch):
        return F.mse_loss(self.nets["f"](batch["x"]), batch["y"]), {}


def regression(tmp_path, name, **kwargs):
    return Regression(RunConfig(task="regression", output_dir=str(tmp_path / name), **{**QUIET, **kwargs}))


def test_gradient_accumulation_equals_one_large_batch(tmp_path):
    big = train(regression(tmp_path, "big", steps=2, batch_size=16, shuffle=False))
    AcceleratorState._reset_state(reset_partial_state=True)
    accumulated = train(regression(tmp_path, "acc", steps=2, batch_size=8, grad_accum=2, shuffle=False))
    a, b = state_of(big.task.nets["f"]), state_of(accumulated.task.nets["f"])
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)


def test_clipping_bounds_the_update_norm(tmp_path):
    set_seed(0)
    start = state_of(nn.Linear(4, 1))  # what the loop builds after seeding with the run's seed (0)
    moved = {}
    for clip in (0.0, 1e-3):
        AcceleratorState._reset_state(reset_partial_state=True)
        result = train(regression(tmp_path, f"clip{clip}", steps=1, batch_size=16, clip_grad=clip,
                                  options={"lr": 1.0}))
        end = state_of(result.task.nets["f"])
        moved[clip] = torch.sqrt(sum(((end[k] - start[k]) ** 2).sum() for k in start)).item()
    assert moved[0.0] > 0.1  # the unclipped gradient is large
    assert moved[1e-3] == pytest.approx(1e-3, rel=1e-3)  # SGD with lr 1 moves by the clipped norm


def test_ema_update_is_decay_times_old_plus_one_minus_decay_times_new():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ema = EMA(net, decay=0.9)
    old = state_of(ema.module)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
        net[1].running_mean.fill_(2.0)
    ema.update(net)
    new = state_of(net)
    for name, _ in net.named_parameters():
        expected = 0.9 * old[name] + 0.1 * new[name]
        # float32: the update's fused multiply-add may round differently from this expression (1 ulp ~ 1.2e-7
        # near 1), so the tolerance is a few ulps relative to the values.
        torch.testing.assert_close(ema.module.state_dict()[name], expected, rtol=5e-7, atol=1e-7)
    assert torch.equal(ema.module[1].running_mean, torch.full((3,), 2.0))  # buffers are copied
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_the_loop_updates_the_ema_after_each_generator_update(tmp_path):
    run = toy_run(tmp_path, steps=1, ema_decay=0.5)
    set_seed(run.seed)
    initial = state_of(ToyGAN(run).build_networks()["g"])
    result = train(ToyGAN(run))
    trained = state_of(result.task.nets["g"])
    assert not torch.equal(initial["net.0.weight"], trained["net.0.weight"])
    for key, value in state_of(result.ema["g"]).items():
        torch.testing.assert_close(value, 0.5 * initial[key] + 0.5 * trained[key], rtol=0, atol=1e-7)


def test_interrupting_in_process_saves_the_finished_iteration(tmp_path):
    class Interrupted(ToyGAN):
        def g_step(self, batch):
            if self.iteration == 2:
                os.kill(os.getpid(), signal.SIGINT)
            return super().g_step(batch)

    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as stop:
        train(Interrupted(toy_run(tmp_path, steps=10)))
    assert stop.value.step == 3 and stop.value.signum == signal.SIGINT
    assert _checkpoint_steps(tmp_path / "run") == [3]
    assert signal.getsignal(signal.SIGINT) is previous  # the handlers are put back
