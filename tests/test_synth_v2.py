"""FaceForge-Synth renderer 2 (shaded 3-D, the default): determinism, v1 kept apart and unchanged, exact landmarks,
AU and pose geometry, labels independent of the renderer, the cache key and the command line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceforge.data.synth import SynthFaces, SynthPairs, SynthSequences, render_face
from faceforge.data.synth import faces as synth_faces
from faceforge.data.synth.faces import DEFAULT_RENDERER, _identity, check_version
from faceforge.data.synth.geometry import AU_POSITION, deform
from faceforge.data.synth.render import render

IDENTITY = 1805
LABELS = ("landmarks", "au_intensity", "au_occurrence", "expression", "intensity", "identity", "pose")


def _luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def test_v2_is_deterministic_and_differs_from_v1():
    a = render_face(identity=IDENTITY, expression="happiness", pose=(8, -4, 3), version=2)
    b = render_face(identity=IDENTITY, expression="happiness", pose=(8, -4, 3), version=2)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.landmarks, b.landmarks)
    v1 = render_face(identity=IDENTITY, expression="happiness", pose=(8, -4, 3), version=1)
    assert a.image.shape == v1.image.shape == (128, 128, 3) and a.image.dtype == np.uint8
    assert np.abs(a.image.astype(int) - v1.image.astype(int)).mean() > 10
    other_seed = render_face(identity=IDENTITY, expression="happiness", pose=(8, -4, 3), version=2, seed=1)
    assert not np.array_equal(a.image, other_seed.image)


def test_version_is_validated():
    for bad in (0, 3, "2", 2.5, True):
        with pytest.raises(ValueError, match="renderer version"):
            check_version(bad)
    with pytest.raises(ValueError, match="renderer version"):
        render_face(version=3)
    with pytest.raises(ValueError, match="renderer version"):
        SynthFaces("val", length=2, version=0)


def test_version_2_is_the_default():
    assert DEFAULT_RENDERER == 2
    default = SynthFaces("val", length=3)
    explicit = SynthFaces("val", length=3, version=2)
    assert default.version == 2
    for key in ("image",) + LABELS:
        assert torch.equal(torch.as_tensor(default[1][key]), torch.as_tensor(explicit[1][key]))
    face = render_face(identity=IDENTITY, expression="surprise", pose=(5, 2, -3), margin=4)
    v2 = render_face(identity=IDENTITY, expression="surprise", pose=(5, 2, -3), margin=4, version=2)
    assert np.array_equal(face.image, v2.image) and np.array_equal(face.landmarks, v2.landmarks)


def test_version_1_is_unchanged_and_never_consults_renderer_2(monkeypatch):
    # version=1 is renderer 1's own drawing (faceforge.data.synth.render), bit for bit ...
    face = render_face(identity=IDENTITY, expression="surprise", pose=(5, 2, -3), margin=4, version=1)
    ident, neutral = _identity(IDENTITY, 0)
    aus = np.maximum(*synth_faces.expression_aus("surprise", 1.0))
    lm = deform(neutral, *synth_faces.expression_aus("surprise", 1.0), scale=ident.shape.scale)
    rng = np.random.default_rng([0, IDENTITY, 0xCA3])
    img, landmarks = render(ident, lm, aus, (5.0, 2.0, -3.0), size=128, margin=4, noise_rng=rng)
    assert np.array_equal(face.image, (img * 255 + 0.5).astype(np.uint8))
    assert np.array_equal(face.landmarks, landmarks)
    # ... and does not consult renderer 2's looks, textures or drawing at all.
    before = SynthFaces("val", length=3, version=1)[1]

    def renderer_2(*args, **kwargs):
        raise AssertionError("renderer 1 called into renderer 2")

    monkeypatch.setattr(synth_faces, "render3d", renderer_2)
    monkeypatch.setattr(synth_faces, "sample_look", renderer_2)
    after = SynthFaces("val", length=3, version=1)[1]
    for key in ("image",) + LABELS:
        assert torch.equal(torch.as_tensor(before[key]), torch.as_tensor(after[key]))
    again = render_face(identity=IDENTITY, expression="surprise", pose=(5, 2, -3), margin=4, version=1)
    assert np.array_equal(again.image, face.image)
    with pytest.raises(AssertionError, match="renderer 2"):
        render_face(identity=IDENTITY)  # the default does go through the patched renderer 2


def test_landmarks_are_v1s_projection_for_every_pose():
    # Renderer 2's surface passes through every landmark at its depth (geometry.landmark_depth), so the projected
    # landmarks are renderer 1's to the bit, frontal or turned, at any size and margin.
    for pose, size, margin in (((0, 0, 0), 128, 0), ((10, 6, -4), 128, 0), ((-12, -8, 6), 64, 8)):
        v1 = render_face(identity=IDENTITY, expression="anger", pose=pose, size=size, margin=margin)
        v2 = render_face(identity=IDENTITY, expression="anger", pose=pose, size=size, margin=margin, version=2)
        assert np.array_equal(v2.landmarks, v1.landmarks)


@pytest.mark.parametrize("pose", [(0.0, 0.0, 0.0), (11.0, -6.0, 5.0), (-12.0, 7.0, -4.0)])
def test_pupils_lie_at_the_eye_landmarks(pose):
    face = render_face(identity=IDENTITY, pose=pose, version=2, noise=False)
    luma = _luma(face.image)
    for eye in (slice(36, 42), slice(42, 48)):
        pts = face.landmarks[eye]
        cx, cy = pts.mean(0)
        x, y = int(round(cx)), int(round(cy))
        pupil = luma[y - 1:y + 2, x - 1:x + 2].min()
        # The pupil is the darkest spot of the eye: darker than the sclera between it and the corners.
        inner = luma[int(round(pts[3, 1])), int(round((cx + pts[3, 0]) / 2 + (pts[3, 0] - cx) * 0.25))]
        outer = luma[int(round(pts[0, 1])), int(round((cx + pts[0, 0]) / 2 + (pts[0, 0] - cx) * 0.25))]
        assert pupil < 60 and pupil < min(inner, outer) - 30, (pupil, inner, outer)


def test_open_mouth_is_dark_between_the_inner_lip_landmarks():
    face = render_face(identity=IDENTITY, aus={26: 5.0, 25: 5.0}, pose=(6, 3, 2), version=2, noise=False)
    luma = _luma(face.image)
    lm = face.landmarks
    upper, lower = lm[[61, 62, 63]].mean(0), lm[[67, 66, 65]].mean(0)
    assert lower[1] - upper[1] > 8  # the jaw dropped
    # Near the lower lip the mouth interior (below the upper teeth) is dark; the chin below is skin.
    inside = luma[int(round(lower[1] - 3)), int(round(lower[0])) - 1:int(round(lower[0])) + 2].mean()
    chin = luma[int(round(lm[8, 1] - 10)), int(round(lm[8, 0]))]
    assert inside < chin - 40, (inside, chin)


def test_aus_move_landmarks_as_in_v1():
    # Renderer 2 projects the same AU-deformed points: frontal landmarks equal v1's, so AU motion matches v1.
    for au, idx, axis, sign in ((1, 21, 1, -1), (12, 48, 1, -1), (26, 8, 1, 1), (15, 54, 1, 1), (4, 21, 1, 1)):
        neutral = render_face(identity=IDENTITY, version=2, noise=False).landmarks
        moved = render_face(identity=IDENTITY, aus={au: 5.0}, version=2, noise=False).landmarks
        v1 = render_face(identity=IDENTITY, aus={au: 5.0}).landmarks
        assert sign * (moved[idx, axis] - neutral[idx, axis]) > 1.0, au
        np.testing.assert_allclose(moved, v1, atol=1e-9)
    # Same under a pose: the direction of the motion is kept.
    base = render_face(identity=IDENTITY, pose=(10, 5, 0), version=2, noise=False).landmarks
    up = render_face(identity=IDENTITY, pose=(10, 5, 0), aus={1: 5.0}, version=2, noise=False).landmarks
    assert up[21, 1] < base[21, 1] - 2


def test_aus_change_the_shading_where_facs_puts_them():
    # AU4's furrows between the brows are relief in the height field: the glabella's shading changes.
    neutral = render_face(identity=IDENTITY, version=2, noise=False)
    frown = render_face(identity=IDENTITY, aus={4: 5.0}, version=2, noise=False)
    lm = neutral.landmarks
    y, x = int(round(lm[27, 1] - 6)), int(round(lm[27, 0]))
    diff = np.abs(_luma(frown.image) - _luma(neutral.image))
    assert diff[y - 4:y + 4, x - 6:x + 7].mean() > 2 * diff[100:110, 5:20].mean() + 1


def test_yaw_moves_the_nose_tip_sideways_and_pitch_moves_it_vertically():
    tip = {p: render_face(identity=IDENTITY, pose=p, version=2, noise=False).landmarks[30]
           for p in ((0, 0, 0), (12, 0, 0), (-12, 0, 0), (0, 8, 0))}
    assert tip[(12, 0, 0)][0] > tip[(0, 0, 0)][0] + 2 and tip[(-12, 0, 0)][0] < tip[(0, 0, 0)][0] - 2
    assert abs(tip[(0, 8, 0)][1] - tip[(0, 0, 0)][1]) > 1
    # The nose's shading moves with it: the image changes most around the nose when the head turns.
    a = render_face(identity=IDENTITY, version=2, noise=False)
    b = render_face(identity=IDENTITY, pose=(12, 0, 0), version=2, noise=False)
    assert not np.array_equal(a.image, b.image)


@pytest.mark.parametrize("cls", [SynthFaces, SynthPairs, SynthSequences])
def test_datasets_have_the_same_labels_under_both_renderers(cls):
    kwargs = {"frames": 9} if cls is SynthSequences else {}
    one = cls("test", length=3, size=64, version=1, **kwargs)
    two = cls("test", length=3, size=64, version=2, **kwargs)
    for i in (0, 2):
        a, b = one[i], two[i]
        if cls is SynthPairs:
            pairs = [(a["source"], b["source"]), (a["target"], b["target"])]
        else:
            pairs = [(a, b)]
        for x, y in pairs:
            for key in x:
                if key in ("image", "images"):
                    assert x[key].shape == y[key].shape and not torch.equal(x[key], y[key])
                else:
                    assert torch.equal(torch.as_tensor(x[key]), torch.as_tensor(y[key])), key


def test_sizes_margins_and_the_noise_switch():
    face = render_face(identity=IDENTITY, size=64, margin=8, version=2)
    assert face.image.shape == (80, 80, 3)
    big = render_face(identity=IDENTITY, size=128, version=2, noise=False)
    np.testing.assert_allclose(face.landmarks, (big.landmarks + 0.5) * 0.5 - 0.5 + 8, atol=0.6)
    quiet = render_face(identity=IDENTITY, version=2, noise=False)
    noisy = render_face(identity=IDENTITY, version=2)
    assert not np.array_equal(quiet.image, noisy.image)
    assert np.abs(_luma(quiet.image) - _luma(noisy.image)).mean() < 12


def test_deform_is_shared_with_v1():
    ident, neutral = _identity(IDENTITY, 0)
    left = np.zeros(len(AU_POSITION))
    left[AU_POSITION[12]] = 5
    lm = deform(neutral, left, left, scale=ident.shape.scale)
    face = render_face(identity=IDENTITY, aus={12: 5.0}, version=2, noise=False)
    np.testing.assert_allclose(face.landmarks, lm, atol=1e-9)  # frontal, size 128: template pixels


def test_cache_key_names_the_renderer(tmp_path, monkeypatch):
    from faceforge.data.cache import cache_name, cached_synth
    from faceforge.data.synth.render3d import REVISION

    assert cache_name("val", 128, 6, 0, version=1) == "synth-v2-val-128-6-0"  # renderer 1 keeps its existing names
    # The default (None) is renderer 2's name.
    v2_name = f"synth-v2-r2.{REVISION}-val-128-6-0"
    assert cache_name("val", 128, 6, 0) == cache_name("val", 128, 6, 0, version=None) == v2_name
    assert cache_name("val", 128, 6, 0, version=2) == v2_name
    with pytest.raises(ValueError, match="renderer version"):
        cache_name("val", 128, 6, 0, version=5)
    monkeypatch.setenv("FACEFORGE_CACHE", str(tmp_path))
    cached = cached_synth("val", size=32, length=2, num_workers=0)  # the default renderer, 2
    direct = SynthFaces("val", size=32, length=2, version=2)
    assert f"-r2.{REVISION}-" in cached.folder.name
    assert (cached[1]["image"] - direct[1]["image"]).abs().max() <= 0.5 / 255 + 1e-6
    assert cached_synth("val", size=32, length=2, num_workers=0, version=2).folder == cached.folder
    v1 = cached_synth("val", size=32, length=2, num_workers=0, version=1)
    assert v1.folder != cached.folder and "-r2." not in v1.folder.name
    first = SynthFaces("val", size=32, length=2, version=1)
    assert (v1[1]["image"] - first[1]["image"]).abs().max() <= 0.5 / 255 + 1e-6


def test_synth_command_renders_v2(tmp_path, capsys):
    from PIL import Image

    from faceforge.cli import main

    out = tmp_path / "v2.png"
    assert main(["synth", "--grid", str(out), "--identities", "1", "--size", "32", "--version", "2"]) == 0
    assert np.asarray(Image.open(out)).shape == (8 * 32, 78 + 32, 3)
    # Without --version the sheet comes from the default renderer, 2; --version 1 draws another one.
    default, v1 = tmp_path / "default.png", tmp_path / "v1.png"
    assert main(["synth", "--grid", str(default), "--identities", "1", "--size", "32"]) == 0
    assert main(["synth", "--grid", str(v1), "--identities", "1", "--size", "32", "--version", "1"]) == 0
    assert np.array_equal(np.asarray(Image.open(default)), np.asarray(Image.open(out)))
    assert not np.array_equal(np.asarray(Image.open(v1)), np.asarray(Image.open(out)))
    with pytest.raises(SystemExit):
        main(["synth", "--grid", str(out), "--version", "3"])
    capsys.readouterr()


def test_synth_command_writes_the_v1_v2_comparison(tmp_path, capsys):
    from PIL import Image

    from faceforge.cli import main

    both = tmp_path / "v1-v2.png"
    assert main(["synth", "--grid", str(both), "--compare", "--size", "24"]) == 0
    sheet = np.asarray(Image.open(both))
    assert sheet.shape == (16 + 4 * 24, 5 * (2 * 24 + 12), 3)
    v1, v2 = sheet[16:40, 0:24], sheet[16:40, 30:54]  # the first identity, neutral: v1 | v2
    assert v1.std() > 10 and v2.std() > 10 and np.abs(v1.astype(int) - v2.astype(int)).mean() > 5
    assert "wrote" in capsys.readouterr().out


def test_pair_cache_matches_synth_pairs_and_serves_shorter_lengths_from_a_longer_render(tmp_path, monkeypatch):
    from faceforge.data.cache import cached_synth_pairs
    from faceforge.data.synth import SynthPairs

    monkeypatch.setenv("FACEFORGE_CACHE", str(tmp_path))
    cached = cached_synth_pairs("val", size=32, length=3, num_workers=0)
    direct = SynthPairs("val", size=32, length=3, version=2)
    assert len(cached) == 3 and "-val-pairs-32-3-0" in cached.source.folder.name
    for side in ("source", "target"):
        got, want = cached[2][side], direct[2][side]
        assert (got["image"] - want["image"]).abs().max() <= 0.5 / 255 + 1e-6
        assert got["expression"] == want["expression"] and got["identity"] == want["identity"]
        assert torch.allclose(got["au_intensity"].float(), torch.as_tensor(want["au_intensity"]).float())
    assert cached[2]["source"]["expression"] != cached[2]["target"]["expression"]
    # A shorter request reads the first pairs of the complete longer render instead of rendering again.
    shorter = cached_synth_pairs("val", size=32, length=2, num_workers=0)
    assert len(shorter) == 2 and shorter.source.folder == cached.source.folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [cached.source.folder.name]
    with pytest.raises(IndexError):
        shorter[2]
