"""Low-resolution expression recognition of photos (``faceforge.pipelines.recognize_photo``, ``faceforge recognize``
and the helpers of the Low-res recognition tab): faces are found and aligned as for restoration, each route reads
the face it names, the scale degrades the face as FSR-FER's paper does, and bad input gets a clear error.

The model here is a small, randomly initialised FSR-FER at the real 100x100 input: these tests check what the
pipeline feeds the networks and reports, not how well the shipped weights recognise."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceforge.data.degrade import bicubic_downsample, imresize
from faceforge.data.synth import render_face
from faceforge.errors import ImageReadError, ImageTooLargeError, NoFaceFoundError, NotAFaceCropError, ScaleError
from faceforge.face.expressions import EXPRESSIONS
from faceforge.models.fsrfer import (
    FSRFER,
    CovPoolFER,
    CovPoolFERConfig,
    FeatureGeneratorConfig,
    FSRFERConfig,
    low_resolution_input,
)
from faceforge.pipelines import (
    RECOGNITION_ROUTES,
    PhotoRecognition,
    recognition_scale,
    recognize_crops,
    recognize_photo,
)

pytestmark = pytest.mark.usefixtures("one_thread")

FACE_AT, FACE_SIDE = (150, 40), 160  # where the synthetic portrait is drawn into the photo, and its side


@pytest.fixture(scope="module")
def fsrfer() -> FSRFER:
    """FSR-FER at the paper's 100x100 faces with narrow layers, randomly initialised."""
    torch.manual_seed(0)
    backbone = CovPoolFERConfig(widths=(4, 8, 8), cov_channels=8, spd_dims=(6, 4), hidden=16, embedding=8)
    return FSRFER(FSRFERConfig(backbone=backbone,
                               generator=FeatureGeneratorConfig(feature_size=4, channels=8, growth=4, blocks=1))).eval()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 360x260 photo with one synthetic portrait (FaceForge-Synth, happy) drawn at ``FACE_AT``."""
    face = render_face(identity=1812, expression="happiness", intensity=1.0, margin=32).image
    canvas = np.full((260, 360, 3), (90, 110, 140), np.uint8)
    (x, y), side = FACE_AT, FACE_SIDE
    canvas[y:y + side, x:x + side] = np.asarray(Image.fromarray(face).resize((side, side), Image.Resampling.LANCZOS))
    return canvas


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    """Three aligned 128x128 synthetic faces, the photo pipeline's crop size."""
    return np.stack([render_face(identity=1830 + i, expression=e).image
                     for i, e in enumerate(("anger", "surprise", "sadness"))])


def as_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255


def as_uint8(images: torch.Tensor) -> np.ndarray:
    return (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def softmax(logits: torch.Tensor) -> np.ndarray:
    return logits.float().softmax(-1).numpy()


def test_a_synthetic_face_drawn_into_a_photo_is_found_and_read_by_every_route(fsrfer, photo):
    result = recognize_photo(photo, fsrfer)
    assert isinstance(result, PhotoRecognition) and result.scale == 8 and result.classes == EXPRESSIONS
    (face,) = result.faces
    x0, y0, x1, y1 = face.face.box
    (x, y), side = FACE_AT, FACE_SIDE
    assert x <= x0 < x1 <= x + side and y <= y0 < y1 <= y + side  # the box lies on the portrait
    assert x1 - x0 > side / 3
    # Aligned as the restoration pipeline aligns: the 128x128 template crop, then MATLAB bicubic to 100x100.
    np.testing.assert_array_equal(face.aligned, as_uint8(imresize(as_tensor(face.face.crop[None]), size=100,
                                                                  quantize=True))[0])
    assert face.face.crop.shape == (128, 128, 3)
    assert face.lr.shape == (13, 13, 3) and face.model_input.shape == (100, 100, 3)  # x8: ceil(100 / 8)
    assert tuple(face.probabilities) == RECOGNITION_ROUTES == tuple(result.routes)
    for route, probabilities in face.probabilities.items():
        assert tuple(probabilities) == EXPRESSIONS
        assert all(0 <= p <= 1 for p in probabilities.values())
        assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-5)
        assert face.labels[route] == max(probabilities, key=probabilities.get)
    assert face.label == face.labels["fsrfer"]


@torch.no_grad()
def test_each_route_reads_the_face_it_names(fsrfer, crops):
    results = recognize_crops(fsrfer, crops, scale=4, batch_size=2)
    hr = imresize(as_tensor(crops), size=100, quantize=True)
    lr = bicubic_downsample(hr, 4, quantize=True)
    seen = low_resolution_input(hr, 4)
    np.testing.assert_allclose(imresize(lr, size=100, clamp=True), seen, atol=1e-6)  # the LR face, back up
    backbone = fsrfer.backbone
    expected = {"hr": softmax(backbone(hr)), "bicubic": softmax(backbone(seen)),
                "fsrfer": fsrfer.recognize(seen).numpy()}  # FSR-FER: C(G(F(I_lr)))
    assert not np.allclose(expected["bicubic"], expected["fsrfer"], atol=1e-4)  # G changes what C reads
    for i, r in enumerate(results):
        assert r.face is None and r.scale == 4
        np.testing.assert_array_equal(r.aligned, as_uint8(hr)[i])
        np.testing.assert_array_equal(r.lr, as_uint8(lr)[i])
        assert r.lr.shape == (25, 25, 3)
        assert np.abs(r.model_input.astype(int) - as_uint8(seen)[i]).max() <= 1
        for route in RECOGNITION_ROUTES:
            np.testing.assert_allclose(list(r.probabilities[route].values()), expected[route][i], atol=1e-5)


@torch.no_grad()
def test_as_given_reads_the_aligned_face_without_degrading_it(fsrfer, crops):
    for scale in (None, 1):
        results = recognize_crops(fsrfer, crops, scale=scale)
        hr = imresize(as_tensor(crops), size=100, quantize=True)
        bicubic, fsr = softmax(fsrfer.backbone(hr)), fsrfer.recognize(hr).numpy()
        for i, r in enumerate(results):
            assert r.scale is None and tuple(r.probabilities) == ("bicubic", "fsrfer")  # no HR: nothing degraded
            np.testing.assert_array_equal(r.lr, r.aligned)
            np.testing.assert_array_equal(r.model_input, r.aligned)
            np.testing.assert_allclose(list(r.probabilities["bicubic"].values()), bicubic[i], atol=1e-5)
            np.testing.assert_allclose(list(r.probabilities["fsrfer"].values()), fsr[i], atol=1e-5)
    # A crop already at the backbone's side is read as it is.
    small = as_uint8(imresize(as_tensor(crops), size=100, quantize=True))
    np.testing.assert_array_equal(recognize_crops(fsrfer, small, scale=None)[0].aligned, small[0])


def test_the_scale_degrades_the_face_more_as_it_grows(fsrfer, crops):
    errors = {}
    for scale in range(2, 9):
        (r,) = recognize_crops(fsrfer, crops[:1], scale=scale)
        assert r.lr.shape == (math.ceil(100 / scale),) * 2 + (3,)
        errors[scale] = np.abs(r.model_input.astype(float) - r.aligned).mean()
    assert errors[2] > 0.5
    assert errors[2] < errors[4] < errors[8], errors
    x2, x8 = (recognize_crops(fsrfer, crops[:1], scale=s)[0] for s in (2, 8))
    assert np.abs(x2.model_input.astype(int) - x8.model_input).mean() > 2
    assert x2.probabilities["hr"] == x8.probabilities["hr"]  # the HR route reads the same face at every scale
    assert x2.probabilities["bicubic"] != x8.probabilities["bicubic"]


def test_photos_taken_as_given_are_not_degraded(fsrfer, photo):
    degraded, given = recognize_photo(photo, fsrfer, scale=8), recognize_photo(photo, fsrfer, scale=None)
    assert given.scale is None and given.routes == ("bicubic", "fsrfer")
    assert given.faces[0].face.box == degraded.faces[0].face.box
    np.testing.assert_array_equal(given.faces[0].model_input, degraded.faces[0].aligned)
    assert given.faces[0].probabilities["bicubic"] == degraded.faces[0].probabilities["hr"]
    assert recognize_photo(photo, fsrfer, scale=1).to_dict() == given.to_dict()


@pytest.mark.parametrize("scale", [0, 9, -2, 2.5, float("nan"), "8", True])
def test_a_bad_scale_is_refused_before_the_photo_is_read(fsrfer, scale):
    with pytest.raises(ScaleError, match="scale must be"):
        recognize_photo("no/such/photo.png", fsrfer, scale=scale)  # ScaleError, not ImageReadError


def test_scales_in_range_are_whole_numbers_or_none():
    assert [recognition_scale(s) for s in (None, 1, 2, 8, 8.0, np.int64(5))] == [None, None, 2, 8, 8, 5]
    assert issubclass(ScaleError, ValueError)


def test_the_result_round_trips_through_json(fsrfer, photo):
    result = recognize_photo(photo, fsrfer, scale=6)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["scale"] == 6 and data["as_given"] is False and data["classes"] == list(EXPRESSIONS)
    assert data["routes"] == list(RECOGNITION_ROUTES) and data["photo_size"] == [360, 260]
    (face,) = data["faces"]
    assert face["box"] == [round(v, 2) for v in result.faces[0].face.box] and face["lr_size"] == 17
    assert face["labels"] == result.faces[0].labels
    assert face["probabilities"] == {route: dict(p) for route, p in result.faces[0].probabilities.items()}
    given = recognize_photo(photo, fsrfer, scale=None).to_dict()
    assert given["scale"] is None and given["as_given"] is True and given["faces"][0]["lr_size"] == 100
    assert given["routes"] == ["bicubic", "fsrfer"] and set(given["faces"][0]["probabilities"]) == {"bicubic",
                                                                                                    "fsrfer"}


def test_aligned_crops_skip_detection_and_must_be_square(fsrfer, crops):
    result = recognize_photo(crops[0], fsrfer, aligned=True, scale=3)
    (face,) = result.faces
    assert face.face is None and face.lr.shape == (34, 34, 3) and result.to_dict()["faces"][0]["box"] is None
    np.testing.assert_array_equal(face.aligned, recognize_crops(fsrfer, crops[:1], scale=3)[0].aligned)
    with pytest.raises(NotAFaceCropError, match="square"):
        recognize_photo(np.zeros((100, 160, 3), np.uint8), fsrfer, aligned=True)


def test_no_face_unreadable_and_huge_photos_are_clear_errors(fsrfer, tmp_path):
    texture = np.random.default_rng(0).uniform(0, 255, (200, 200, 3)).astype(np.uint8)
    with pytest.raises(NoFaceFoundError, match="no face"):
        recognize_photo(texture, fsrfer)
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    with pytest.raises(ImageReadError):
        recognize_photo(fake, fsrfer)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 400 megapixels in a few kB
    with pytest.raises(ImageTooLargeError, match="400.0 megapixels"):
        recognize_photo(bomb, fsrfer)


def test_only_an_fsrfer_recognises(fsrfer, photo):
    backbone = CovPoolFER(CovPoolFERConfig(widths=(4, 8, 8), cov_channels=8, spd_dims=(6, 4), hidden=16,
                                           embedding=8)).eval()
    with pytest.raises(TypeError, match="not an FSR-FER recogniser"):
        recognize_photo(photo, backbone)
    with pytest.raises(ValueError, match=r"\(N, A, A, 3\) uint8"):
        recognize_crops(fsrfer, np.zeros((1, 64, 80, 3), np.uint8))


# --- faceforge recognize ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_folder(fsrfer, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fsrfer") / "model"
    fsrfer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def photo_file(photo, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "portrait.png"
    Image.fromarray(photo).save(path)
    return path


def recognize(capsys, *argv: str | Path) -> tuple[int, str, str]:
    """Run ``faceforge recognize ARGV`` in this process: (exit code, stdout, stderr)."""
    from faceforge.cli import main

    code = main(["recognize", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_recognize_command_writes_boxes_and_probabilities(fsrfer, model_folder, photo_file, tmp_path, capsys):
    out = tmp_path / "results" / "result.json"
    code, stdout, _ = recognize(capsys, photo_file, "--model", model_folder, "--out", out)
    label = recognize_photo(photo_file, fsrfer).faces[0].label
    assert code == 0 and f"{photo_file}: 1 face(s) at x8; FSR-FER reads {label}\n" in stdout
    report = json.loads(out.read_text())
    assert report["scale"] == 8 and report["as_given"] is False and report["routes"] == list(RECOGNITION_ROUTES)
    assert report["classes"] == list(EXPRESSIONS) and report["model"] == str(model_folder)
    (entry,) = report["photos"]
    expected = recognize_photo(photo_file, fsrfer).to_dict()
    assert entry == {"photo": str(photo_file), "photo_size": [360, 260], "faces": expected["faces"]}
    for probabilities in entry["faces"][0]["probabilities"].values():
        assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-5)
    assert not list(out.parent.glob("*.partial"))


def test_recognize_command_as_given_and_its_scales(fsrfer, model_folder, photo_file, tmp_path, capsys):
    out = tmp_path / "given.json"
    code, stdout, _ = recognize(capsys, photo_file, "--as-given", "--model", model_folder, "--out", out)
    assert code == 0 and f"{photo_file}: 1 face(s) as given; FSR-FER reads " in stdout
    report = json.loads(out.read_text())
    assert report["scale"] is None and report["as_given"] is True and report["routes"] == ["bicubic", "fsrfer"]
    assert report["photos"][0]["faces"] == recognize_photo(photo_file, fsrfer, scale=None).to_dict()["faces"]
    assert recognize(capsys, photo_file, "--scale", "1", "--model", model_folder, "--out", out)[0] == 0
    assert json.loads(out.read_text()) == report  # x1 is "as given"
    assert recognize(capsys, photo_file, "--scale", "3", "--model", model_folder, "--out", out)[0] == 0
    assert json.loads(out.read_text())["photos"][0]["faces"][0]["lr_size"] == 34


@pytest.mark.parametrize("argv, message", [
    (["--scale", "9"], "scale must be from 1 to 8"),
    (["--scale", "2.5"], "expected a whole number from 1 to 8"),
    (["--scale", "4", "--as-given"], "not allowed with argument"),
])
def test_recognize_command_refuses_bad_scales(model_folder, photo_file, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as stopped:
        recognize(capsys, photo_file, *argv, "--model", model_folder, "--out", tmp_path / "r.json")
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_recognize_command_reports_each_failed_photo_and_exits_1(model_folder, photo_file, tmp_path, capsys):
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 320, 3), 180, np.uint8)).save(blank)
    missing = tmp_path / "missing.png"
    out = tmp_path / "result.json"
    code, _, err = recognize(capsys, blank, photo_file, missing, "--model", model_folder, "--out", out)
    assert code == 1
    assert f"faceforge recognize: error: {blank}: no face was found" in err
    assert f"faceforge recognize: error: {missing}: no such file" in err
    assert "faceforge recognize: 2 of 3 photos failed" in err
    photos = json.loads(out.read_text())["photos"]
    assert [p["photo"] for p in photos] == [str(blank), str(photo_file), str(missing)]
    assert "no face was found" in photos[0]["error"] and "faces" not in photos[0]
    assert len(photos[1]["faces"]) == 1 and "error" not in photos[1]


def test_recognize_command_refuses_another_model_and_a_bad_out(model_folder, photo_file, tmp_path, capsys):
    backbone = tmp_path / "covpoolfer"
    CovPoolFER(CovPoolFER.tiny_config()).save_pretrained(backbone)
    code, _, err = recognize(capsys, photo_file, "--model", backbone, "--out", tmp_path / "r.json")
    assert code == 2 and err.startswith("faceforge recognize: error: ")
    assert "is not an FSR-FER recogniser (model_type 'covpoolfer' of the fsrfer family)" in err
    assert "a CovPoolFER alone has no feature generator" in err and "takes fsrfer" in err
    code, _, err = recognize(capsys, photo_file, "--model", model_folder, "--out", tmp_path)
    assert code == 2 and err == f"faceforge recognize: error: --out {tmp_path} is a folder; give the name of the " \
                                "file to write\n"
    (tmp_path / "file.txt").write_text("not a folder")
    code, _, err = recognize(capsys, photo_file, "--model", model_folder, "--out", tmp_path / "file.txt" / "r.json")
    assert code == 2 and "file.txt is a file, not a folder" in err
    assert not list(tmp_path.glob("*.json"))


# --- the tab's helpers -----------------------------------------------------------------------------------------------
def test_the_labelled_photo_marks_every_face_and_leaves_the_photo_alone(fsrfer, photo):
    from faceforge.demo.recognize_tab import BOX_COLOUR, annotate

    result = recognize_photo(photo, fsrfer, scale=4)
    before = result.photo.copy()
    labelled = annotate(result)
    np.testing.assert_array_equal(result.photo, before)
    assert labelled.shape == photo.shape
    x0, y0, x1, y1 = (round(v) for v in result.faces[0].face.box)
    assert (labelled[(y0 + y1) // 2, x0] == BOX_COLOUR).all() and (labelled[y1 - 1, (x0 + x1) // 2] == BOX_COLOUR).all()
    label_strip = labelled[max(0, y0 - 12):y0, x0:x0 + 30]
    assert (label_strip == BOX_COLOUR).all(-1).mean() > 0.3 and (label_strip.sum(-1) < 150).any()  # text on it
    changed = np.any(labelled != photo, axis=-1)
    ys, xs = np.nonzero(changed)
    assert xs.min() >= x0 - 3 and ys.max() <= y1 + 1  # nothing drawn away from the face
    big = PhotoRecognition(faces=result.faces, photo=np.zeros((2000, 3200, 3), np.uint8), scale=4,
                           classes=result.classes)
    assert annotate(big, max_side=1600).shape == (1000, 1600, 3)


def test_the_accuracy_plot_is_shown_only_when_the_model_folder_has_one(fsrfer, tmp_path, monkeypatch):
    import gradio as gr

    from faceforge.demo.recognize_tab import ACCURACY_PLOT, accuracy_plot_path, build_recognize_tab

    folder = tmp_path / "fsrfer"
    fsrfer.save_pretrained(folder)
    monkeypatch.setenv("FACEFORGE_FSRFER_MODEL", str(folder))

    def accuracy_images() -> list:
        with gr.Blocks() as blocks:
            build_recognize_tab()
        return [c for c in blocks.config["components"] if c["props"].get("elem_id") == "recognize-accuracy"]

    assert accuracy_plot_path() is None and accuracy_images() == []
    Image.new("RGB", (64, 48), (255, 255, 255)).save(folder / ACCURACY_PLOT)
    assert accuracy_plot_path() == str(folder / ACCURACY_PLOT)
    (image,) = accuracy_images()
    assert image["props"]["value"]["orig_name"] == ACCURACY_PLOT
    monkeypatch.setenv("FACEFORGE_FSRFER_MODEL", "not-a-shipped-model")
    assert accuracy_plot_path() is None
