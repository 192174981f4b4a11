"""The face-alignment network that initialises MPENet's alignment branch: its blur, its task and its errors."""

from __future__ import annotations

import numpy as np
import torch

import faceforge
from faceforge.data.degrade import imresize
from faceforge.face.template import canonical_landmarks
from faceforge.models.face_alignment import FaceAlignment, blur_by_resampling
from faceforge.training import train
from faceforge.training.tasks import build_task, load_run
from faceforge.training.tasks.face_alignment import landmark_errors


def test_blur_by_resampling_is_a_round_trip_through_the_low_resolution():
    images = torch.rand(3, 3, 32, 32)
    out = blur_by_resampling(images, torch.tensor([1, 4, 8]))
    assert torch.equal(out[0], images[0])  # factor 1: untouched
    expected = imresize(imresize(images[2:], size=4, quantize=True), size=32, clamp=True)
    assert torch.allclose(out[2:], expected)
    assert out[2].std() < out[1].std() < images[1].std()  # more blur, less contrast left


def test_landmark_errors_in_pixels_and_eye_distance():
    truth = torch.from_numpy(canonical_landmarks(128)).float()[None].repeat(2, 1, 1)
    shifted = truth + torch.tensor([3.0, 4.0])  # 5 px everywhere
    errors = landmark_errors(shifted, truth)
    eyes = np.linalg.norm(truth[0, 36:42].mean(0) - truth[0, 42:48].mean(0))
    assert errors["px"] == 5.0 and abs(errors["nme"] - 500 / eyes) < 1e-3


def test_the_task_trains_and_exports_a_loadable_network(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEFORGE_CACHE", str(tmp_path / "cache"))
    run = load_run("train/configs/face_alignment.yaml", [
        f"output_dir={tmp_path / 'run'}", "steps=2", "batch_size=2", "eval_every=2", "checkpoint_every=2",
        "log_every=1", "trackers=none", "eval_batch_size=2", "options.net.channels=8", "options.net.stacks=1",
        "options.net.depth=2", "options.train_length=4", "options.eval_length=2", "options.test_length=2"])
    result = train(build_task(run))
    model = faceforge.from_pretrained(result.model_dir)
    assert isinstance(model, FaceAlignment) and model.config.heatmap_size == 32
    assert model.landmarks(torch.rand(1, 3, 128, 128)).shape == (1, 68, 2)
    card = (result.model_dir / "README.md").read_text()
    assert "x8" in card and "NME" in card and {"px_x1", "px_x8"} <= set(result.metrics)
