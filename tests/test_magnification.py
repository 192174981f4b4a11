"""Weak-expression magnification outside the app: Eq. (22)'s heat map, face tracking, the photo and video
pipelines, video I/O, ``faceforge magnify`` and the cache of sequence frames GroupGAN trains from."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from faceforge.errors import ImageTooLargeError, NoFaceFoundError, NotAFaceCropError, VideoReadError
from faceforge.face.video import is_video, read_video, write_video
from faceforge.magnification import (
    change_heat_map,
    change_map,
    magnify_crops,
    magnify_photo,
    magnify_video,
    track_faces,
)
from faceforge.models.groupgan import GroupGAN
from tests.model_helpers import trained_like

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model() -> GroupGAN:
    return trained_like("groupgan")


@pytest.fixture(scope="module")
def model_folder(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("groupgan")
    model.save_pretrained(folder)
    return folder


def synthetic(name: str) -> str:
    from faceforge.demo.examples import example_path

    return example_path(name)


def unchanged(model: GroupGAN, shift: float = 0.0) -> GroupGAN:
    """A copy of ``model`` whose G changes nothing, or adds ``shift`` everywhere."""
    copy = trained_like("groupgan")
    copy.magnify = lambda x: (x + shift).clamp(0, 1)
    return copy


def test_the_heat_map_is_eq_22_the_squared_change_summed_over_channels():
    before = np.zeros((4, 5, 3), np.uint8)
    after = before.copy()
    after[1, 2] = (255, 0, 0)
    after[3, 4] = (255, 255, 255)
    values = change_map(before, after)
    assert values.shape == (4, 5) and values[1, 2] == pytest.approx(1.0) and values[3, 4] == pytest.approx(3.0)
    assert values.sum() == pytest.approx(4.0)
    picture = change_heat_map(before, after)
    assert picture.shape == (4, 5, 3) and picture.dtype == np.uint8
    brightness = picture.astype(int).sum(-1)
    assert brightness[3, 4] == brightness.max() > brightness[1, 2] > brightness[0, 0] == 0
    assert change_heat_map(before, before).max() == 0  # no change: black, no division by zero


def test_faces_are_tracked_by_position_across_frames():
    a, b = (0, 0, 10, 10), (50, 50, 60, 60)
    frames = [[a], [(1, 1, 11, 11), b], [(52, 50, 62, 60)], [(2, 2, 12, 12), (51, 50, 61, 60)], [(100, 0, 110, 10)]]
    assert track_faces(frames) == [[0], [0, 1], [1], [0, 1], [2]]
    # two boxes on one track's spot: the closer one continues it, the other starts a track
    assert track_faces([[a], [(0, 0, 10, 10), (3, 3, 13, 13)]]) == [[0], [0, 1]]


def test_magnified_crops_carry_gs_change_into_the_window_the_model_saw(model):
    crops = np.stack([np.asarray(Image.open(synthetic("synthetic-aligned.png")))] * 2)
    (same, _) = magnify_crops(unchanged(model), crops)
    side = model.config.generator.image_size
    assert same.weak.shape == same.magnified.shape == (side, side, 3) and same.result.shape == (128, 128, 3)
    assert np.abs(same.result.astype(int) - crops[0]).max() <= 1  # G changed nothing: the crop, as it was
    assert same.change.max() == 0
    (brighter, _) = magnify_crops(unchanged(model, shift=0.2), crops)
    diff = brighter.result.astype(int) - crops[0]
    # context 1.125: the model sees the centre 8/9 of the face; the change lands there and nowhere else
    top, window = round((round(side * 1.125) - side) // 2 * 128 / round(side * 1.125)), round(128 / 1.125)
    inside = diff[top:top + window, top:top + window]
    assert inside.mean() > 30 and np.abs(diff[:top - 1]).max() == 0 and np.abs(diff[top + window + 1:]).max() == 0
    for probs in (brighter.before, brighter.after):
        assert list(probs) == list(model.config.classifier.classes) and sum(probs.values()) == pytest.approx(1, 1e-5)


def test_a_photo_has_every_face_magnified_and_pasted_back(model):
    photo = np.asarray(Image.open(synthetic("synthetic-group.png")))
    result = magnify_photo(photo, model)
    assert len(result.faces) == 2 and result.photo.shape == photo.shape
    assert not np.shares_memory(result.photo, photo) and (photo == np.asarray(Image.open(
        synthetic("synthetic-group.png")))).all()  # the caller's array is left as it was
    report = result.to_dict()
    assert report["photo_size"] == [460, 300] and len(report["faces"]) == 2
    face = report["faces"][0]
    assert face["expression_after"] == max(face["after"], key=face["after"].get) and len(face["box"]) == 4
    json.dumps(report)
    (aligned,) = magnify_photo(synthetic("synthetic-aligned.png"), model, aligned=True).faces
    assert aligned.face is None and aligned.result.shape == (128, 128, 3)


def test_bad_photos_and_models_are_refused_clearly(model, tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(blank)
    with pytest.raises(NoFaceFoundError):
        magnify_photo(blank, model)
    assert magnify_photo(blank, model, require=False).faces == ()
    with pytest.raises(NotAFaceCropError):
        magnify_photo(np.zeros((64, 80, 3), np.uint8), model, aligned=True)
    with pytest.raises(TypeError, match="not an expression magnifier"):
        magnify_photo(blank, model.classifier)


def test_videos_round_trip_and_bad_ones_are_refused(tmp_path):
    frames = [np.full((33, 41, 3), 20 * i, np.uint8) for i in range(6)]
    path = write_video(frames, tmp_path / "clip.mp4", fps=6)
    clip = read_video(path)
    assert len(clip.frames) == 6 and clip.frames[0].shape == (32, 40, 3) and clip.fps == pytest.approx(6)
    means = np.array([float(f.mean()) for f in clip.frames])  # flat frames survive H.264 within a grey level or two
    assert np.abs(means - 20 * np.arange(6)).max() < 2.5
    assert not clip.truncated and read_video(path, max_frames=4, truncate=True).truncated
    with pytest.raises(VideoReadError, match="more than 4 frames"):
        read_video(path, max_frames=4)
    (tmp_path / "junk.mp4").write_bytes(b"not a video" * 10)
    with pytest.raises(VideoReadError, match="cannot be read"):
        read_video(tmp_path / "junk.mp4")
    with pytest.raises(VideoReadError, match="no video"):
        read_video(tmp_path / "missing.mp4")
    with pytest.raises(ImageTooLargeError):
        read_video(path, max_pixels=100)
    assert is_video("a/b.MP4") and is_video("c.webm") and not is_video("face.png")


def test_a_video_has_every_frame_magnified_and_its_face_tracked(model):
    result = magnify_video(synthetic("synthetic-sequence.mp4"), model)
    assert len(result.frames) == 16 and result.fps == pytest.approx(8)
    assert result.tracks == ((0,),) * 16 and all(len(fs) == 1 for fs in result.faces)
    series = result.track_series(0)
    assert list(series) == list(model.config.classifier.classes) and all(len(v) == 16 for v in series.values())
    report = result.to_dict()
    assert report["frame_count"] == 16 and report["frames"][3]["faces"][0]["track"] == 0
    json.dumps(report)


def test_a_video_is_written_as_it_is_magnified_and_nothing_is_left_when_refused(model, tmp_path):
    out = tmp_path / "magnified.mp4"
    result = magnify_video(synthetic("synthetic-sequence.mp4"), model, out=out, max_frames=5, truncate=True)
    assert result.frames == () and len(result.faces) == 5 and result.truncated
    assert len(read_video(out).frames) == 5 and result.to_dict()["frame_count"] == 5
    blank = write_video([np.full((64, 64, 3), 90, np.uint8)] * 3, tmp_path / "blank.mp4", fps=3)
    with pytest.raises(NoFaceFoundError, match="any of the 3 frames"):
        magnify_video(blank, model, out=tmp_path / "refused.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.mp4", "magnified.mp4"]  # no partial file either


def test_faceforge_magnify_writes_the_photo_faces_and_json(model_folder, tmp_path):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "faceforge.cli", "magnify", synthetic("synthetic-group.png"),
                          "--out", str(out), "--model", str(model_folder)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "2 face(s) magnified" in run.stdout
    assert Image.open(out / "magnified.png").size == (460, 300)
    side = 32  # the tiny model's side: face, magnification and heat map side by side
    assert Image.open(out / "face_0.png").size == (3 * side, side) and (out / "face_1.png").is_file()
    report = json.loads((out / "magnify.json").read_text())
    assert report["model"] == str(model_folder) and len(report["faces"]) == 2


def test_faceforge_magnify_takes_a_video_and_refuses_bad_input(model_folder, tmp_path):
    out = tmp_path / "video"
    run = subprocess.run([sys.executable, "-m", "faceforge.cli", "magnify", synthetic("synthetic-sequence.mp4"),
                          "--out", str(out), "--model", str(model_folder)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert len(read_video(out / "magnified.mp4").frames) == 16
    report = json.loads((out / "magnify.json").read_text())
    assert report["frame_count"] == 16 and len(report["frames"]) == 16
    short = subprocess.run([sys.executable, "-m", "faceforge.cli", "magnify", synthetic("synthetic-sequence.mp4"),
                            "--out", str(tmp_path / "short"), "--model", str(model_folder), "--max-frames", "5"],
                           capture_output=True, text=True)
    assert short.returncode == 1 and "more than 5 frames" in short.stderr
    assert not (tmp_path / "short" / "magnify.json").exists()
    wrong = subprocess.run([sys.executable, "-m", "faceforge.cli", "magnify", synthetic("synthetic-weak.png"),
                            "--out", str(tmp_path / "wrong"), "--model", "au-detector"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "not an expression magnifier" in wrong.stderr


def test_sequence_frames_are_cached_as_rendered(tmp_path):
    from faceforge.data.cache import cached_synth_sequence_frames
    from faceforge.data.synth import SynthSequences
    from faceforge.training.tasks.groupgan import SynthSequencePairs

    cached = cached_synth_sequence_frames("train", size=32, length=5, frames=10, root=tmp_path, num_workers=0)
    live = SynthSequences("train", size=32, length=5, frames=10)
    assert len(cached) == 5 and cached.WEAK_FRAMES == tuple(live.WEAK_FRAMES)
    sample, rendered = cached[3], live[3]
    assert sample["weak"].dtype == torch.uint8 and sample["weak"].shape == (3, 3, 32, 32)
    expected = (rendered["images"][[5, 6, 7, 9]] * 255).round()
    assert torch.equal(torch.cat([sample["weak"], sample["peak"][None]]).float(), expected)
    assert sample["expression"] == rendered["expression"] and sample["identity"] == rendered["identity"]
    a = SynthSequencePairs(cached, fold=2, side="test")
    b = SynthSequencePairs(live, fold=2, side="test")
    assert a.indices == b.indices and torch.equal(a[1]["image"], b[1]["image"])
    # a second call reads the render, it does not redo it
    assert cached_synth_sequence_frames("train", size=32, length=5, frames=10, root=tmp_path).weak.filename == \
        cached.weak.filename
