"""AU metadata, landmark-based AU centres and AU attention maps (faceforge.face.aus)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceforge.face import aus as A
from faceforge.face.landmarks import flip_landmarks
from faceforge.face.template import CENTRE, canonical_landmarks

TEMPLATE = canonical_landmarks()  # (68, 2) at 128x128, symmetric about x = 63.5
SCALE = 24.0  # inner eye corners 39 and 42 of the template: x 51.5 and 75.5
EXTRA_AUS = (16, 18, 27, 28, 45)
MIDLINE_AUS = (23, 24, 25, 28)


def _centre(au: int, lm: np.ndarray = TEMPLATE) -> np.ndarray:
    return A.au_centres(lm, (au,))[0]


# --- metadata -------------------------------------------------------------------------------------------


def test_constants_unchanged():
    assert A.FACEFORGE_AUS == (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26, 43)
    assert A.BP4D_AUS == (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
    assert A.DISFA_AUS == (1, 2, 4, 6, 9, 12, 25, 26)
    assert A.OCCURRENCE_THRESHOLD == 2.0


def test_every_au_has_metadata_and_a_centre_rule():
    for au in set(A.FACEFORGE_AUS) | set(A.BP4D_AUS) | set(A.DISFA_AUS) | set(EXTRA_AUS):
        unit = A.ACTION_UNITS[au]
        assert unit.number == au
        assert unit.region in A.REGIONS
        assert unit.name and unit.muscles and unit.appearance
        assert au in A.AU_CENTRE_RULES
    assert set(A.AU_CENTRE_RULES) == set(A.ACTION_UNITS)


def test_names_and_labels():
    assert A.au_name(1) == "Inner brow raiser"
    assert A.au_name(4) == "Brow lowerer"
    assert A.au_label(12) == "AU12 Lip corner puller"
    assert A.ACTION_UNITS[6].region == "cheeks"
    assert A.ACTION_UNITS[9].region == "nose"
    assert A.ACTION_UNITS[17].region == "chin"
    assert A.ACTION_UNITS[12].muscles == "zygomaticus major"
    with pytest.raises(ValueError, match="AU3"):
        A.au_name(3)
    with pytest.raises(AttributeError):
        A.ACTION_UNITS[1].name = "x"  # frozen


def test_subset_indices():
    assert A.BP4D_INDEX == (0, 1, 2, 4, 5, 7, 8, 9, 10, 11, 13, 14)
    assert A.DISFA_INDEX == (0, 1, 2, 4, 6, 8, 15, 16)
    for subset, index in ((A.BP4D_AUS, A.BP4D_INDEX), (A.DISFA_AUS, A.DISFA_INDEX)):
        assert tuple(A.FACEFORGE_AUS[i] for i in index) == subset
    y = np.arange(18)[None].repeat(2, 0)
    assert (y[:, list(A.DISFA_INDEX)] == np.array(A.DISFA_INDEX)).all()
    assert A.au_index(A.BP4D_AUS, (12, 1)) == (6, 0)
    with pytest.raises(ValueError, match=r"\[5\]"):
        A.au_index(A.BP4D_AUS, (1, 5))


def test_intensity_letters():
    assert [A.intensity_letter(i) for i in range(6)] == ["", "A", "B", "C", "D", "E"]
    assert [A.intensity_name(i) for i in (0, 3, 5)] == ["absent", "marked", "maximum"]
    assert [A.intensity_letter(v) for v in (2.6, 2.4, 2.5, 0.49)] == ["C", "B", "C", ""]
    assert [A.intensity_from_letter(c) for c in ("", "a", "B", "e")] == [0, 1, 2, 5]
    assert A.au_code(12, 3) == "AU12C" and A.au_code(12) == "AU12" and A.au_code(12, 0) == ""
    for bad in (-1, 6):
        with pytest.raises(ValueError):
            A.intensity_letter(bad)
    with pytest.raises(ValueError):
        A.intensity_from_letter("F")


# --- centres --------------------------------------------------------------------------------------------


def test_centre_scale_is_inner_eye_corner_distance():
    assert A.landmark_scale(TEMPLATE) == pytest.approx(SCALE)
    assert float(A.landmark_scale(torch.tensor(TEMPLATE))) == pytest.approx(SCALE)


def test_template_centres_follow_the_jaa_net_rules():
    c = A.au_centres(TEMPLATE)
    assert c.shape == (len(A.FACEFORGE_AUS), 2, 2)
    # AU1: half a scale (12 px) above the inner brow ends 21 and 22.
    np.testing.assert_allclose(_centre(1), TEMPLATE[[21, 22]] - [0, SCALE / 2])
    assert (_centre(1)[:, 1] < TEMPLATE[[21, 22], 1]).all()
    # AU2: a third of a scale above the outer brows; AU4: a third below the middle of the brows.
    np.testing.assert_allclose(_centre(2), TEMPLATE[[18, 25]] - [0, SCALE / 3])
    np.testing.assert_allclose(_centre(4), TEMPLATE[[19, 24]] + [0, SCALE / 3])
    # AU6: one scale below the lower lids, on the cheeks (below the eyes, beside the nose).
    np.testing.assert_allclose(_centre(6), TEMPLATE[[41, 46]] + [0, SCALE])
    # AU12/14/15: on the lip corners.
    for au in (12, 14, 15):
        np.testing.assert_allclose(_centre(au), TEMPLATE[[48, 54]])
    # AU17 and AU26: half a scale below the lower lip, above the chin tip.
    np.testing.assert_allclose(_centre(17), TEMPLATE[[58, 56]] + [0, SCALE / 2])
    assert (TEMPLATE[57, 1] < _centre(17)[:, 1]).all() and (_centre(17)[:, 1] < TEMPLATE[8, 1]).all()
    # AU23/24/25: the middle of the upper and of the lower lip.
    np.testing.assert_allclose(_centre(24), TEMPLATE[[51, 57]])
    # AU20 (faceforge's): a third of a scale outwards from the lip corners.
    np.testing.assert_allclose(_centre(20), TEMPLATE[[48, 54]] + [[-SCALE / 3, 0], [SCALE / 3, 0]])
    # AU43: inside the eyes; AU5 between the upper lid and the brow.
    for side, eye in enumerate((range(36, 42), range(42, 48))):
        np.testing.assert_allclose(_centre(43)[side], TEMPLATE[list(eye)].mean(0))
    assert (TEMPLATE[[19, 24], 1] < _centre(5)[:, 1]).all()
    assert (_centre(5)[:, 1] < TEMPLATE[[37, 44], 1]).all()


def test_template_centres_are_symmetric():
    c = A.au_centres(TEMPLATE, A.AU_CENTRE_RULES)  # every AU with a rule
    for k, au in enumerate(A.AU_CENTRE_RULES):
        first, second = c[k]
        if au in MIDLINE_AUS:
            assert not A.AU_CENTRE_RULES[au].bilateral
            np.testing.assert_allclose([first[0], second[0]], [CENTRE, CENTRE])
            assert first[1] < second[1]  # upper lip above lower lip
        else:
            assert A.AU_CENTRE_RULES[au].bilateral
            assert first[0] < CENTRE < second[0], au
            np.testing.assert_allclose(first[0] + second[0], 2 * CENTRE, atol=1e-9, err_msg=f"AU{au}")
            np.testing.assert_allclose(first[1], second[1], atol=1e-9, err_msg=f"AU{au}")


def test_centres_flip_with_the_face():
    rng = np.random.default_rng(0)
    lm = TEMPLATE + rng.normal(0, 1.5, TEMPLATE.shape)  # asymmetric face
    aus = tuple(A.AU_CENTRE_RULES)
    flipped = A.au_centres(flip_landmarks(lm, 128), aus)
    expected = A.au_centres(lm, aus).copy()
    expected[..., 0] = 127 - expected[..., 0]
    for k, au in enumerate(aus):
        if A.AU_CENTRE_RULES[au].bilateral:
            expected[k] = expected[k, ::-1]
    np.testing.assert_allclose(flipped, expected, atol=1e-9)


def test_centres_batched_torch_and_scaled():
    rng = np.random.default_rng(1)
    batch = TEMPLATE + rng.normal(0, 2.0, (3, 68, 2))
    c = A.au_centres(batch)
    assert c.shape == (3, 18, 2, 2) and c.dtype == np.float64
    for i in range(3):
        np.testing.assert_allclose(c[i], A.au_centres(batch[i]))
    t = A.au_centres(torch.tensor(batch, dtype=torch.float32))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), c, atol=1e-4)
    assert A.au_centres(batch.reshape(1, 3, 68, 2)).shape == (1, 3, 18, 2, 2)
    # Offsets are in units of the face's scale: scaling and shifting the face does the same to the centres.
    np.testing.assert_allclose(A.au_centres(2 * batch + 5), 2 * c + 5)
    with pytest.raises(ValueError):
        A.au_centres(batch[:, :49])
    with pytest.raises(ValueError, match="AU3"):
        A.au_centres(TEMPLATE, (1, 3))


# --- attention maps -------------------------------------------------------------------------------------


def test_maps_shape_dtype_range():
    m = A.au_attention_maps(torch.tensor(TEMPLATE[None]).float(), map_size=(24, 32))
    assert m.shape == (1, 18, 24, 32) and m.dtype == torch.float32
    assert m.min() >= 0 and m.max() <= 1
    assert (m.flatten(2).amax(-1) > 0.8).all()  # every AU has a peak
    m64 = A.au_attention_maps(torch.tensor(TEMPLATE), aus=(1, 12))  # unbatched, float64 kept
    assert m64.shape == (2, 128, 128) and m64.dtype == torch.float64
    assert A.au_attention_maps(TEMPLATE[None], map_size=16).dtype == torch.float32  # numpy in


def test_map_peaks_at_centres_and_decays():
    lm = TEMPLATE + [0.5, 0.0]  # puts the lip corners on pixel centres: (47, 98) and (81, 98)
    m = A.au_attention_maps(lm[None], aus=(12,), region=None)[0, 0].double()
    assert m[98, 47] == 1.0 and m[98, 81] == 1.0
    assert int(m.argmax()) in (98 * 128 + 47, 98 * 128 + 81)
    # Weight 1 - d / (reach * 128) with reach 1/4: 0 from a Manhattan distance of 32 px on.
    assert float(m[98, 51]) == pytest.approx(1 - 4 / 32)
    assert float(m[90, 39]) == pytest.approx(1 - 16 / 32)
    assert float(m[98 + 20, 47 - 12]) == 0.0 and float(m[5, 5]) == 0.0
    # JAA-Net's square region (side 0.14 of the map: 8.89 px each way) cuts the diamond off.
    r = A.au_attention_maps(lm[None], aus=(12,))[0, 0].double()
    assert float(r[98, 55]) == pytest.approx(1 - 8 / 32) and float(r[98, 56]) == 0.0
    assert float(r[98 + 8, 47 + 8]) == pytest.approx(1 - 16 / 32)
    assert (r <= m).all() and (r > 0).sum() == 2 * 17 * 17


def test_each_map_is_highest_at_its_own_centres():
    m = A.au_attention_maps(TEMPLATE[None], map_size=64)[0]
    centres = (A.au_centres(TEMPLATE) + 0.5) / 2 - 0.5  # in 64x64 map pixels
    for k, au in enumerate(A.FACEFORGE_AUS):
        y, x = divmod(int(m[k].argmax()), 64)
        d = np.abs(centres[k] - [x, y]).max(-1).min()
        assert d <= 0.5, f"AU{au} peak at {(x, y)}, centres {centres[k]}"


def test_maps_match_a_per_pixel_reference():
    # JAA-Net's loop, written out for 44x44 maps of a 176 crop: v = max(1 - d * 0.56 / (0.14 * 44), 0) within
    # (44 - 1) / 2 * 0.14 map pixels of a centre, the larger of the two centres' values.
    lm = canonical_landmarks(176)
    aus = (1, 6, 24)
    got = A.au_attention_maps(torch.tensor(lm[None]), aus=aus, map_size=44, image_size=176)[0].numpy()
    centres = (A.au_centres(lm, aus) + 0.5) * 44 / 176 - 0.5
    ref = np.zeros((len(aus), 44, 44))
    half = (44 - 1) / 2 * 0.14
    for k in range(len(aus)):
        for cx, cy in centres[k]:
            for h in range(44):
                for w in range(44):
                    if abs(h - cy) <= half and abs(w - cx) <= half:
                        v = max(1 - (abs(h - cy) + abs(w - cx)) * 0.56 / (0.14 * 44), 0.0)
                        ref[k, h, w] = max(ref[k, h, w], v)
    np.testing.assert_allclose(got, ref, atol=1e-12)


def test_eac_net_slope():
    # EAC-Net's w = 1 - 0.095 d on a 44x44 map: reach = 1 / (0.095 * 44), no square region.
    lm = canonical_landmarks(44)
    lm = lm + (np.round(lm[48]) - lm[48])  # image-left lip corner on a pixel centre
    x, y = (int(v) for v in np.round(lm[48]))
    m = A.au_attention_maps(lm[None], aus=(12,), image_size=44, reach=1 / (0.095 * 44), region=None)[0, 0]
    m = m.double()
    assert float(m[y, x]) == pytest.approx(1.0)
    assert float(m[y, x + 3]) == pytest.approx(1 - 0.095 * 3)
    assert float(m[y + 2, x - 4]) == pytest.approx(1 - 0.095 * 6)
    assert float(m[y, x - 11]) == 0.0


def test_maps_batch_consistent_with_single():
    rng = np.random.default_rng(2)
    batch = torch.tensor(TEMPLATE + rng.normal(0, 2.0, (4, 68, 2)), dtype=torch.float32)
    m = A.au_attention_maps(batch, map_size=32)
    for i in range(4):
        torch.testing.assert_close(m[i], A.au_attention_maps(batch[i : i + 1], map_size=32)[0])
    assert not torch.equal(m[0], m[1])


def test_maps_scale_with_image_size():
    small = A.au_attention_maps(canonical_landmarks(128)[None], map_size=32, image_size=128)
    large = A.au_attention_maps(canonical_landmarks(256)[None], map_size=32, image_size=256)
    torch.testing.assert_close(small, large, atol=1e-5, rtol=0)
    # The fall-off is a fixed fraction of the map: 1/4 of its side, whatever the map size.
    for size in (16, 64):
        lm = canonical_landmarks(size)
        lm = lm + (np.round(lm[48]) - lm[48])
        x, y = (int(v) for v in np.round(lm[48]))
        m = A.au_attention_maps(lm[None], aus=(12,), map_size=size, image_size=size, region=None)[0, 0]
        q = size // 8
        assert float(m[y, x]) == pytest.approx(1.0)
        assert float(m[y - q, x - q]) == pytest.approx(0.0, abs=1e-6)  # Manhattan distance size / 4
        assert float(m[y, x - q]) == pytest.approx(0.5)
    # A non-square map: each axis is measured relative to its own length.
    lm = canonical_landmarks(32) + [16, 0]  # a 32x32 face in the middle of a 32x64 image
    lm = lm + (np.round(lm[48]) - lm[48])
    x, y = (int(v) for v in np.round(lm[48]))
    wide = A.au_attention_maps(lm[None], aus=(12,), image_size=(32, 64), region=None)
    assert wide.shape == (1, 1, 32, 64)
    assert float(wide[0, 0, y, x - 8]) == pytest.approx(0.5)  # 8 / 64 of the width: half of reach
    assert float(wide[0, 0, y - 4, x]) == pytest.approx(0.5)  # 4 / 32 of the height


def test_maps_flip_with_the_face():
    rng = np.random.default_rng(3)
    lm = TEMPLATE + rng.normal(0, 1.5, TEMPLATE.shape)
    m = A.au_attention_maps(lm[None], map_size=48)
    mf = A.au_attention_maps(flip_landmarks(lm, 128)[None], map_size=48)
    torch.testing.assert_close(mf, m.flip(-1), atol=1e-5, rtol=0)


def test_map_arguments_are_checked():
    with pytest.raises(ValueError):
        A.au_attention_maps(TEMPLATE[None], reach=0)
    with pytest.raises(ValueError):
        A.au_attention_maps(TEMPLATE[None], map_size=(0, 8))
    with pytest.raises(ValueError):
        A.au_attention_maps(TEMPLATE[None], region=-0.1)
