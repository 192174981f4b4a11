"""The app's input checks and its own result files, without a server."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceforge.demo.files import STRIP_ROWS_PIXELS, png_in_cache, write_png
from faceforge.demo.inputs import InputError, boolean, choice, max_upload_mb, number, public_message, uploaded_file


@pytest.mark.parametrize("shape", [(1, 1, 3), (37, 53, 3), (64, 80), (3, 2 * STRIP_ROWS_PIXELS // 3 + 7, 3)])
def test_write_png_is_lossless_at_any_size(tmp_path, shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    path = write_png(image, tmp_path / "x.png")
    assert np.array_equal(np.asarray(Image.open(path)), image)


def test_write_png_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_png(np.zeros((4, 4, 3), np.float32), tmp_path / "x.png")
    with pytest.raises(ValueError, match="uint8"):
        write_png(np.zeros((4, 4, 4), np.uint8), tmp_path / "x.png")


def test_each_result_gets_its_own_file_in_gradios_cache():
    from gradio.utils import get_upload_folder

    image = np.full((8, 8, 3), 7, np.uint8)
    first, second = png_in_cache(image, "face.png"), png_in_cache(image, "face.png")
    assert first != second and Path(first).name == Path(second).name == "face.png"
    assert all(Path(p).resolve().is_relative_to(Path(get_upload_folder()).resolve()) for p in (first, second))


@pytest.mark.parametrize(("value", "kwargs", "expected"), [
    ("3", dict(integer=True), 3), (2.0, dict(integer=True), 2), (None, dict(default=1), 1), ("0.5", {}, 0.5),
])
def test_numbers_are_read_from_numbers_and_their_text(value, kwargs, expected):
    assert number(value, what="n", **kwargs) == expected


@pytest.mark.parametrize(("value", "kwargs", "message"), [
    ("abc", {}, "n must be a number, got 'abc'"),
    (True, {}, "n must be a number, got True"),
    (float("nan"), {}, "finite"),
    ("1.5", dict(integer=True), "whole number"),
    (0, dict(minimum=1, maximum=5), "between 1 and 5"),
    (None, {}, "n is missing"),
])
def test_bad_numbers_are_refused_with_faceforges_message(value, kwargs, message):
    with pytest.raises(InputError, match=message):
        number(value, what="n", **kwargs)


def test_choices_and_booleans():
    assert choice("b", [("B label", "b"), ("A", "a")], what="mode") == "b"
    with pytest.raises(InputError, match="mode must be one of b, a, got None"):
        choice(None, [("B label", "b"), ("A", "a")], what="mode")
    assert boolean(None, what="x") is False and boolean(True, what="x") is True
    with pytest.raises(InputError, match="x must be true or false"):
        boolean("yes", what="x")


def test_uploads_must_come_from_gradios_folder_and_are_named_as_uploaded(tmp_path):
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()) / "faceforge-test-upload"
    folder.mkdir(parents=True, exist_ok=True)
    upload = folder / "abc123.png"
    upload.write_bytes(b"x")
    try:
        path, shown = uploaded_file({"path": str(upload), "orig_name": "../../holiday photo.png"})
        assert Path(path) == upload.resolve() and shown == "holiday photo.png"
        message = public_message(ValueError(f"{path}: not a recognised image"), path=path, shown=shown)
        assert message == "holiday photo.png: not a recognised image"
    finally:
        upload.unlink()
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    for payload, text in [(None, "Upload a photo"), ("", "Upload a photo"), ({"path": str(outside)}, "cannot be named"),
                          ("/etc/hostname", "cannot be named"), (42, "must be an uploaded file"),
                          ({"path": str(folder / "gone.png")}, "no longer on the server")]:
        with pytest.raises(InputError, match=text):
            uploaded_file(payload)


def test_the_upload_cap_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("FACEFORGE_MAX_UPLOAD_MB", raising=False)
    assert max_upload_mb() == 50
    monkeypatch.setenv("FACEFORGE_MAX_UPLOAD_MB", "7.5")
    assert max_upload_mb() == 7.5
    for bad in ("lots", "0", "-3"):
        monkeypatch.setenv("FACEFORGE_MAX_UPLOAD_MB", bad)
        with pytest.raises(InputError, match="FACEFORGE_MAX_UPLOAD_MB"):
            max_upload_mb()


def test_a_painted_layer_becomes_the_occlusion_mask_and_an_empty_one_is_refused():
    from gradio.utils import get_upload_folder

    from faceforge.demo.inputs import drawn_mask
    from faceforge.demo.restore_tab import occlusion_input

    folder = Path(get_upload_folder()) / "faceforge-test-drawing"
    folder.mkdir(parents=True, exist_ok=True)
    layer = np.zeros((256, 256, 4), np.uint8)  # the editor's canvas at twice the aligned face
    layer[64:96, 128:192] = (255, 59, 48, 255)
    painted, empty, broken = folder / "layer.png", folder / "empty.png", folder / "broken.png"
    Image.fromarray(layer).save(painted)
    Image.fromarray(np.zeros((256, 256, 4), np.uint8)).save(empty)
    broken.write_bytes(b"not a png")
    try:
        mask = drawn_mask({"background": None, "layers": [{"path": str(painted)}], "composite": None}, 128)
        assert mask.shape == (128, 128) and mask.sum() == 16 * 32 and mask[32:48, 64:96].all()
        assert occlusion_input("drawn", "", {"layers": [{"path": str(painted)}]}, 128).sum() == 16 * 32
        for payload, text in [({"layers": [{"path": str(empty)}]}, "empty"), ({"layers": []}, "empty"),
                              (None, "empty"), ({"layers": [{"path": str(broken)}]}, "not a readable picture"),
                              ({"layers": ["/etc/hostname"]}, "cannot be named")]:
            with pytest.raises(InputError, match=text):
                drawn_mask(payload, 128)
    finally:
        shutil.rmtree(folder)
    assert occlusion_input("none", "1,2,3,4", None, 128) is None
    assert occlusion_input("random", "", None, 128) == "random"
    assert occlusion_input("rectangle", " 32, 72,64,40", None, 128) == (32.0, 72.0, 64.0, 40.0)
    for kind, rectangle, text in [("rectangle", "32,72,64", "four numbers"), ("rectangle", "a,b,c,d", "four numbers"),
                                  ("scribble", "", "occlusion must be one of")]:
        with pytest.raises(InputError, match=text):
            occlusion_input(kind, rectangle, None, 128)
