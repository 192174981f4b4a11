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
    ("train/configs/au_evaluator_robust.yaml", {"net.image_size": 48}),
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
    if "robust" in config:  # degraded training faces; the card reports sharp and bicubic x2-x8 test faces
        assert "Training faces were degraded at random" in card
        for row in ("auc x8", "ap x4", "f1 x2", "mean ROC-AUC, bicubic x8"):
            assert row in card


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


class _BlasThreads(torch.utils.data.Dataset):
    """Samples whose image holds the number of BLAS threads of the process that rendered them."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        from threadpoolctl import threadpool_info

        threads = max([pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"] or [1])
        labels = {"landmarks": torch.zeros(68, 2), "au_intensity": torch.zeros(18), "au_occurrence": torch.zeros(18),
                  "expression": 0, "intensity": 0.0, "identity": index, "pose": torch.zeros(3)}
        return {"image": torch.full((3, 2, 2), threads / 255), **labels}


@pytest.mark.parametrize("workers", [0, 2])
def test_the_render_cache_renders_with_one_blas_thread_per_process(tmp_path, workers):
    # One worker per core, each with a BLAS pool over every core, oversubscribes the machine (renderer 2's small
    # matrix products); the cache renders with one BLAS thread per process and leaves the caller's pool as it was.
    from threadpoolctl import threadpool_info

    from faceforge.data.cache import ArrayFaces, write_arrays

    before = [pool["num_threads"] for pool in threadpool_info()]
    folder = write_arrays(_BlasThreads(), tmp_path / "cache", num_workers=workers, batch_size=2)
    faces = ArrayFaces(folder)
    assert [round(float(faces[i]["image"].max()) * 255) for i in range(4)] == [1, 1, 1, 1]
    assert [pool["num_threads"] for pool in threadpool_info()] == before


@pytest.mark.parametrize("version", [1, 2])
def test_a_task_reads_the_synthetic_faces_of_its_runs_renderer(tiny_cache, version):
    from faceforge.data.synth import SynthFaces
    from faceforge.training.tasks.faces import dataset_card_name, face_split

    run = load_run("train/configs/au_detector.yaml", [f"output_dir={tiny_cache / 'run'}", f"synth_version={version}"])
    task = build_task(run)
    faces = face_split(task, "val", length=2)
    assert ("-r2." in faces.folder.name) == (version == 2) and faces.folder.parent == tiny_cache / "cache"
    same, other = SynthFaces("val", length=2, version=version), SynthFaces("val", length=2, version=3 - version)
    assert (faces[1]["image"] - same[1]["image"]).abs().max() <= 0.5 / 255 + 1e-6  # uint8 storage
    assert (faces[1]["image"] - other[1]["image"]).abs().mean() > 0.02
    assert task.dataset("val", length=2).version == version  # the uncached path too
    assert dataset_card_name(task)[1].startswith(f"FaceForge-Synth v{version} (renderer {version}")
