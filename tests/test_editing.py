"""Expression editing of photos (``faceforge.pipelines.edit_photo``, ``faceforge edit`` and the helpers of the Editing
tab): targets are read and checked, the face's own AUs come from the AU detector in the editor's AU order, every
stage and the continuous edit are what the editor makes of the face, faces are found and pasted back as for
restoration, and bad input gets a clear error.

The editors and the AU detector here are tiny, randomly initialised networks (32x32 faces): these tests check what
the pipeline feeds the networks and reports, not how well any weights edit."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceforge.data.synth import render_face
from faceforge.data.synth.faces import expression_aus
from faceforge.errors import EditTargetError, FaceForgeError, NoFaceFoundError, NotAFaceCropError
from faceforge.face.aus import FACEFORGE_AUS, au_label
from faceforge.models.au_detector import AUDetector, AUDetectorConfig
from faceforge.models.efgan import EFGAN, CascadeEFGAN
from faceforge.pipelines import (
    EditTarget,
    FaceEdit,
    PhotoEdit,
    edit_crops,
    edit_photo,
    edit_target,
    edit_times,
    estimate_aus,
    heat_map,
    parse_au_intensities,
    write_animation,
)

pytestmark = pytest.mark.usefixtures("one_thread")

N_AUS = len(FACEFORGE_AUS)
DETECTED_AUS = (12, 6, 1, 16)  # the tiny detector's AUs: three the editor takes, in another order, and one it does not


@pytest.fixture(scope="module")
def cascade() -> CascadeEFGAN:
    torch.manual_seed(0)
    return CascadeEFGAN(CascadeEFGAN.tiny_config()).eval()


@pytest.fixture(scope="module")
def efgan() -> EFGAN:
    torch.manual_seed(1)
    return EFGAN(EFGAN.tiny_config()).eval()


@pytest.fixture(scope="module")
def au_detector() -> AUDetector:
    torch.manual_seed(2)
    return AUDetector(AUDetectorConfig(backbone="resnet10t", image_size=32, aus=DETECTED_AUS)).eval()


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    """Three aligned synthetic faces at the tiny editors' 32x32."""
    faces = [render_face(identity=1830 + i, expression=e).image for i, e in enumerate(("anger", "neutral", "fear"))]
    return np.stack([np.asarray(Image.fromarray(f).resize((32, 32), Image.Resampling.BICUBIC)) for f in faces])


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, (3, N_AUS)).astype(np.float32)


def as_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255


def as_uint8(images: torch.Tensor) -> np.ndarray:
    return (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


# --- targets ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("12:3,6:2", {12: 3.0, 6: 2.0}),
    ("AU12: 3, au6 :2.5", {12: 3.0, 6: 2.5}),
    ("43:0", {43: 0.0}),
    ("1:5", {1: 5.0}),
])
def test_au_targets_are_read_from_au_intensity_pairs(text, expected):
    assert parse_au_intensities(text) == expected
    assert EditTarget.from_text(text).aus == expected


@pytest.mark.parametrize("text, message", [
    ("12", "AU:intensity pairs separated by commas"),
    ("12:3;6:2", "AU:intensity pairs"),
    ("", "AU:intensity pairs"),
    ("12:x", "AU:intensity pairs"),
    ("12:5.5", "the intensity of AU12 must be a number from 0 to 5"),
    ("12:-1", "from 0 to 5"),
    ("12:nan", "from 0 to 5"),
    ("99:1", "unknown action unit 99; the AUs are 1, 2, 4"),
    ("12:1,12:2", "AU12 is given twice"),
])
def test_bad_au_targets_are_refused_with_what_is_allowed(text, message):
    with pytest.raises(EditTargetError, match=message):
        parse_au_intensities(text)


def test_an_expression_target_is_its_prototype_and_every_other_au_absent():
    left, right = expression_aus("contempt", 0.6)  # one-sided: AU12 and AU14 on one side only
    vector = EditTarget(expression="contempt", intensity=0.6).vector(FACEFORGE_AUS)
    np.testing.assert_allclose(vector, np.maximum(left, right) / 5, atol=1e-6)
    assert vector[FACEFORGE_AUS.index(12)] > 0 and vector[FACEFORGE_AUS.index(14)] > 0
    assert (vector[[i for i, au in enumerate(FACEFORGE_AUS) if au not in (12, 14)]] == 0).all()
    happy = EditTarget(expression="happiness", intensity=1.0)
    source = np.full((2, N_AUS), 0.7, np.float32)
    assert np.array_equal(happy.vector(FACEFORGE_AUS, source), np.broadcast_to(happy.vector(FACEFORGE_AUS),
                                                                                (2, N_AUS)))  # the face's AUs go
    # The editor's AU order is followed; an AU the prototype does not name is 0.
    assert list(happy.vector((12, 1, 6))) == pytest.approx([4.6 / 5, 0.0, 3.8 / 5])
    assert EditTarget(expression="Happy").expression == "happiness" and edit_target("surprised").expression == \
        "surprise"
    assert not EditTarget(expression="neutral").vector(FACEFORGE_AUS).any()
    assert not EditTarget(expression="fear", intensity=0).vector(FACEFORGE_AUS).any()


def test_an_au_target_sets_the_aus_it_names_and_keeps_the_others():
    source = np.random.default_rng(1).uniform(0, 1, (4, N_AUS)).astype(np.float32)
    target = edit_target({12: 4, "AU6": 2.5, 43: 0})
    vector = target.vector(FACEFORGE_AUS, source)
    named = [FACEFORGE_AUS.index(au) for au in (12, 6, 43)]
    np.testing.assert_allclose(vector[:, named], np.tile([0.8, 0.5, 0.0], (4, 1)))
    others = [i for i in range(N_AUS) if i not in named]
    np.testing.assert_array_equal(vector[:, others], source[:, others])
    assert target.describe() == "AU12 at 4, AU6 at 2.5, AU43 at 0"
    assert target.to_dict() == {"aus": {au_label(12): 4.0, au_label(6): 2.5, au_label(43): 0.0}}
    assert EditTarget(expression="fear", intensity=0.5).to_dict() == {"expression": "fear", "intensity": 0.5}
    with pytest.raises(EditTargetError, match="the editor does not take AU16; its AUs are AU1, AU2"):
        edit_target({16: 2, 12: 1}).vector(FACEFORGE_AUS)


@pytest.mark.parametrize("kwargs, message", [
    ({"expression": "joy"}, "unknown expression 'joy'; the expressions are neutral, anger, disgust"),
    ({"expression": 3}, "unknown expression 3"),
    ({"expression": "fear", "intensity": 1.5}, "expression intensity must be a number from 0 to 1"),
    ({"expression": "fear", "intensity": float("nan")}, "from 0 to 1"),
    ({"expression": "fear", "intensity": True}, "from 0 to 1"),
    ({"aus": {12: 6}}, "the intensity of AU12 must be a number from 0 to 5"),
    ({"aus": {12.5: 1}}, "unknown action unit 12.5"),
    ({"aus": {}}, "target AUs are"),
    ({"expression": "fear", "aus": {12: 1}}, "not both or neither"),
    ({}, "not both or neither"),
])
def test_bad_targets_are_clear_errors(kwargs, message):
    with pytest.raises(EditTargetError, match=message) as caught:
        EditTarget(**kwargs)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, FaceForgeError)


def test_the_continuous_edit_runs_evenly_from_the_face_to_the_target():
    assert edit_times(5) == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert edit_times(2) == (0.0, 1.0) and edit_times(1) == (1.0,) and edit_times(0) == ()
    for bad in (-1, 65, 2.5, True, "8"):
        with pytest.raises(ValueError, match="frames must be a whole number from 0 to 64"):
            edit_times(bad)


# --- the face's own AUs ----------------------------------------------------------------------------------------------
@torch.no_grad()
def test_the_detectors_probabilities_are_mapped_onto_the_editors_aus(au_detector, crops):
    estimated = estimate_aus(au_detector, crops, FACEFORGE_AUS, batch_size=2)
    probability = au_detector.predict(as_tensor(crops))["probability"].numpy()
    assert estimated.shape == (3, N_AUS) and estimated.dtype == np.float32
    for j, au in enumerate(DETECTED_AUS[:3]):  # AU12, AU6, AU1: the detector's columns 0-2
        np.testing.assert_allclose(estimated[:, FACEFORGE_AUS.index(au)], probability[:, j], atol=1e-6)
    missing = [i for i, au in enumerate(FACEFORGE_AUS) if au not in DETECTED_AUS]
    assert not estimated[:, missing].any()  # AUs the detector lacks are 0; its AU16 is not used
    assert estimated.max() > 0


def test_edit_crops_estimates_the_source_with_the_au_detector(cascade, au_detector, crops):
    (face, *_) = edit_crops(cascade, crops, "happiness", au_detector=au_detector, frames=0)
    np.testing.assert_allclose(face.source, estimate_aus(au_detector, crops[:1], cascade.config.aus)[0], atol=1e-6)


# --- edit_crops ------------------------------------------------------------------------------------------------------
@torch.no_grad()
def test_every_stage_and_frame_is_the_cascades_edit(cascade, crops, source):
    results = edit_crops(cascade, crops, "surprise", source=source, frames=4, batch_size=2)
    image = as_tensor(crops)
    target = torch.from_numpy(EditTarget(expression="surprise").vector(FACEFORGE_AUS, source))
    out = cascade(image, torch.from_numpy(source), target)
    assert len(results) == 3 and all(isinstance(r, FaceEdit) for r in results)
    for i, r in enumerate(results):
        assert r.face is None and r.aus == FACEFORGE_AUS
        np.testing.assert_array_equal(r.aligned, crops[i])
        np.testing.assert_array_equal(r.source, source[i])
        np.testing.assert_allclose(r.target, target[i].numpy(), atol=1e-6)
        assert len(r.stages) == 3 and all(s.shape == (32, 32, 3) and s.dtype == np.uint8 for s in r.stages)
        for stage, expected in zip(r.stages, out["stages"], strict=True):
            assert np.abs(stage.astype(int) - as_uint8(expected)[i]).max() <= 1
        assert len(r.conditions) == 3
        np.testing.assert_allclose(r.conditions[0], out["aus"][0][i].numpy(), atol=1e-5)  # the Interpolator's
        np.testing.assert_allclose(r.conditions[-1], r.target, atol=1e-6)  # the last stage: the target itself
        np.testing.assert_array_equal(r.edited, r.stages[-1])
        assert np.abs(r.edited.astype(int) - r.aligned).mean() > 2  # the editor changed the face
        assert r.strip.shape == (32, 32 * 4, 3)
        np.testing.assert_array_equal(r.strip[:, :32], r.aligned)
        np.testing.assert_array_equal(r.strip[:, -32:], r.edited)
        # The continuous edit: the face edited to source + t (target - source), t = 0, 1/3, 2/3, 1.
        assert r.times == pytest.approx((0, 1 / 3, 2 / 3, 1)) and len(r.frames) == 4
        for t, frame in zip(r.times, r.frames, strict=True):
            src = torch.from_numpy(source[i:i + 1])
            expected = cascade.edit(image[i:i + 1], src, src + t * (target[i:i + 1] - src))
            assert np.abs(frame.astype(int) - as_uint8(expected)[0]).max() <= 1
        np.testing.assert_array_equal(r.frames[-1], r.edited)
        assert np.abs(r.frames[0].astype(int) - r.frames[-1]).mean() > 0.5  # the frames move
    # Batched or not, the same edits.
    alone = edit_crops(cascade, crops[2:], "surprise", source=source[2:], frames=4, batch_size=1)[0]
    for a, b in zip((*alone.stages, *alone.frames), (*results[2].stages, *results[2].frames), strict=True):
        assert np.abs(a.astype(int) - b).max() <= 1


@torch.no_grad()
def test_one_efgan_edits_in_one_stage(efgan, crops, source):
    results = edit_crops(efgan, list(crops), {12: 5, 6: 4}, source=source, frames=3)
    target = edit_target({12: 5, 6: 4}).vector(FACEFORGE_AUS, source)
    expected = as_uint8(efgan(as_tensor(crops), torch.from_numpy(target))["out"])
    for i, r in enumerate(results):
        assert len(r.stages) == 1 and len(r.conditions) == 1 and r.strip.shape == (32, 64, 3)
        assert len(r.attention) == len(r.local_attention) == 1 and r.attention_picture.shape == (32, 96, 3)
        assert np.abs(r.edited.astype(int) - expected[i]).max() <= 1
        np.testing.assert_allclose(r.conditions[0], target[i], atol=1e-6)
        assert r.target[FACEFORGE_AUS.index(12)] == pytest.approx(1.0) and r.target[FACEFORGE_AUS.index(4)] == \
            source[i, FACEFORGE_AUS.index(4)]
        assert len(r.frames) == 3 and np.array_equal(r.frames[-1], r.edited)
        assert np.abs(r.edited.astype(int) - r.aligned).mean() > 2


def focus_cover(model: torch.nn.Module) -> np.ndarray:
    """(S, S) how many of the model's focus boxes cover each pixel."""
    size = model.config.image_size
    cover = np.zeros((size, size), int)
    for top, left, h, w in model.config.boxes:
        cover[top:top + h, left:left + w] += 1
    return cover


@torch.no_grad()
def test_each_stage_carries_its_global_and_its_stitched_local_attention_maps(cascade, crops, source):
    results = edit_crops(cascade, crops, "surprise", source=source, frames=0, batch_size=2)
    target = torch.from_numpy(EditTarget(expression="surprise").vector(FACEFORGE_AUS, source))
    cover = focus_cover(cascade)
    current = as_tensor(crops)
    for k, (stage, condition) in enumerate(zip(cascade.stages, cascade.conditions(torch.from_numpy(source), target),
                                               strict=True)):
        out = stage(current, condition)  # stage k on what it edits: the previous stage's edit
        current = out["out"]
        for i, r in enumerate(results):
            assert len(r.attention) == len(r.local_attention) == 3
            global_map, local_map = r.attention[k], r.local_attention[k]
            for m in (global_map, local_map):
                assert m.shape == (32, 32) and m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1
            np.testing.assert_allclose(global_map, out["attention"][i, 0].numpy(), atol=1e-5)
            assert not local_map[cover == 0].any() and local_map[cover > 0].min() > 0  # 0 outside every box
            for (top, left, h, w), branch in zip(cascade.config.boxes, out["local_attention"], strict=True):
                alone = cover[top:top + h, left:left + w] == 1  # where no other box reaches: the branch's own map
                np.testing.assert_allclose(local_map[top:top + h, left:left + w][alone],
                                           branch[i, 0].numpy()[alone], atol=1e-5)
    assert not np.allclose(results[0].attention[0], results[0].attention[1])  # each stage its own maps
    # The picture: a row per stage, its edit, then both maps as heat maps (black where nothing is repainted).
    r = results[0]
    picture = r.attention_picture
    assert picture.shape == (3 * 32, 3 * 32, 3) and picture.dtype == np.uint8
    for k in range(3):
        row = picture[32 * k:32 * (k + 1)]
        np.testing.assert_array_equal(row[:, :32], r.stages[k])
        np.testing.assert_array_equal(row[:, 32:64], heat_map(r.attention[k]))
        np.testing.assert_array_equal(row[:, 64:], heat_map(r.local_attention[k]))
        assert not row[:, 64:][cover == 0].any()


@torch.no_grad()
def test_an_efgan_without_local_branches_has_a_global_map_only(crops, source):
    torch.manual_seed(3)
    model = EFGAN(dataclasses.replace(EFGAN.tiny_config(), local=False)).eval()
    (r,) = edit_crops(model, crops[:1], {12: 4}, source=source[:1], frames=0)
    target = torch.from_numpy(edit_target({12: 4}).vector(FACEFORGE_AUS, source[:1]))
    assert len(r.attention) == 1 and r.local_attention == ()
    np.testing.assert_allclose(r.attention[0], model(as_tensor(crops[:1]), target)["attention"][0, 0].numpy(),
                               atol=1e-5)
    picture = r.attention_picture  # the edit and the global map only
    assert picture.shape == (32, 64, 3)
    np.testing.assert_array_equal(picture[:, 32:], heat_map(r.attention[0]))


def test_heat_maps_run_from_black_to_pale_yellow():
    values = np.linspace(0, 1, 11)[None]
    picture = heat_map(values)
    assert picture.shape == (1, 11, 3) and picture.dtype == np.uint8
    assert picture[0, 0].tolist() == [0, 0, 0] and picture[0, -1].tolist() == [252, 255, 164]
    assert picture[0, 5].tolist() == [188, 55, 84]  # 0.5: inferno's red
    assert (np.diff(picture[0].astype(int).sum(1)) > 0).all()  # brighter as the value rises
    np.testing.assert_array_equal(heat_map(np.array([[-1.0, 2.0]])), picture[:, [0, -1]])  # clipped to [0, 1]


def test_frames_zero_and_one(cascade, crops, source):
    (none,) = edit_crops(cascade, crops[:1], "anger", source=source[:1], frames=0)
    assert none.frames == () and none.times == () and len(none.stages) == 3
    (one,) = edit_crops(cascade, crops[:1], "anger", source=source[:1], frames=1)
    assert one.times == (1.0,) and len(one.frames) == 1 and np.array_equal(one.frames[0], one.edited)


def test_edit_crops_refuses_what_it_cannot_edit(cascade, crops, source):
    with pytest.raises(ValueError, match=r"crops must be \(N, 32, 32, 3\) uint8"):
        edit_crops(cascade, np.zeros((1, 128, 128, 3), np.uint8), "anger", source=source[:1])
    with pytest.raises(ValueError, match=r"source must be \(3, 18\) AU intensities in \[0, 1\]"):
        edit_crops(cascade, crops, "anger", source=source[:2])
    with pytest.raises(ValueError, match="source must be"):
        edit_crops(cascade, crops, "anger", source=source * 5)
    with pytest.raises(ValueError, match="frames must be"):
        edit_crops(cascade, crops, "anger", source=source, frames=100)
    with pytest.raises(EditTargetError, match="unknown expression"):
        edit_crops(cascade, crops, "joy", source=source)
    detector = AUDetector(AUDetector.tiny_config()).eval()
    with pytest.raises(TypeError, match="AUDetector is not an expression editor"):
        edit_crops(detector, crops, "anger", source=source)


# --- edit_photo ------------------------------------------------------------------------------------------------------
def test_every_face_of_a_real_photo_is_edited_and_pasted_back(cascade, au_detector, astronaut, detector):
    before = astronaut.copy()
    result = edit_photo(astronaut, cascade, "surprise", frames=3, detector=detector, au_detector=au_detector)
    np.testing.assert_array_equal(astronaut, before)  # the caller's photo is never changed
    assert isinstance(result, PhotoEdit) and result.target == EditTarget(expression="surprise")
    (face,) = result.faces
    x0, y0, x1, y1 = face.face.box
    assert 150 < x0 < x1 < 300 and 50 < y0 < y1 < 200  # her face
    assert face.aligned.shape == (32, 32, 3)  # aligned at the editor's side
    np.testing.assert_array_equal(face.aligned, face.face.crop)
    np.testing.assert_allclose(face.source, estimate_aus(au_detector, face.aligned[None], FACEFORGE_AUS)[0],
                               atol=1e-6)
    assert len(face.stages) == 3 and len(face.frames) == 3
    assert result.photo.shape == astronaut.shape
    changed = np.any(result.photo != astronaut, axis=-1)
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 500  # the edited face is pasted back
    assert xs.min() >= x0 - 40 and xs.max() <= x1 + 40 and ys.min() >= y0 - 60 and ys.max() <= y1 + 40
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["target"] == {"expression": "surprise", "intensity": 1.0} and data["photo_size"] == [512, 512]
    (entry,) = data["faces"]
    assert entry["box"] == [round(v, 2) for v in face.face.box] and entry["stages"] == 3 and entry["frames"] == 3
    assert list(entry["source_aus"]) == list(entry["target_aus"]) == [au_label(au) for au in FACEFORGE_AUS]
    assert entry["target_aus"][au_label(26)] == pytest.approx(4.6 / 5) and len(entry["stage_aus"]) == 3


def test_an_aligned_crop_skips_detection(cascade, au_detector, crops):
    result = edit_photo(crops[0], cascade, {12: 3}, aligned=True, frames=0, au_detector=au_detector)
    (face,) = result.faces
    assert face.face is None and result.to_dict()["faces"][0]["box"] is None
    np.testing.assert_array_equal(result.photo, face.edited)
    np.testing.assert_array_equal(face.aligned, crops[0])
    big = np.asarray(Image.fromarray(crops[0]).resize((64, 64)))  # any square crop, brought to the editor's side
    assert edit_photo(big, cascade, "fear", aligned=True, frames=0, au_detector=au_detector).photo.shape == (32, 32, 3)
    with pytest.raises(NotAFaceCropError, match="square"):
        edit_photo(np.zeros((32, 48, 3), np.uint8), cascade, "fear", aligned=True, au_detector=au_detector)


def test_no_face_and_bad_targets_are_clear_errors(cascade, au_detector, detector):
    texture = np.random.default_rng(0).uniform(0, 255, (200, 200, 3)).astype(np.uint8)
    with pytest.raises(NoFaceFoundError, match="no face"):
        edit_photo(texture, cascade, "fear", detector=detector, au_detector=au_detector)
    # A target the editor cannot take is refused before the photo is read (no ImageReadError).
    with pytest.raises(EditTargetError, match="the editor does not take AU16"):
        edit_photo("no/such/photo.png", cascade, {16: 2}, au_detector=au_detector)
    with pytest.raises(EditTargetError, match="unknown expression"):
        edit_photo("no/such/photo.png", cascade, "joy", au_detector=au_detector)
    with pytest.raises(ValueError, match="frames must be"):
        edit_photo("no/such/photo.png", cascade, "fear", frames=-1, au_detector=au_detector)


def test_the_animation_holds_its_ends_and_loops(tmp_path):
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 80, 160, 240)]
    path = write_animation(frames, tmp_path / "edit.gif", frame_ms=100, hold_ms=500)
    with Image.open(path) as gif:
        assert gif.n_frames == 4 and gif.info["loop"] == 0
        durations, values = [], []
        for k in range(4):
            gif.seek(k)
            durations.append(gif.info["duration"])
            values.append(int(np.asarray(gif.convert("RGB"))[0, 0, 0]))
    assert durations == [500, 100, 100, 500] and values == [0, 80, 160, 240]
    with pytest.raises(ValueError, match="at least one frame"):
        write_animation([], tmp_path / "none.gif")


# --- faceforge edit --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_folders(cascade, au_detector, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("models")
    cascade.save_pretrained(root / "editor")
    au_detector.save_pretrained(root / "au")
    return root / "editor", root / "au"


@pytest.fixture(scope="module")
def photo_file(astronaut, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    return path


def edit(capsys, *argv: str | Path) -> tuple[int, str, str]:
    """Run ``faceforge edit ARGV`` in this process: (exit code, stdout, stderr)."""
    from faceforge.cli import main

    code = main(["edit", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_edit_command_writes_the_photo_the_stages_the_animation_and_json(cascade, au_detector, model_folders,
                                                                         photo_file, tmp_path, capsys):
    editor, au = model_folders
    out = tmp_path / "edited"
    code, stdout, _ = edit(capsys, photo_file, "--expression", "sad", "--intensity", "0.5", "--frames", "4",
                           "--model", editor, "--au-model", au, "--out", out)
    assert code == 0 and stdout == f"{photo_file}: 1 face(s) edited to sadness at intensity 0.5 -> {out}\n"
    assert sorted(p.name for p in out.iterdir()) == ["edit.json", "edited.png", "face_0.gif", "face_0_attention.png",
                                                     "face_0_stages.png"]
    expected = edit_photo(photo_file, cascade, EditTarget(expression="sadness", intensity=0.5), frames=4,
                          au_detector=au_detector)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "edited.png")), expected.photo)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "face_0_stages.png")), expected.faces[0].strip)
    assert np.asarray(Image.open(out / "face_0_stages.png")).shape == (32, 128, 3)  # input | stage 1 | 2 | 3
    np.testing.assert_array_equal(np.asarray(Image.open(out / "face_0_attention.png")),
                                  expected.faces[0].attention_picture)
    assert expected.faces[0].attention_picture.shape == (96, 96, 3)  # per stage: edit | global M_A | local M_A
    with Image.open(out / "face_0.gif") as gif:
        assert gif.n_frames == 4 and gif.size == (32, 32)
    report = json.loads((out / "edit.json").read_text())
    assert report == {"model": str(editor), "photo": str(photo_file), **expected.to_dict()}
    assert report["target"] == {"expression": "sadness", "intensity": 0.5}
    # AU intensities; no continuous edit, no GIF.
    code, stdout, _ = edit(capsys, photo_file, "--aus", "12:4,6:3", "--frames", "0", "--model", editor,
                           "--au-model", au, "--out", tmp_path / "aus")
    assert code == 0 and "edited to AU12 at 4, AU6 at 3" in stdout
    assert not list((tmp_path / "aus").glob("*.gif"))
    (face,) = json.loads((tmp_path / "aus" / "edit.json").read_text())["faces"]
    assert face["target_aus"][au_label(12)] == 0.8 and face["frames"] == 0
    assert face["target_aus"][au_label(4)] == face["source_aus"][au_label(4)]  # not named: the face's own


@pytest.mark.parametrize("argv, message", [
    ([], "one of the arguments --expression --aus is required"),
    (["--expression", "fear", "--aus", "12:3"], "not allowed with argument"),
    (["--expression", "joy"], "unknown expression 'joy'; the expressions are neutral"),
    (["--expression", "fear", "--intensity", "1.5"], "the expression intensity must be from 0 to 1"),
    (["--aus", "12:7"], "the intensity of AU12 must be a number from 0 to 5"),
    (["--aus", "12=3"], "AU:intensity pairs separated by commas"),
    (["--aus", "12:3", "--frames", "65"], "frames must be from 0 to 64"),
])
def test_edit_command_refuses_bad_arguments(model_folders, photo_file, tmp_path, capsys, argv, message):
    editor, au = model_folders
    with pytest.raises(SystemExit) as stopped:
        edit(capsys, photo_file, *argv, "--model", editor, "--au-model", au, "--out", tmp_path / "out")
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [
    (["--aus", "12:3", "--intensity", "0.5"], "--intensity goes with --expression"),
    (["--aus", "16:2"], "the editor does not take AU16; its AUs are AU1"),
])
def test_edit_command_refuses_targets_the_editor_cannot_take(model_folders, photo_file, tmp_path, capsys, argv,
                                                             message):
    editor, au = model_folders
    code, _, err = edit(capsys, photo_file, *argv, "--model", editor, "--au-model", au, "--out", tmp_path / "out")
    assert code == 2 and err.startswith("faceforge edit: error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_edit_command_refuses_another_model_and_reports_a_photo_without_a_face(model_folders, tmp_path, capsys):
    editor, au = model_folders
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 320, 3), 180, np.uint8)).save(blank)
    code, _, err = edit(capsys, blank, "--expression", "fear", "--model", au, "--au-model", au, "--out",
                        tmp_path / "out")
    assert code == 2 and "is not an expression editor (model_type 'au_detector' of the au_detector family)" in err
    assert "takes cascade-efgan" in err and not (tmp_path / "out").exists()
    code, _, err = edit(capsys, blank, "--expression", "fear", "--model", editor, "--au-model", editor, "--out",
                        tmp_path / "out")
    assert code == 2 and f"--au-model {editor} is not an AU detector (model_type 'cascade_efgan')" in err
    assert not (tmp_path / "out").exists()
    code, _, err = edit(capsys, blank, "--expression", "fear", "--model", editor, "--au-model", au, "--out",
                        tmp_path / "out")
    assert code == 1 and f"faceforge edit: error: {blank}: no face was found" in err
    assert not list((tmp_path / "out").iterdir())


# --- the tab's helpers -----------------------------------------------------------------------------------------------
def test_the_tab_reads_its_target_from_the_controls(cascade, monkeypatch):
    from types import SimpleNamespace

    from faceforge.demo import edit_tab
    from faceforge.demo.inputs import InputError

    monkeypatch.setattr(edit_tab, "get_model", lambda role: cascade)
    zeros = [0] * N_AUS
    assert edit_tab._target("expression", "fear", 0.4, zeros) == EditTarget(expression="fear", intensity=0.4)
    sliders = [{12: 4, 6: 3}.get(au, 0.5) for au in FACEFORGE_AUS]
    # AUs: the target is exactly the sliders, every AU (those at 0 too).
    assert edit_tab._target("aus", "fear", 0.4, sliders) == EditTarget(aus=dict(zip(FACEFORGE_AUS, sliders)))
    assert edit_tab._target("aus", "fear", 0.4, zeros).aus == dict.fromkeys(FACEFORGE_AUS, 0.0)
    # An editor that takes fewer AUs: those it lacks are left out at 0 (and refused above 0, by the pipeline).
    monkeypatch.setattr(edit_tab, "get_model", lambda role: SimpleNamespace(config=SimpleNamespace(aus=(6, 12))))
    assert edit_tab._target("aus", "fear", 0.4, [{12: 4, 6: 3}.get(au, 0) for au in FACEFORGE_AUS]).aus == {
        6: 3.0, 12: 4.0}
    assert set(edit_tab._target("aus", "fear", 0.4, [1 if au == 4 else 0 for au in FACEFORGE_AUS]).aus) == {4, 6, 12}
    with pytest.raises(InputError, match="target must be one of expression, aus"):
        edit_tab._target("both", "fear", 0.4, zeros)
    with pytest.raises(InputError, match="intensity must be between 0 and 1"):
        edit_tab._target("expression", "fear", 2, zeros)
    with pytest.raises(InputError, match="AU12 Lip corner puller must be between 0 and 5"):
        edit_tab._target("aus", "fear", 1, [9 if au == 12 else 0 for au in FACEFORGE_AUS])


def test_the_tab_sets_the_au_sliders_to_the_first_faces_own_aus(cascade, au_detector, detector, monkeypatch):
    from faceforge.demo import edit_tab
    from faceforge.demo.examples import example_path

    monkeypatch.setattr(edit_tab, "get_model", {"editor": cascade, "au": au_detector}.get)
    photo = example_path("synthetic-group.png")
    *sliders, status = edit_tab.detect_aus(photo)
    # The pipeline's estimate of the edit's face 1 (the largest), x 5, to the sliders' step 0.1.
    (face,) = edit_photo(photo, cascade, "happiness", frames=0, max_faces=1, au_detector=au_detector).faces
    assert sliders == [round(float(v) * 5, 1) for v in face.source]
    assert any(v > 0 for v in sliders) and all(0 <= v <= 5 for v in sliders)
    assert status.startswith("The AU sliders are set to face 1's own AUs")
    assert all(update == {"__type__": "update"} for update in edit_tab.detect_aus(None))  # cleared: no change


def test_the_tabs_bar_chart_pairs_each_aus_own_and_target_value(cascade, crops, source):
    from faceforge.demo.edit_tab import AU_BARS, _au_frame

    faces = edit_crops(cascade, crops[:1], "happiness", source=source[:1], frames=0)
    frame = _au_frame(PhotoEdit(faces=tuple(faces), photo=faces[0].edited, target=edit_target("happiness")))
    assert list(frame["AU"]) == AU_BARS and len(frame) == 2 * N_AUS
    values = frame.set_index("AU")["intensity (FACS 0-5)"]
    assert values["AU12 face"] == pytest.approx(5 * source[0, FACEFORGE_AUS.index(12)])
    assert values["AU12 target"] == pytest.approx(4.6) and values["AU4 target"] == 0
    assert set(frame["AUs"]) == {"face", "target"}

