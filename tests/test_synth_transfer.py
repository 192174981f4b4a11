"""benchmarks/synth_transfer.py and benchmarks/real_faces.py: the network, its training loop, the scores and
their bootstrap intervals, and the alignment of a folder of real photos (no network access)."""

from __future__ import annotations

import importlib.util
import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def transfer():
    return _load("synth_transfer")


@pytest.fixture(scope="module")
def real_faces():
    return _load("real_faces")


@pytest.fixture(scope="module")
def tiny_faces():
    """Two synthetic training faces (renderer 1: fast and not under tuning) as MPENet's super-resolution
    samples: centre crops, no flips, so every batch of two is the same batch."""
    from faceforge.data.synth import SynthFaces
    from faceforge.training.tasks.mpenet import SuperResolutionFaces

    faces = SynthFaces("train", size=128, margin=8, length=2, version=1)
    return SuperResolutionFaces(faces, size=128, scale=8, train=False)


def test_the_network_upscales_16_to_128_and_starts_at_bicubic(transfer):
    from faceforge.data.degrade import imresize

    torch.manual_seed(0)
    model = transfer.SmallSR().eval()
    assert 300_000 <= transfer.count_parameters(model) <= 600_000
    lr = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        out = model(lr)
    assert out.shape == (2, 3, 128, 128)
    assert torch.equal(out, imresize(lr, size=128))  # the zero-initialised last convolution adds nothing yet
    with pytest.raises(ValueError, match="power of two"):
        transfer.SmallSR(scale=6)


def test_training_steps_lower_the_loss_and_repeat_with_the_seed(transfer, tiny_faces):
    runs = []
    for _ in range(2):
        torch.manual_seed(123)  # a different initialisation: train() itself only seeds the data
        model = transfer.SmallSR(channels=16, blocks=1)
        runs.append(transfer.train(model, tiny_faces, steps=3, batch=2, seed=5, lr=3e-4))
    losses = runs[0]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert losses[-1] < losses[0]  # the same batch every step: Adam must lower it
    assert runs[1] == runs[0]  # the same seed and initialisation: the same run, to the bit


def test_bootstrap_of_known_values(transfer):
    assert transfer.bootstrap_mean(np.zeros(10)) == (0.0, 0.0, 0.0)
    assert transfer.bootstrap_mean(np.full(7, 1.5)) == (1.5, 1.5, 1.5)
    mean, lo, hi = transfer.bootstrap_mean(np.tile([0.0, 1.0], 50))
    assert mean == 0.5 and 0.38 < lo < 0.5 < hi < 0.62  # standard error 0.05: about +-0.1
    with pytest.raises(ValueError):
        transfer.bootstrap_mean(np.array([]))
    result = transfer.paired(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 4.0]))
    assert (result["mean"], result["a_wins"], result["b_wins"], result["ties"], result["n"]) == (0.0, 1, 1, 1, 3)
    assert -1 <= result["lo"] < 0 < result["hi"] <= 1


def test_scores_of_bicubic_and_of_an_untrained_model(transfer, tiny_faces):
    flat = torch.full((2, 3, 128, 128), 0.5)  # bicubic restores a flat face exactly: PSNR inf, counted as the cap
    exact = transfer.score(None, flat)
    assert np.array_equal(exact["psnr"], [transfer.PSNR_CAP] * 2)
    assert np.allclose(exact["ssim"], 1.0)

    hr = torch.stack([tiny_faces[i]["image"] for i in range(2)])
    bicubic = transfer.score(None, hr)
    assert np.all((bicubic["psnr"] > 15) & (bicubic["psnr"] < 40))
    model = transfer.SmallSR().eval()
    untrained = transfer.score(model, hr)
    gain = transfer.bootstrap_mean(untrained["psnr"] - bicubic["psnr"])
    assert gain == (0.0, 0.0, 0.0)  # it returns the bicubic upsampling


def test_a_folder_with_the_astronaut_gives_one_aligned_face(real_faces, astronaut, detector, tmp_path):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(astronaut).save(photos / "astronaut.png")
    (photos / "notes.txt").write_text("not an image")
    out = tmp_path / "aligned"
    faces = real_faces.aligned_real_faces(tmp_path / "cache", photos, sources=(), fetch=False, detector=detector,
                                          out=out, verbose=False)
    assert [name for name, _ in faces] == ["photos-astronaut-0"]
    crop = faces[0][1]
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    assert np.array_equal(np.asarray(Image.open(out / "photos-astronaut-0.png")), crop)
    assert not (tmp_path / "cache").exists()  # no source was asked for: nothing fetched or extracted
    # a minimum eye distance above the astronaut's (about 43 px) skips her face
    assert real_faces.aligned_real_faces(tmp_path / "cache", photos, sources=(), fetch=False, detector=detector,
                                         min_eye_distance=60, verbose=False) == []


def test_only_the_named_regular_members_are_read_from_a_tarball(real_faces, tmp_path):
    tarball = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name, data in (("pkg-1.0/images/a.jpg", b"photo"), ("pkg-1.0/images/other.jpg", b"other")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("pkg-1.0/images/link.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    folder = tmp_path / "photos"
    written = real_faces.extract_members(
        tarball, ["pkg-1.0/images/a.jpg", "pkg-1.0/images/link.jpg", "pkg-1.0/images/missing.jpg"], folder
    )
    assert written == [folder / "a.jpg"]
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg"]
    assert (folder / "a.jpg").read_bytes() == b"photo"


def test_real_restoration_scores_models_against_bicubic_on_the_same_inputs():
    from faceforge.models.sr_baselines import VDSR, VDSRConfig

    bench = _load("real_restoration")
    g = torch.Generator().manual_seed(0)
    hr = torch.nn.functional.avg_pool2d(torch.rand(3, 3, 132, 132, generator=g), 5, 1)
    bicubic = bench.restore(None, hr)
    vdsr = VDSR(VDSRConfig(depth=3, channels=4)).eval()
    torch.nn.init.zeros_(vdsr.body[-1].weight)
    torch.nn.init.zeros_(vdsr.body[-1].bias)  # a zero residual: VDSR returns the bicubic upsampling
    assert torch.allclose(bench.restore(vdsr, hr), bicubic, atol=1e-6)
    got = bench.scores(bicubic, hr)
    assert got["psnr"].shape == (3,) and (got["psnr"] > 15).all() and (got["ssim"] <= 1).all()
    assert (bench.scores(hr, hr)["psnr"] == bench.PSNR_CAP).all()  # identical images: the cap, not inf


def test_real_restoration_occludes_every_input_alike_and_scores_the_square_apart():
    from faceforge.pipelines import occlusion_masks

    bench = _load("real_restoration")
    g = torch.Generator().manual_seed(1)
    hr = torch.nn.functional.avg_pool2d(torch.rand(2, 3, 132, 132, generator=g), 5, 1)
    mask = occlusion_masks("random", 2, 128, 16, seed=0)
    bicubic = bench.restore(None, hr, mask)
    lr = bench.to_low_resolution(hr, 16, quantize=True)
    assert bench.restore(None, hr).sub(bicubic).abs().max() > 0.1  # the square changed the input
    hidden = mask[:, :, :, :].repeat_interleave(8, -1).repeat_interleave(8, -2).bool().expand_as(bicubic)
    assert bicubic[hidden].mean() < lr.mean() / 2  # the square stays dark in the bicubic upsampling
    got = bench.scores(bicubic, hr, mask)
    assert got["psnr_occluded"].shape == (2,) and (got["psnr_occluded"] < got["psnr"]).all()
    # a face right everywhere but in the square scores the square's PSNR alone there
    patched = torch.where(hidden, torch.zeros_like(hr), hr)
    right = bench.scores(patched, hr, mask)
    assert (right["psnr"] < bench.PSNR_CAP).all() and (right["psnr_occluded"] < 15).all()
    assert (bench.scores(hr, hr, mask)["psnr_occluded"] == bench.PSNR_CAP).all()
