"""The AU detector and expression classifier tasks train through the real loop and export loadable models."""

from __future__ import annotations

import json

import pytest
import torch

import faceforge
from faceforge.training.loop import train
from faceforge.training.tasks import build_task, load_run


@pytest.fixture()
def tiny_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEFORGE_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.parametrize("config, options", [
    ("train/configs/au_detector.yaml", {"net.backbone": "resnet10t", "net.image_size": 48}),
    ("train/configs/expression_classifier.yaml", {"net.width": 0.0625, "net.image_size": 48}),
])
@pytest.mark.slow
def test_prior_task_trains_and_exports(tiny_cache, config, options):
    overrides = [f"output_dir={tiny_cache / 'run'}", "steps=3", "batch_size=8", "num_workers=0", "eval_every=3",
                 "checkpoint_every=3", "sample_every=0", "log_every=1", "options.train_length=24",
                 "options.eval_length=16", "options.test_length=16"]
    overrides += [f"options.{k}={v}" for k, v in options.items()]
    run = load_run(config, overrides)
    task = build_task(run)
    train(task)
    folder = tiny_cache / "run" / "model"
    model = faceforge.from_pretrained(folder)
    out = model(torch.rand(2, 3, 128, 128))
    assert out.shape[0] == 2 and torch.isfinite(out).all()
    card = (folder / "README.md").read_text()
    assert "FaceForge-Synth" in card and "split: test" in card
    summary = json.loads((tiny_cache / "run" / "train_summary.json").read_text())
    assert summary  # the loop recorded the run


def test_cached_synth_renders_once_and_matches_the_renderer(tmp_path, monkeypatch):
    from faceforge.data.cache import cached_synth
    from faceforge.data.synth import SynthFaces

    monkeypatch.setenv("FACEFORGE_CACHE", str(tmp_path))
    cached = cached_synth("val", length=6, num_workers=0, intensity_range=(0.85, 1.0))
    direct = SynthFaces("val", length=6, intensity_range=(0.85, 1.0))
    for i in (0, 5):
        a, b = cached[i], direct[i]
        assert (a["image"] - b["image"]).abs().max() <= 0.5 / 255 + 1e-6  # uint8 storage
        assert torch.equal(a["au_intensity"], b["au_intensity"]) and a["expression"] == b["expression"]
    folders = [p.name for p in tmp_path.iterdir()]
    assert len(folders) == 1 and "intensity_range" in folders[0] and not folders[0].count(".tmp")
    again = cached_synth("val", length=6, num_workers=0, intensity_range=(0.85, 1.0))
    assert again.folder == cached.folder
