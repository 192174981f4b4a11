"""Large and unusual photos: decoded once and kept in uint8, converted in strips, detected on a working copy.

Memory is checked with tracemalloc, which sees numpy's and Python's allocations (not PIL's decoder buffer):
a full-size float64 copy of a photo, or a second uint8 copy, shows up as a peak of several times the photo's
uint8 size. The whole-process figures for 48-MP photos come from ``benchmarks/photo_memory.py``.

Real photo: scikit-image's astronaut (Eileen Collins, NASA, public domain). Synthetic face: FaceForge-Synth,
whose exact landmarks are known.
"""

from __future__ import annotations

import dataclasses
import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image, ImageOps

import faceforge.face.detect as detect_module
import faceforge.face.io as io_module
from faceforge.data.synth import render_face
from faceforge.errors import ImageTooLargeError
from faceforge.face.align import apply_affine, warp_affine
from faceforge.face.io import as_photo, load_image, to_working_size
from faceforge.face.paste import paste_back
from faceforge.face.pipeline import find_faces, paste_faces
from faceforge.face.template import canonical_landmarks


@pytest.fixture(scope="module")
def astronaut_face(astronaut, detector):
    (face,) = find_faces(astronaut, detector=detector)
    return face


def _encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


STRIPS = 12 * 2**20
"""Allowance for the strip-sized temporaries of the chunked conversions (independent of the photo size)."""


def _traced_peak(fn, *args, **kwargs):
    """``(result, peak bytes)`` that numpy and Python allocated while ``fn`` ran."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return result, peak


def _noisy(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 215, (shape[0] // 50 + 1, shape[1] // 50 + 1, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(small).resize((shape[1], shape[0]), Image.Resampling.BILINEAR))
    return np.clip(smooth.astype(np.int16) + rng.integers(-12, 13, smooth.shape, dtype=np.int16), 0, 255).astype(
        np.uint8
    )


# --------------------------------------------------------------------------------------------- reading


def test_8_bit_photos_are_read_without_float_or_extra_copies():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    size = rgb.nbytes  # 36 MB; a float64 copy would be 8x this
    out, peak = _traced_peak(load_image, rgb)
    assert out.dtype == np.uint8 and out.flags.c_contiguous and not np.shares_memory(out, rgb)
    np.testing.assert_array_equal(out, rgb)
    assert peak < size + STRIPS, f"array: {peak / size:.2f}x the uint8 size"

    rgba = np.concatenate([rgb, rng.integers(0, 256, (3000, 4000, 1), dtype=np.uint8)], axis=-1)
    out, peak = _traced_peak(load_image, rgba)
    assert peak < size + STRIPS, f"RGBA array: {peak / size:.2f}x"
    a = rgba[:100, :, 3:] / 255  # the documented rule, in float64, on some rows
    np.testing.assert_array_equal(out[:100], np.rint(rgb[:100] * a + 255 * (1 - a)).astype(np.uint8))

    smooth = np.asarray(Image.fromarray(rgba[::25, ::25], "RGBA").resize((4000, 3000), Image.Resampling.BILINEAR))
    jpeg = _encode(Image.fromarray(smooth[..., :3]), "JPEG", quality=90)
    out, peak = _traced_peak(load_image, jpeg)
    assert out.shape == (3000, 4000, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(np.int16) - smooth[..., :3]).mean() < 2.0
    assert peak < size + STRIPS, f"JPEG: {peak / size:.2f}x"
    part = np.ascontiguousarray(smooth[:1500, :2000])  # a quarter: PNG encoding is slow
    png = _encode(Image.fromarray(part, "RGBA"), compress_level=1)
    out, peak = _traced_peak(load_image, png)
    assert peak < size / 4 + STRIPS, f"RGBA PNG: {peak / (size / 4):.2f}x"
    np.testing.assert_array_equal(out, load_image(part))


def test_alpha_compositing_in_uint8_matches_the_float_rule_for_every_colour_and_alpha():
    c, a = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    rgba = np.stack([c, 255 - c, c // 3, a], axis=-1).astype(np.uint8)
    expected = np.rint(rgba[..., :3] * (a[..., None] / 255) + 255 * (1 - a[..., None] / 255)).astype(np.uint8)
    np.testing.assert_array_equal(load_image(rgba), expected)
    np.testing.assert_array_equal(load_image(_encode(Image.fromarray(rgba, "RGBA"))), expected)
    np.testing.assert_array_equal(load_image(rgba, alpha="drop"), rgba[..., :3])
    la = load_image(Image.fromarray(rgba[..., [0, 3]], "LA"))
    np.testing.assert_array_equal(la, np.repeat(expected[..., :1], 3, axis=-1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pil_without_rotating_a_copy(orientation):
    stored = np.random.default_rng(orientation).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = orientation
    data = _encode(img, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    out = load_image(data)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)
    if orientation in (5, 6, 7, 8):
        assert out.shape == (53, 37, 3)


def _modes(rng: np.random.Generator) -> dict[str, object]:
    """Inputs of every kind load_image converts, 61 x 47 pixels."""
    rgba = rng.integers(0, 256, (61, 47, 4), dtype=np.uint8)
    wide = rng.integers(-5000, 90000, (61, 47)).astype(np.int32)
    floats = rng.random((61, 47)).astype(np.float32) * 900
    floats[::7, ::5] = np.nan
    palette = Image.fromarray(rgba[..., :3]).quantize(40)
    return {
        "RGBA PNG": _encode(Image.fromarray(rgba, "RGBA")),
        "LA": Image.fromarray(rgba[..., [0, 3]], "LA"),
        "I;16": Image.fromarray(rgba[..., 0].astype(np.uint16) * 257 + 100),
        "I (min-max)": Image.fromarray(wide, "I"),
        "F with NaN": Image.fromarray(floats, "F"),
        "P with transparency": _encode(palette, transparency=3),
        "CMYK": Image.fromarray(rgba, "RGBA").convert("CMYK"),
        "uint16 RGBA array": rgba.astype(np.uint16) * 257 + 60,
        "float RGB array": rgba[..., :3] / 255.0,
        "bool array": rgba[..., 0] > 127,
        "int64 gray + alpha array": rgba[..., :2].astype(np.int64),
    }


def test_conversions_in_strips_equal_the_whole_image_at_once(monkeypatch):
    rng = np.random.default_rng(3)
    whole = {name: load_image(src) for name, src in _modes(rng).items()}
    monkeypatch.setattr(io_module, "STRIP_PIXELS", 100)  # two rows per strip
    rng = np.random.default_rng(3)
    for name, src in _modes(rng).items():
        out = load_image(src)
        assert out.shape == (61, 47, 3) and out.dtype == np.uint8, name
        np.testing.assert_array_equal(out, whole[name], err_msg=name)


def test_16_bit_and_float_inputs_round_to_the_same_8_bit_photo(astronaut):
    offsets = np.random.default_rng(1).integers(-128, 129, astronaut.shape)  # all within half an 8-bit step
    deep = (astronaut.astype(np.int64) * 257 + offsets).clip(0, 65535).astype(np.uint16)
    np.testing.assert_array_equal(load_image(deep), astronaut)
    gray16 = Image.fromarray(deep[..., 1])
    assert gray16.mode == "I;16"
    np.testing.assert_array_equal(load_image(_encode(gray16))[..., 0], astronaut[..., 1])
    np.testing.assert_array_equal(load_image(astronaut / 255.0), astronaut)


def test_16_bit_and_rgba_photos_give_the_same_faces_as_their_8_bit_rgb_version(astronaut, detector):
    rng = np.random.default_rng(2)
    deep = (astronaut.astype(np.int64) * 257 + rng.integers(-128, 129, astronaut.shape)).clip(0, 65535)
    rgba = np.concatenate([astronaut, np.full((512, 512, 1), 255, np.uint8)], axis=-1)
    rgba[430:, :, 3] = np.linspace(0, 255, 512).astype(np.uint8)  # a part-transparent strip below the face
    flat = load_image(rgba)  # composited on white
    assert flat[500, 0].tolist() == [255, 255, 255] and np.array_equal(flat[:430], astronaut[:430])
    reference = find_faces(flat, detector=detector)
    assert len(reference) == 1
    deep_rgba = np.concatenate([deep, rgba[..., 3:].astype(np.int64) * 257], axis=-1).astype(np.uint16)
    for src in (_encode(Image.fromarray(rgba, "RGBA")), deep_rgba):
        (face,) = find_faces(src, detector=detector)
        np.testing.assert_allclose(face.landmarks, reference[0].landmarks, atol=1e-9)
        np.testing.assert_array_equal(face.crop, reference[0].crop)
    (plain,) = find_faces(deep.astype(np.uint16), detector=detector)
    np.testing.assert_allclose(plain.landmarks, find_faces(astronaut, detector=detector)[0].landmarks, atol=1e-9)


def test_the_pixel_limit_still_applies_to_decoded_arrays():
    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (7000, 7500, 3))  # 52.5 MP, no memory behind it
    with pytest.raises(ImageTooLargeError, match="52.5 megapixels"):
        as_photo(huge)
    with pytest.raises(ImageTooLargeError, match="52.5 megapixels"):
        find_faces(huge)
    with pytest.raises(ImageTooLargeError, match="0.3 megapixels"):
        as_photo(np.zeros((500, 600, 3), np.uint8), max_pixels=100_000)


# ------------------------------------------------------------------------------------------ detection


def test_working_size_in_strips_equals_one_resize(monkeypatch):
    image = np.random.default_rng(4).integers(0, 256, (3001, 4100, 3), dtype=np.uint8)
    expected = Image.fromarray(image).resize((2048, 1499), Image.Resampling.BOX, box=(0, 0, 4100, 1499 * 4100 / 2048))
    monkeypatch.setattr(io_module, "STRIP_PIXELS", 200_000)  # 24 output rows per strip
    working, scale = to_working_size(image)
    assert scale == pytest.approx(2048 / 4100)
    np.testing.assert_array_equal(working, np.asarray(expected))


def test_find_faces_uses_a_decoded_photo_as_it_is(astronaut, astronaut_face, detector, monkeypatch):
    def no_second_decode(*args, **kwargs):
        raise AssertionError("find_faces decoded or converted the photo again")

    monkeypatch.setattr(io_module, "load_image", no_second_decode)
    monkeypatch.setattr(detect_module, "load_image", no_second_decode)
    big = np.asarray(Image.fromarray(astronaut).resize((3000, 3000), Image.Resampling.BICUBIC))
    assert as_photo(big) is big
    faces, peak = _traced_peak(find_faces, big, detector=detector)
    assert len(faces) == 1
    # The working copy for detection (2048 x 2048) is 0.47x of the photo, the crops' temporaries are bounded
    # by the strip size; a second uint8 copy would add 1x, a float64 one 8x.
    assert peak < 0.85 * big.nbytes, f"{peak / big.nbytes:.2f}x the photo"
    expected = (astronaut_face.landmarks + 0.5) * (3000 / 512) - 0.5
    assert np.linalg.norm(faces[0].landmarks - expected, axis=1).mean() / (3000 / 512) < 1.0


def test_large_crops_from_a_face_filling_a_large_photo_need_no_float_copy_of_it():
    image = np.random.default_rng(5).integers(0, 256, (4000, 4000, 3), dtype=np.uint8)
    matrix = np.array([[128 / 4000, 0.0, 0.0], [0.0, 128 / 4000, 0.0]])  # the whole photo into 128 x 128
    crop, peak = _traced_peak(warp_affine, image, matrix, (128, 128), border="edge")
    assert peak < 0.2 * image.nbytes, f"{peak / image.nbytes:.2f}x the photo"  # a float32 copy is 4x
    # Each crop pixel averages a 31 x 31 block of uniform noise: mean 127.5, spread ~ 74 / 31 (+ spline ringing).
    assert abs(crop.mean() - 127.5) < 1.0 and crop.std() < 6.0
    block = image[:31 * 129, :31 * 129].reshape(129, 31, 129, 31, 3).mean(axis=(1, 3))
    assert abs(float(crop[64, 64, 0]) - block[66, 66, 0]) < 12


def test_paste_faces_copies_a_large_photo_once(astronaut, astronaut_face):
    photo = np.asarray(Image.fromarray(astronaut).resize((3000, 3000), Image.Resampling.BILINEAR))
    scale = 3000 / 512
    face = astronaut_face
    m = face.matrix.copy()  # the astronaut's alignment, for the enlarged photo
    m[:, :2] /= scale
    m[:, 2] += face.matrix[:, :2].sum(axis=1) * (0.5 / scale - 0.5)
    moved = dataclasses.replace(face, matrix=m)
    green = np.full((128, 128, 3), (0, 255, 0), np.uint8)
    out, peak = _traced_peak(paste_faces, photo, [moved, moved, moved], [green] * 3)
    # One copy (1x) and strip-sized temporaries; a copy per face would take at least 2x.
    assert peak < 1.6 * photo.nbytes, f"{peak / photo.nbytes:.2f}x the photo"
    centre = apply_affine(face.inverse, np.array([63.5, 63.5])) * scale
    x, y = np.round(centre + 0.5 * scale - 0.5).astype(int)
    assert out[y, x].tolist() == [0, 255, 0] and np.array_equal(out[:50, :50], photo[:50, :50])
    in_place = photo.copy()
    assert paste_back(in_place, green, m, out=in_place) is in_place
    np.testing.assert_array_equal(in_place, paste_back(photo, green, m))


@pytest.mark.slow  # a 6000 x 4000 photo: 1-3 s; the fast loop checks a 3000 x 3000 one
def test_a_large_photo_is_detected_like_a_smaller_copy_scaled_up(astronaut, astronaut_face, detector):
    factor, (ox, oy) = 7, (1200, 250)  # 3584 x 3584 astronaut in a 6000 x 4000 photo
    photo = _noisy((4000, 6000), seed=6)
    photo[oy : oy + 3584, ox : ox + 3584] = np.asarray(
        Image.fromarray(astronaut).resize((3584, 3584), Image.Resampling.BICUBIC)
    )
    (face,) = find_faces(photo, detector=detector)
    expected = (astronaut_face.landmarks + 0.5) * factor - 0.5 + (ox, oy)
    err = np.linalg.norm(face.landmarks - expected, axis=1).mean() / factor
    assert err < 1.0, f"{err:.2f} px at the original scale"
    box = (np.array(face.box) - (ox, oy, ox, oy)) / factor
    np.testing.assert_allclose(box, astronaut_face.box, atol=10)
    # The aligned crops agree too: the same face, the same 128 framing.
    diff = face.crop.astype(float) - astronaut_face.crop
    assert np.abs(diff).mean() < 6.0


@pytest.mark.slow  # a 6000 x 4000 photo: 1-3 s; the fast loop checks a 3000 x 3000 one
def test_a_large_synthetic_face_aligns_onto_the_template_at_full_resolution(detector):
    r = render_face(identity=1805, expression="surprise", size=1024, margin=256)  # 1536 px
    photo = _noisy((4000, 6000), seed=7)
    at = np.array([2500, 1200])
    photo[at[1] : at[1] + 1536, at[0] : at[0] + 1536] = r.image
    (face,) = find_faces(photo, detector=detector)
    truth = canonical_landmarks(1024, margin=256) + at  # where the renderer put the template
    err = np.linalg.norm(apply_affine(face.matrix, truth) - canonical_landmarks(128), axis=1).mean()
    # The same face at 128 in a 400 x 400 photo is aligned within ~2-3 px (tests/test_photo_pipeline.py).
    assert err < 2.5, f"alignment error {err:.2f} px of the 128 crop"
    landmark_err = np.linalg.norm(face.landmarks - (r.landmarks + at), axis=1).mean() / 8  # 128 px units
    assert landmark_err < 4.5
