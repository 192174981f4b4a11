"""SRCNN and VDSR, the baselines of MPENet's Tables 1-2: their architectures and shapes, VDSR's global residual,
config checks, saving and loading, scoring with ``evaluate_super_resolution``, and both training tasks."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

import faceforge
from faceforge.data.degrade import imresize, to_low_resolution
from faceforge.evaluation import build_eval_dataset, evaluate, evaluate_super_resolution
from faceforge.face.aus import FACEFORGE_AUS
from faceforge.models.au_detector import AUDetector
from faceforge.models.sr_baselines import SRCNN, VDSR, SRCNNConfig, VDSRConfig
from faceforge.training.loop import train
from faceforge.training.tasks import build_task, load_run

TINY_NETS = {
    "srcnn": {"net.image_size": 32, "net.scale": 4, "net.kernel_sizes": "[5,1,3]", "net.widths": "[8,4]"},
    "vdsr": {"net.image_size": 32, "net.scale": 4, "net.depth": 4, "net.channels": 8},
}


pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread (conftest)


def lr_faces(batch: int = 2, size: int = 16, seed: int = 0) -> torch.Tensor:
    """(B, 3, size, size) 8-bit LR inputs, as the data pipeline makes them."""
    hr = torch.rand(batch, 3, 8 * size, 8 * size, generator=torch.Generator().manual_seed(seed))
    return to_low_resolution(hr, size, quantize=True)


def zero_last_layer(model: SRCNN | VDSR) -> None:
    with torch.no_grad():
        model.body[-1].weight.zero_()
        model.body[-1].bias.zero_()


# --- the networks ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, parameters", [(SRCNN, 20_099), (VDSR, 668_227)])
def test_the_default_networks_restore_16x16_faces_to_128x128(cls, parameters):
    torch.manual_seed(0)
    model = cls(cls.config_class()).eval()
    cfg = model.config
    assert (cfg.image_size, cfg.scale, cfg.lr_size, cfg.steps) == (128, 8, 16, 1)
    # SRCNN 9-1-5 with 64 / 32 filters: 3*81*64+64 + 64*32+32 + 32*25*3+3; VDSR: 20 3x3 layers of 64 filters
    assert sum(p.numel() for p in model.parameters()) == parameters
    lr = lr_faces()
    with torch.no_grad():
        out = model(lr)
    assert list(out) == ["sr", "steps"] and out["sr"].shape == (2, 3, 128, 128)
    assert len(out["steps"]) == 1 and out["steps"][0] is out["sr"]
    restored = model.restore(lr)
    assert torch.equal(restored, out["sr"].clamp(0, 1))
    with pytest.raises(ValueError, match=r"takes \(B, 3, 16, 16\) LR faces, got \(2, 3, 128, 128\)"):
        model(torch.rand(2, 3, 128, 128))


def test_srcnn_is_the_papers_9_1_5_network_with_relus_and_small_gaussian_weights():
    torch.manual_seed(0)
    model = SRCNN(SRCNNConfig())
    convs = [m for m in model.body if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] == [(3, 64, 9), (64, 32, 1), (32, 3, 5)]
    assert sum(isinstance(m, torch.nn.ReLU) for m in model.body) == 2 and not isinstance(model.body[-1], torch.nn.ReLU)
    weights = torch.cat([c.weight.flatten() for c in convs])
    assert weights.std().item() == pytest.approx(1e-3, rel=0.05) and all(c.bias.abs().sum() == 0 for c in convs)


def test_srcnn_predicts_the_face_itself_and_replicates_its_borders():
    torch.manual_seed(0)
    model = SRCNN(SRCNNConfig()).eval()
    # A flat face stays flat: replicated borders add no edge (zero padding would darken the border).
    flat = model(torch.full((1, 3, 16, 16), 0.6))["sr"]
    assert (flat - flat[..., 64:65, 64:65]).abs().max() < 1e-6
    zero_last_layer(model)
    assert torch.equal(model(lr_faces())["sr"], torch.zeros(2, 3, 128, 128))  # no residual around it


def test_vdsr_with_a_zeroed_last_layer_returns_exactly_the_bicubic_upsampling():
    torch.manual_seed(0)
    model = VDSR(VDSRConfig()).eval()
    convs = [m for m in model.body if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 20 and all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert [c.out_channels for c in convs] == [64] * 19 + [3]
    lr = lr_faces()
    with torch.no_grad():
        assert not torch.equal(model(lr)["sr"], imresize(lr, size=128))  # the residual of an initialised network
        zero_last_layer(model)
        assert torch.equal(model(lr)["sr"], imresize(lr, size=128))  # Sec. 3.2: x + f(x), f(x) = 0
        assert torch.equal(model.restore(lr), imresize(lr, size=128, clamp=True))
        with torch.autocast("cpu", dtype=torch.bfloat16):  # the base image is not rounded to bf16
            mixed = model(lr)["sr"]
    assert mixed.dtype == torch.float32 and torch.equal(mixed, imresize(lr, size=128))


@pytest.mark.parametrize("make, message", [
    (lambda: SRCNNConfig(kernel_sizes=(9, 2, 5)), r"SRCNNConfig\.kernel_sizes must be odd and in \[1, 15\]"),
    (lambda: SRCNNConfig(kernel_sizes=(9, 1)), r"SRCNNConfig\.kernel_sizes must be a sequence of \(int, int, int\)"),
    (lambda: SRCNNConfig(widths=(64, 0)), r"SRCNNConfig\.widths must be in \[1, 1024\], got \(64, 0\)"),
    (lambda: SRCNNConfig(init_std=0.0), r"SRCNNConfig\.init_std must be in \(0, 1\]"),
    (lambda: SRCNNConfig(image_size=2048), r"SRCNNConfig\.image_size must be in \[1, 1024\]"),
    (lambda: VDSRConfig(depth=1), r"VDSRConfig\.depth must be in \[2, 64\], got 1"),
    (lambda: VDSRConfig(channels=5000), r"VDSRConfig\.channels must be in \[1, 1024\]"),
    (lambda: VDSRConfig(scale=32), r"VDSRConfig\.scale must be in \[1, 16\]"),
    (lambda: VDSRConfig(image_size=100), r"image_size 100 must be divisible by scale 8"),
    (lambda: VDSRConfig(model_type="srcnn"), r"VDSRConfig\.model_type is 'vdsr', got 'srcnn'"),
])
def test_configs_refuse_bad_values_naming_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("cls, fields", [(SRCNN, {"kernel_sizes", "widths", "init_std"}),
                                         (VDSR, {"depth", "channels"})])
def test_save_and_from_pretrained_give_the_same_network_and_a_flat_config(cls, fields, tmp_path):
    torch.manual_seed(0)
    model = cls(cls.tiny_config())
    model.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    # the derived sizes (lr_size, steps) are properties, not saved fields
    assert set(written) == {"model_type", "faceforge_version", "image_size", "scale", *fields}
    loaded = faceforge.from_pretrained(tmp_path)
    assert type(loaded) is cls and loaded.config == model.config and not loaded.training
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    lr = lr_faces(size=model.config.lr_size, seed=1)
    with torch.no_grad():
        assert torch.equal(loaded(lr)["sr"], model(lr)["sr"])


# --- evaluation ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [SRCNN, VDSR])
def test_evaluate_super_resolution_scores_them_against_bicubic(cls):
    torch.manual_seed(0)
    model = cls(cls.tiny_config())
    data = build_eval_dataset("synth", length=4)
    result = evaluate(model, data, batch_size=2, au_evaluator=None)  # the family's declared evaluator
    table = result["table"]
    assert list(table) == ["bicubic", "step 1"] and result["details"]["samples"] == 4
    assert 15 < table["bicubic"]["PSNR"] < 40 and 0 < table["step 1"]["SSIM"] < 1
    assert "landmark_px" not in result["details"]
    if cls is VDSR:  # a zero residual scores exactly as bicubic
        zero_last_layer(model)
        zeroed = evaluate_super_resolution(model, data, batch_size=2, au_evaluator=None)["table"]
        assert zeroed["step 1"] == pytest.approx(zeroed["bicubic"], abs=1e-9)
    else:  # an untrained SRCNN outputs almost nothing: far below bicubic
        assert table["step 1"]["PSNR"] < table["bicubic"]["PSNR"] - 3


def test_a_separate_au_evaluator_scores_the_restored_faces_on_faceforges_aus():
    # Table 2's columns: the network predicts no AUs; SynthFaces lists none, so its labels are read as the 18 AUs
    # of FaceForge-Synth (the config's ``aus``).
    torch.manual_seed(0)
    model = VDSR(VDSR.tiny_config())
    assert model.config.aus == FACEFORGE_AUS
    evaluator = AUDetector(AUDetector.tiny_config())
    result = evaluate_super_resolution(model, build_eval_dataset("synth", length=4), batch_size=2,
                                       au_evaluator=evaluator)
    table = result["table"]
    assert list(table) == ["bicubic", "step 1", "HR"] and 0 <= table["step 1"]["AU Acc"] <= 100
    assert list(result["details"]["au_f1"]["HR"]) == [f"AU{au}" for au in FACEFORGE_AUS] + ["avg"]


# --- training ------------------------------------------------------------------------------------------------------
def tiny_run(task: str, folder, **options):
    overrides = [f"output_dir={folder}", "steps=3", "batch_size=2", "num_workers=0", "eval_every=3",
                 "checkpoint_every=3", "sample_every=3", "sample_count=2", "log_every=1", "trackers=none"]
    options = {**TINY_NETS[task], "crop_margin": 2, "train_length": 6, "eval_length": 4, "test_length": 4, **options}
    overrides += [f"options.{k}={v}" for k, v in options.items()]
    return load_run(f"train/configs/{task}_cpu.yaml", overrides)


@pytest.mark.parametrize("task", ["srcnn", "vdsr"])
def test_the_task_trains_with_the_pixel_mse_and_adam_and_samples_input_bicubic_output_target(task, tmp_path):
    task_ = build_task(tiny_run(task, tmp_path))
    task_.nets = task_.build_networks()
    net = task_.nets["net"]
    image = torch.rand(2, 3, 32, 32)
    batch = {"image": image, "lr": to_low_resolution(image, 8, quantize=True)}
    loss, logs = task_.step(batch)
    assert loss.item() == pytest.approx(F.mse_loss(net(batch["lr"])["sr"], image).item()) and logs == {}
    optimizer = task_.build_optimizers()["net"]
    assert optimizer.defaults["lr"] == {"srcnn": 3e-3, "vdsr": 1e-3}[task] and optimizer.defaults["weight_decay"] == 0
    grid = task_.sample(batch)
    assert grid.shape == (2, 3, 32, 128)
    assert torch.equal(grid[..., :32], F.interpolate(batch["lr"], scale_factor=4, mode="nearest"))
    assert torch.equal(grid[..., 32:64], imresize(batch["lr"], size=32, clamp=True))
    assert torch.equal(grid[..., 64:96], net.restore(batch["lr"])) and torch.equal(grid[..., 96:], image)


@pytest.mark.slow
@pytest.mark.parametrize("task, cls", [("srcnn", SRCNN), ("vdsr", VDSR)])
def test_each_task_trains_through_the_real_loop_and_exports_a_model_with_a_card(task, cls, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEFORGE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "run"
    run = tiny_run(task, folder)
    assert run.synth_version == 2 and run.mixed_precision == "bf16"  # the CPU configs' data and precision
    result = train(build_task(run))
    assert result.step == 3
    model = faceforge.from_pretrained(folder / "model")
    assert type(model) is cls and model.config == run.options.net and model.config.image_size == 32
    out = model(torch.rand(2, 3, 8, 8))
    assert out["sr"].shape == (2, 3, 32, 32) and torch.isfinite(out["sr"]).all()
    metrics = result.metrics
    assert {"psnr", "ssim", "psnr_bicubic", "ssim_bicubic"} <= set(metrics) and metrics["psnr"] == metrics["psnr_step1"]
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert sum("net/loss" in row for row in log) == 3
    assert list((folder / "samples").glob("*.png"))
    test = json.loads((folder / "train_summary.json").read_text())["test_metrics"]
    card = (folder / "model" / "README.md").read_text()
    name = cls.__name__
    assert f"| {name} | {test['psnr']:.2f} | {test['ssim']:.4f} |" in card
    assert f"| bicubic | {test['psnr_bicubic']:.2f} | {test['ssim_bicubic']:.4f} |" in card
    assert "split: test" in card and "FaceForge-Synth v2" in card and "not a shipped model" in card
    assert ("gradient norm clipped at 1" in card) == (task == "vdsr")
