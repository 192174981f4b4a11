"""FaceForge-Synth: determinism, splits, AU geometry, exact landmarks, prototypes, and renderer 1's AU appearance
locality and drawn lips and brows (renderer 2 has its own tests in test_synth_v2.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from skimage.draw import polygon2mask

from faceforge.data.synth import (
    EXPRESSIONS,
    PEAK_AUS,
    SynthFaces,
    SynthPairs,
    SynthSequences,
    expression_aus,
    render_face,
    split_identities,
)
from faceforge.data.synth.appearance import sample_identity
from faceforge.data.synth.faces import _identity
from faceforge.data.synth.geometry import AU_POSITION, deform
from faceforge.data.synth.render import render
from faceforge.face.aus import FACEFORGE_AUS
from faceforge.face.expressions import EMFACS_PROTOTYPES
from faceforge.face.template import CANONICAL_TEMPLATE_128, canonical_landmarks

IDENTITY = 1805


def test_samples_have_the_documented_keys_shapes_and_ranges():
    ds = SynthFaces("val", length=6)
    s = ds[3]
    assert s["image"].shape == (3, 128, 128) and s["image"].dtype == torch.float32
    assert 0.0 <= float(s["image"].min()) and float(s["image"].max()) <= 1.0
    assert s["landmarks"].shape == (68, 2) and s["au_intensity"].shape == (len(FACEFORGE_AUS),)
    assert torch.equal(s["au_occurrence"], (s["au_intensity"] >= 2).float())
    assert 0 <= s["expression"] < len(EXPRESSIONS) and 0.0 <= s["intensity"] <= 1.0
    assert s["identity"] in split_identities("val") and s["pose"].shape == (3,)
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    assert batch["image"].shape == (2, 3, 128, 128)


def test_rendering_is_deterministic_and_seed_dependent():
    a, b = SynthFaces("train", length=4)[2], SynthFaces("train", length=4)[2]
    for key in ("image", "landmarks", "au_intensity", "pose"):
        assert torch.equal(a[key], b[key])
    c = SynthFaces("train", length=4, seed=1)[2]
    assert not torch.equal(a["image"], c["image"])
    with pytest.raises(IndexError):
        SynthFaces("train", length=4)[4]


def test_splits_are_identity_disjoint():
    ids = {split: set(split_identities(split)) for split in ("train", "val", "test")}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    for split in ("train", "val", "test"):
        ds = SynthFaces(split, length=5)
        assert {ds[i]["identity"] for i in range(5)} <= ids[split]
    with pytest.raises(ValueError, match="split"):
        SynthFaces("holdout")


@pytest.mark.parametrize("expression", [e for e in EXPRESSIONS if e != "neutral"])
def test_expression_prototypes_yield_their_aus(expression):
    left, right = expression_aus(expression, 1.0)
    both = np.maximum(left, right)
    for au in EMFACS_PROTOTYPES[expression]:
        assert both[AU_POSITION[au]] >= 2.0, f"{expression} lacks AU{au}"
    present = {FACEFORGE_AUS[i] for i in np.flatnonzero(both > 0)}
    assert present == set(PEAK_AUS[expression])
    weak_left, _ = expression_aus(expression, 0.3)
    assert np.allclose(weak_left, 0.3 * left)
    if expression == "contempt":  # unilateral: only the subject's right side (image left)
        assert right.max() == 0 and left[AU_POSITION[12]] > 2


def test_neutral_has_no_aus():
    left, right = expression_aus("neutral", 1.0)
    assert left.max() == 0 and right.max() == 0
    assert render_face(identity=IDENTITY).au_intensity.max() == 0


# Where FACS puts each AU's changes: landmark indices whose bounding box (plus a margin) must hold them.
BROWS, EYES = list(range(17, 27)), list(range(36, 48))
NOSE, MOUTH = list(range(27, 36)), list(range(48, 68))
AU_REGIONS = {
    1: BROWS,
    2: BROWS,
    4: BROWS + [27, 28],
    5: EYES,
    6: EYES + [2, 14, 31, 35, 48, 54],
    7: EYES,
    9: NOSE + [21, 22] + MOUTH[:7],
    10: NOSE[4:] + MOUTH,
    12: MOUTH + [2, 14, 31, 35, 40, 47],
    14: MOUTH,
    15: MOUTH,
    17: MOUTH + [6, 7, 8, 9, 10],
    20: MOUTH,
    23: MOUTH,
    24: MOUTH,
    25: MOUTH,
    26: MOUTH + list(range(3, 14)),
    43: EYES,
}


FOREHEAD_AUS = (1, 2, 4)  # their furrows lie on the forehead, up to ~20 px above the brows


def _region_mask(
    landmarks: np.ndarray, idx: list[int], margin: float, *, up: float = 0.0, size: int = 128
) -> np.ndarray:
    pts = landmarks[idx]
    (x0, y0), (x1, y1) = pts.min(0) - margin, pts.max(0) + margin
    y0 -= up
    ys, xs = np.mgrid[0:size, 0:size]
    return (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)


@pytest.mark.parametrize("au", FACEFORGE_AUS)
def test_each_au_changes_the_face_where_facs_says_and_only_there(au):
    # Renderer 1 draws each AU's appearance as flat 2-D shapes, so nothing outside its region changes; renderer 2's
    # metered exposure and shaded relief spread small changes over the whole face.
    neutral = render_face(identity=IDENTITY, noise=False, version=1)
    active = render_face(identity=IDENTITY, aus={au: 5.0}, noise=False, version=1)
    diff = np.abs(active.image.astype(np.float64) - neutral.image).sum(-1)
    assert diff.sum() > 2000, f"AU{au} barely changes the image"
    # The region around the AU's landmarks, before and after they move.
    up = 12.0 if au in FOREHEAD_AUS else 0.0
    region = _region_mask(neutral.landmarks, AU_REGIONS[au], 10, up=up)
    region |= _region_mask(active.landmarks, AU_REGIONS[au], 10, up=up)
    inside = diff[region].sum() / diff.sum()
    assert inside > 0.95, f"AU{au}: only {inside:.1%} of the change is in its FACS region"
    assert region.mean() < 0.6


def test_au_geometry_moves_landmarks_as_facs_describes():
    neutral = render_face(identity=IDENTITY, noise=False).landmarks
    lm = {
        au: render_face(identity=IDENTITY, aus={au: 5.0}, noise=False).landmarks
        for au in (1, 4, 12, 15, 26, 43, 5)
    }
    assert lm[1][21, 1] < neutral[21, 1] - 4  # inner brow up
    assert lm[4][21, 0] > neutral[21, 0] + 2 and lm[4][21, 1] > neutral[21, 1] + 3  # brows down and together
    assert lm[12][48, 1] < neutral[48, 1] - 4 and lm[12][48, 0] < neutral[48, 0] - 4  # corner up and out
    assert lm[12][54, 0] > neutral[54, 0] + 4
    assert lm[15][48, 1] > neutral[48, 1] + 3  # corner down
    assert lm[26][8, 1] > neutral[8, 1] + 6 and lm[26][66, 1] > lm[26][62, 1] + 8  # jaw drops, mouth opens
    assert np.allclose(lm[43][[37, 38, 43, 44]], lm[43][[41, 40, 47, 46]])  # lids closed
    assert lm[5][37, 1] < neutral[37, 1] - 2


def _coloured_identity(identity: int):
    ident, neutral = _identity(identity, 0)
    flat = dataclasses.replace(
        ident,
        lips=(255.0, 0.0, 0.0),
        brow=(0.0, 0.0, 255.0),
        light_strength=0.0,
        noise_sigma=0.0,
        glasses=None,
        skin=(200.0, 170.0, 150.0),
    )
    return flat, neutral


@pytest.mark.parametrize("pose", [(0.0, 0.0, 0.0), (10.0, -6.0, 5.0)])
def test_landmarks_are_exact_for_the_rendered_geometry(pose):
    ident, neutral = _coloured_identity(IDENTITY)
    aus = np.zeros(len(FACEFORGE_AUS))
    aus[AU_POSITION[12]] = 3.0
    lm = deform(neutral, aus, aus)
    img, out_lm = render(ident, lm, aus, pose)
    rgb = img * 255
    lips = (rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
    # The red of the lips: inside the outer lip contour, outside the inner one (the mouth opening).
    polygon = polygon2mask((128, 128), out_lm[48:60, ::-1]) & ~polygon2mask((128, 128), out_lm[60:68, ::-1])
    iou = (lips & polygon).sum() / (lips | polygon).sum()
    assert iou > 0.85
    # Every outer-lip landmark sits on the drawn lip contour: within 2 px there is pixel mostly covered by lip
    # (green channel < 40) and one mostly not (> 130); the lips are 3-6 px thick, so a misplaced contour fails.
    green = rgb[..., 1]
    for x, y in out_lm[48:60]:
        r, c = int(round(y)), int(round(x))
        window = green[r - 2 : r + 3, c - 2 : c + 3]
        assert (window < 40).any() and (window > 130).any()
    brows = (rgb[..., 2] > 150) & (rgb[..., 0] < 110)
    for x, y in out_lm[17:27]:  # every brow landmark sits on the drawn brow
        assert brows[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2].any()


@pytest.mark.slow
def test_template_is_the_mean_neutral_frontal_face():
    lms = np.stack([render_face(identity=i, noise=False).landmarks for i in range(300)])
    err = np.linalg.norm(lms.mean(0) - CANONICAL_TEMPLATE_128, axis=1)
    assert err.max() < 0.6, err.max()
    assert lms.std(0).mean() > 1.0  # identities really differ


def test_size_and_margin_rescale_the_landmarks_consistently():
    small = render_face(identity=IDENTITY, expression="happiness", size=64, noise=False)
    big = render_face(identity=IDENTITY, expression="happiness", size=128, noise=False)
    assert small.image.shape == (64, 64, 3)
    assert np.allclose(small.landmarks, (big.landmarks + 0.5) / 2 - 0.5)
    framed = render_face(identity=IDENTITY, expression="happiness", margin=8, noise=False)
    assert framed.image.shape == (144, 144, 3) and np.allclose(framed.landmarks, big.landmarks + 8)
    assert np.allclose(canonical_landmarks(128, margin=8), CANONICAL_TEMPLATE_128 + 8)


def test_render_face_rejects_bad_arguments():
    with pytest.raises(ValueError, match="AU3"):
        render_face(aus={3: 2.0})
    with pytest.raises(ValueError, match="0-5"):
        render_face(aus={12: 7.0})
    with pytest.raises(ValueError, match="unknown expression"):
        render_face(expression="bored")
    with pytest.raises(ValueError, match="intensity"):
        render_face(expression="happy", intensity=1.5)


def test_pairs_share_identity_and_pose_and_differ_in_expression():
    pairs = SynthPairs("test", length=4)
    for i in range(4):
        p = pairs[i]
        assert p["source"]["identity"] == p["target"]["identity"]
        assert torch.equal(p["source"]["pose"], p["target"]["pose"])
        assert p["source"]["expression"] != p["target"]["expression"]


def test_sequences_rise_from_neutral_to_peak():
    seq = SynthSequences("test", length=2, frames=12)[1]
    assert seq["images"].shape == (12, 3, 128, 128)
    assert float(seq["au_intensity"][0].max()) == 0.0 and seq["expression"] != 0
    total = seq["au_intensity"].sum(1)
    assert torch.all(total[1:] >= total[:-1]) and seq["peak_frame"] == 11
    assert seq["weak_frames"].tolist() == [5, 6, 7]
    weak, peak = seq["au_intensity"][seq["weak_frames"]].max(), seq["au_intensity"][-1].max()
    assert weak < 0.6 * peak


def test_identity_sampling_is_varied():
    idents = [sample_identity(i) for i in range(200)]
    assert len({i.hair_style for i in idents}) >= 4
    assert 0.05 < np.mean([i.glasses is not None for i in idents]) < 0.3
    skins = np.array([i.skin for i in idents]).mean(1)
    assert skins.max() - skins.min() > 100  # light to dark skin
