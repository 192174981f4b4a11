"""MATLAB-exact bicubic resizing and IGCN's occlusion masks (faceforge.data.degrade)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from faceforge.data.degrade import (
    apply_occlusion,
    bicubic_downsample,
    degrade,
    imresize,
    quantize_8bit,
    random_square_mask,
    resize_mask,
    resize_matrix,
    to_low_resolution,
)

# Reference outputs of MATLAB's imresize(uint8(IN), scale, 'bicubic'), as published in the test block of
# GNU Octave's image package (inst/imresize.m: "Test bicubic interpolations against some reference results
# from matlab"). MATLAB rounds uint8 results its own way, hence a tolerance of 1 grey level there.
IN = [
    [116, 227, 153, 69, 146, 194, 59, 130, 139, 106],
    [2, 47, 137, 249, 90, 75, 16, 24, 158, 44],
    [155, 68, 46, 84, 166, 156, 69, 204, 32, 152],
    [71, 221, 137, 230, 210, 153, 192, 115, 30, 118],
    [107, 143, 108, 52, 51, 73, 101, 21, 175, 90],
    [54, 158, 143, 77, 26, 168, 113, 229, 165, 225],
    [9, 47, 133, 135, 130, 207, 236, 43, 19, 73],
    [129, 60, 59, 243, 64, 181, 249, 56, 32, 86],
]
MATLAB_HALF_AA = [
    [105, 140, 126, 81, 109],
    [110, 134, 153, 114, 93],
    [108, 108, 94, 127, 146],
    [67, 126, 162, 149, 62],
]
MATLAB_HALF_NO_AA = [
    [92, 164, 123, 38, 118],
    [139, 116, 188, 167, 69],
    [121, 87, 67, 108, 180],
    [54, 153, 141, 149, 42],
]
MATLAB_THIRD_AA = [[115, 135, 97, 101], [113, 119, 124, 125], [81, 157, 118, 64]]
MATLAB_THIRD_NO_AA = [[47, 90, 24, 44], [143, 51, 21, 90], [60, 64, 56, 86]]
MATLAB_ONE_AND_HALF = [
    [116, 187, 237, 171, 94, 61, 135, 191, 187, 75, 91, 142, 140, 124, 108],
    [43, 92, 143, 149, 164, 163, 119, 123, 118, 44, 38, 80, 151, 118, 62],
    [13, 21, 47, 107, 195, 228, 115, 81, 70, 24, 19, 56, 137, 105, 48],
    [146, 98, 49, 49, 71, 107, 148, 159, 132, 58, 124, 176, 61, 85, 146],
    [118, 139, 144, 92, 116, 168, 201, 188, 159, 140, 167, 158, 27, 69, 153],
    [61, 151, 218, 145, 174, 219, 201, 164, 146, 187, 148, 84, 48, 76, 115],
    [102, 132, 151, 119, 90, 72, 72, 72, 83, 114, 60, 31, 144, 130, 80],
    [81, 121, 154, 133, 87, 41, 19, 67, 116, 95, 108, 140, 183, 180, 163],
    [37, 95, 152, 150, 117, 73, 35, 108, 179, 130, 174, 214, 153, 176, 219],
    [3, 29, 73, 131, 136, 120, 116, 162, 214, 229, 147, 54, 35, 62, 96],
    [67, 54, 51, 83, 153, 187, 111, 141, 210, 255, 149, 22, 13, 42, 74],
    [142, 99, 53, 43, 164, 237, 77, 103, 197, 254, 159, 42, 31, 59, 91],
]
MATLAB_FOUR_THIRDS = [
    [116, 203, 221, 141, 62, 110, 180, 191, 70, 104, 143, 136, 111, 106],
    [26, 78, 126, 156, 200, 139, 103, 103, 33, 28, 92, 158, 67, 46],
    [51, 35, 51, 112, 195, 146, 101, 87, 29, 57, 100, 114, 81, 74],
    [159, 110, 63, 50, 82, 148, 179, 152, 83, 173, 147, 27, 143, 170],
    [70, 171, 189, 134, 217, 226, 193, 158, 186, 157, 83, 25, 114, 135],
    [91, 152, 162, 116, 118, 114, 102, 98, 138, 65, 60, 127, 92, 84],
    [90, 130, 144, 111, 52, 24, 50, 101, 94, 86, 129, 190, 146, 135],
    [41, 114, 157, 139, 89, 37, 82, 178, 125, 192, 203, 154, 213, 227],
    [4, 33, 89, 141, 127, 118, 151, 213, 232, 119, 35, 34, 81, 92],
    [88, 61, 54, 97, 203, 129, 115, 203, 255, 119, 18, 24, 70, 81],
    [147, 91, 43, 68, 247, 125, 80, 191, 255, 130, 33, 37, 83, 94],
]


def _as_matlab_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0, 255).round()


@pytest.mark.parametrize(
    ("scale", "antialias", "expected"),
    [
        (0.5, True, MATLAB_HALF_AA),
        (0.5, False, MATLAB_HALF_NO_AA),
        (1 / 3, True, MATLAB_THIRD_AA),  # output ceil(8/3) x ceil(10/3) = 3 x 4
        (1 / 3, False, MATLAB_THIRD_NO_AA),
        (1.5, True, MATLAB_ONE_AND_HALF),
        (4 / 3, True, MATLAB_FOUR_THIRDS),  # output ceil(10.67) x ceil(13.33) = 11 x 14
    ],
)
def test_imresize_matches_matlab_reference(scale, antialias, expected):
    out = imresize(torch.tensor(IN, dtype=torch.float64), scale=scale, antialias=antialias)
    expected = torch.tensor(expected, dtype=torch.float64)
    assert out.shape == expected.shape
    assert (_as_matlab_uint8(out) - expected).abs().max().item() <= 1


def test_imresize_matches_matlab_double_output_size_form():
    # MATLAB: imresize(double([10 6]), [3 3], 'bicubic') -> each row [10.2778 8 5.7222] (same Octave test
    # block, "values from MATLAB", asserted there to 1e-13).
    out = imresize(torch.tensor([[10.0, 6.0]], dtype=torch.float64), size=(3, 3))
    expected = torch.tensor([10.27777777777777, 8.0, 5.72222222222222], dtype=torch.float64).expand(3, 3)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)


def test_resize_matrix_rows_sum_to_one_and_mirror_boundary():
    m = resize_matrix(128, 16, scale=1 / 8, dtype=torch.float64)
    assert m.shape == (16, 128)
    torch.testing.assert_close(m.sum(1), torch.ones(16, dtype=torch.float64))
    # Antialiased x8 kernel spans 32 input pixels: the first output pixel folds mirrored taps back in.
    assert (m[0, :20] != 0).sum() == 20 and m[0, 20:].abs().max() == 0
    torch.testing.assert_close(m.flip(0).flip(1), m)  # symmetric mapping, left-right


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_constant_image_stays_constant(factor):
    x = torch.full((2, 3, 40, 36), 0.37, dtype=torch.float64)
    for out in (bicubic_downsample(x, factor), imresize(x, scale=1.7), imresize(x, size=(9, 50))):
        torch.testing.assert_close(out, torch.full_like(out, 0.37), atol=1e-12, rtol=0)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_downsample_interior_matches_torch_antialias(factor):
    # torch's antialiased bicubic uses the same a = -0.5 kernel and pixel-centre mapping; it only handles
    # the borders differently (renormalised truncation instead of mirroring).
    x = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = bicubic_downsample(x, factor)
    ref = F.interpolate(x, scale_factor=1 / factor, mode="bicubic", antialias=True, align_corners=False)
    torch.testing.assert_close(ours[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2], atol=1e-9, rtol=0)
    assert (ours - ref).abs().max() > 1e-4  # the mirrored borders really differ


def test_shapes_batched_unbatched_and_matlab_sizes():
    x = torch.rand(2, 3, 100, 100)
    assert bicubic_downsample(x, 3).shape == (2, 3, 34, 34)  # ceil(100 / 3), as FSR-FER's x3 images
    assert bicubic_downsample(x, 7).shape == (2, 3, 15, 15)
    assert bicubic_downsample(x, 1).shape == x.shape
    torch.testing.assert_close(bicubic_downsample(x, 1), x)
    assert imresize(x, size=(20, 30)).shape == (2, 3, 20, 30)
    assert imresize(x, scale=(0.5, 0.25)).shape == (2, 3, 50, 25)
    torch.testing.assert_close(imresize(x[0], size=24), imresize(x, size=24)[0])
    face = torch.rand(4, 3, 128, 128)
    lr = to_low_resolution(face)
    assert lr.shape == (4, 3, 16, 16) and lr.dtype == face.dtype
    torch.testing.assert_close(lr, bicubic_downsample(face, 8))


def test_options_clamp_and_quantize():
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)).round()  # harsh edges overshoot
    raw = bicubic_downsample(x, 2)
    assert raw.min() < 0 and raw.max() > 1  # nothing clamped by default
    clamped = bicubic_downsample(x, 2, clamp=True)
    torch.testing.assert_close(clamped, raw.clamp(0, 1))
    q = bicubic_downsample(x, 2, quantize=True)
    torch.testing.assert_close(q * 255, (q * 255).round(), atol=1e-4, rtol=0)
    assert (q - clamped).abs().max() <= 0.5 / 255 + 1e-6
    quantized = quantize_8bit(torch.tensor([-0.2, 0.5, 1.3]))
    torch.testing.assert_close(quantized, torch.tensor([0.0, 128 / 255, 1.0]))


def test_imresize_is_differentiable():
    x = torch.rand(1, 1, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: imresize(t, scale=0.5), (x,))
    assert torch.autograd.gradcheck(lambda t: imresize(t, size=(9, 4)), (x,))


def test_imresize_rejects_bad_arguments():
    x = torch.rand(3, 8, 8)
    with pytest.raises(ValueError):
        imresize(x, scale=0.5, size=4)
    with pytest.raises(ValueError):
        imresize(x)
    with pytest.raises(TypeError):
        imresize((x * 255).to(torch.uint8), scale=0.5)
    with pytest.raises(ValueError):
        bicubic_downsample(x, 0)


def test_random_square_mask_is_one_quarter_side_square():
    masks = random_square_mask(64, 16, generator=torch.Generator().manual_seed(0))
    assert masks.shape == (64, 1, 16, 16) and masks.dtype == torch.float32
    assert set(masks.unique().tolist()) == {0.0, 1.0}
    for m in masks[:, 0]:
        rows, cols = m.nonzero(as_tuple=True)
        assert m.sum() == 16  # a 4 x 4 square: side 16 / 4
        assert rows.max() - rows.min() == 3 and cols.max() - cols.min() == 3
    half = random_square_mask(3, (16, 20), fraction=0.5, generator=torch.Generator().manual_seed(0))
    assert half.shape == (3, 1, 16, 20) and (half.sum(dim=(1, 2, 3)) == 64).all()


def test_random_square_mask_deterministic_and_covers_all_positions():
    a = random_square_mask(8, 16, generator=torch.Generator().manual_seed(3))
    b = random_square_mask(8, 16, generator=torch.Generator().manual_seed(3))
    c = random_square_mask(8, 16, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    many = random_square_mask(2000, 16, generator=torch.Generator().manual_seed(0))[:, 0]
    tops = many.amax(dim=2).argmax(dim=1)
    lefts = many.amax(dim=1).argmax(dim=1)
    assert set(tops.tolist()) == set(range(13)) and set(lefts.tolist()) == set(range(13))


def test_apply_occlusion_and_resize_mask():
    x = torch.rand(2, 3, 16, 16)
    mask = random_square_mask(2, 16, generator=torch.Generator().manual_seed(0))
    out = apply_occlusion(x, mask, fill=0.25)
    inside = mask.expand_as(x).bool()
    assert (out[inside] == 0.25).all() and torch.equal(out[~inside], x[~inside])
    per_channel = apply_occlusion(x, mask, fill=torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1))
    torch.testing.assert_close(per_channel[:, 2][mask[:, 0].bool()], torch.full((32,), 0.3))
    big = resize_mask(mask, 128)
    assert big.shape == (2, 1, 128, 128) and (big.sum(dim=(1, 2, 3)) == 32 * 32).all()
    torch.testing.assert_close(big[..., ::8, ::8], mask)
    with pytest.raises(ValueError):
        apply_occlusion(x, big)


def test_degrade_pipeline():
    hr = torch.rand(3, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    lr, mask = degrade(hr, generator=torch.Generator().manual_seed(5))
    assert lr.shape == (3, 3, 16, 16) and mask.shape == (3, 1, 16, 16)
    expected = bicubic_downsample(hr, 8, quantize=True)
    keep = ~mask.expand_as(lr).bool()
    torch.testing.assert_close(lr[keep], expected[keep])
    assert (lr[~keep] == 0).all() and (mask.sum(dim=(1, 2, 3)) == 16).all()
    again = degrade(hr, generator=torch.Generator().manual_seed(5))
    assert torch.equal(again.lr, lr) and torch.equal(again.mask, mask)
    clean = degrade(hr, scale=4, occlude=False, quantize=False)
    assert clean.mask.shape == (3, 1, 32, 32) and clean.mask.abs().sum() == 0
    torch.testing.assert_close(clean.lr, bicubic_downsample(hr, 4))
    single = degrade(hr[0], generator=torch.Generator().manual_seed(5))
    assert single.lr.shape == (3, 16, 16) and single.mask.shape == (1, 16, 16)
    keep = ~single.mask.expand_as(single.lr).bool()
    torch.testing.assert_close(single.lr[keep], expected[0][keep])
    assert single.mask.sum() == 16


# ------------------------------------------------------------------------- random degradations (evaluators)


def _smooth_faces(count: int = 6, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return F.avg_pool2d(torch.rand(count, 3, size + 4, size + 4, generator=g), 5, 1)


def test_random_degradation_default_changes_nothing_and_factor_matches_resampling():
    from faceforge.data.degrade import Degradations, random_degradation

    faces = _smooth_faces()
    assert not Degradations().active
    assert torch.equal(random_degradation(faces, Degradations()), faces)
    x8 = random_degradation(faces, Degradations(factors=(8,)))
    expected = imresize(imresize(faces, size=8, quantize=True), size=64, clamp=True)
    assert torch.allclose(x8, expected)


def test_random_degradation_draws_each_kind_and_is_reproducible():
    from faceforge.data.degrade import Degradations, random_degradation

    faces = _smooth_faces(count=32)
    config = Degradations(factors=(1, 2, 4, 8), blur_p=0.5, noise_p=0.5, jpeg_p=0.5)
    a = random_degradation(faces, config, generator=torch.Generator().manual_seed(3))
    b = random_degradation(faces, config, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == faces.shape and a.dtype == faces.dtype
    state = torch.get_rng_state()  # the resume path: the loop saves and restores torch's global RNG
    first = random_degradation(faces, config)
    torch.set_rng_state(state)
    assert torch.equal(random_degradation(faces, config), first)
    assert 0 <= a.min() and a.max() <= 1
    changed = (a - faces).abs().flatten(1).amax(1) > 1e-6
    assert int(changed.sum()) >= 24  # all but about 1 in 32 (factor 1, no blur, noise or JPEG) are touched
    noise_only = random_degradation(faces, Degradations(noise_p=1.0, noise_sigma=(0.02, 0.02)))
    assert (noise_only - faces).std().item() == pytest.approx(0.02, rel=0.15)
    blurred = random_degradation(faces, Degradations(blur_p=1.0, blur_sigma=(1.5, 1.5)))
    assert blurred.diff(dim=-1).abs().mean() < 0.8 * faces.diff(dim=-1).abs().mean()
    jpeg = random_degradation(faces, Degradations(jpeg_p=1.0, jpeg_quality=(10, 10)))
    assert 0.005 < (jpeg - faces).abs().mean() < 0.1


def test_degradations_reject_bad_settings():
    from faceforge.data.degrade import Degradations

    for bad in ({"factors": (0,)}, {"factors": ()}, {"factors": (1.5,)}, {"blur_p": 2.0}, {"blur_sigma": (0.0, 1.0)},
                {"noise_sigma": (0.1, 0.0)}, {"jpeg_quality": (50, 101)}):
        with pytest.raises(ValueError):
            Degradations(**bad)
