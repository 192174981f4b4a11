"""``faceforge restore`` given hostile arguments: one ``faceforge restore: error: ...`` line and exit code 2 (1 for a
photo that fails), never a traceback; photos with the same name never overwrite each other's results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faceforge.pipelines
from faceforge import shipped
from faceforge.cli import main
from faceforge.commands._paths import unique_stem
from faceforge.data.synth import render_face
from faceforge.models.au_detector import AUDetector
from faceforge.models.mpenet import MPENet, MPENetConfig


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    """A small (untrained) restoration network at the real 16 -> 128 sizes, saved: it loads in a moment."""
    config = MPENetConfig(channels=8, groups=2, align_channels=16, hourglass_depth=2, au_backbone="resnet10t",
                          au_image_size=64)
    folder = tmp_path_factory.mktemp("mpenet") / "model"
    MPENet(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A synthetic face photo, a/x.png (renderer 1: dlib's HOG detector finds no face in renderer 2's unframed
    128 px crop of this neutral identity, and these tests need one face found)."""
    path = tmp_path_factory.mktemp("photos") / "a" / "x.png"
    path.parent.mkdir()
    Image.fromarray(render_face(identity=1800, version=1).image).save(path)
    return path


def restore(capsys, *argv: str | Path) -> tuple[int, str, str]:
    """Run ``faceforge restore ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main(["restore", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.parametrize("where", ["proc", "under_a_file"])
def test_an_output_folder_that_cannot_be_created(small_model, photo, tmp_path, capsys, where):
    (tmp_path / "file.txt").write_text("not a folder")
    out = Path("/proc/x") if where == "proc" else tmp_path / "file.txt" / "results"
    if where == "proc" and not Path("/proc").is_dir():
        pytest.skip("no /proc on this system")
    code, _, err = restore(capsys, photo, "--out", out, "--model", small_model)
    assert code == 2
    reason = "No such file or directory" if where == "proc" else "Not a directory"
    assert err == f"faceforge restore: error: cannot create the folder --out {out}: {reason}\n"


def test_an_output_folder_that_is_a_file(small_model, photo, tmp_path, capsys):
    out = tmp_path / "results.png"
    out.write_bytes(b"an existing file")
    code, _, err = restore(capsys, photo, "--out", out, "--model", small_model)
    assert code == 2
    assert err == f"faceforge restore: error: --out {out} is a file, not a folder\n"
    assert out.read_bytes() == b"an existing file"


def test_a_model_that_does_not_restore_faces(photo, tmp_path, capsys):
    AUDetector(AUDetector.tiny_config()).save_pretrained(tmp_path / "au")
    code, _, err = restore(capsys, photo, "--out", tmp_path / "out", "--model", tmp_path / "au")
    assert code == 2
    assert err == (f"faceforge restore: error: {tmp_path / 'au'} is not a face restoration model (model_type "
                   f"'au_detector' of the au_detector family); faceforge restore takes mpenet, mpegan, igcn, "
                   f"igcn-srgan, or a folder or Hub repo holding an 'mpenet' or 'igcn' model\n")
    assert not (tmp_path / "out").exists()  # stopped before writing anything


@pytest.mark.skipif(not (shipped.HUB_CARDS / "au-detector" / "config.json").is_file(), reason="no shipped au-detector")
def test_the_shipped_au_detector_is_refused_by_name(photo, tmp_path, capsys):
    code, _, err = restore(capsys, photo, "--out", tmp_path / "out", "--model", "au-detector")
    assert code == 2
    assert err.startswith("faceforge restore: error: au-detector is not a face restoration model")
    assert err.count("\n") == 1


@pytest.mark.parametrize("model, message", [
    ("no-such-model", "'no-such-model' is no local folder and no shipped model"),
    ("broken", "has no model_type: not a faceforge model config"),
    ("hostile", "the saved config is not a valid MPENetConfig: MPENetConfig.channels must be in [1, 4096], "
                "got 60000"),
])
def test_a_model_that_cannot_be_loaded(small_model, photo, tmp_path, capsys, model, message):
    if model in ("broken", "hostile"):
        folder = tmp_path / model
        folder.mkdir()
        (folder / "model.safetensors").write_bytes((small_model / "model.safetensors").read_bytes())
        config = json.loads((small_model / "config.json").read_text())
        config = {"channels": 60000} if model == "broken" else {**config, "channels": 60000}
        (folder / "config.json").write_text(json.dumps(config))
        model = str(folder)
    code, _, err = restore(capsys, photo, "--out", tmp_path / "out", "--model", model)
    assert code == 2
    assert err.startswith("faceforge restore: error: ") and message in err and err.count("\n") == 1


def test_photos_with_the_same_name_do_not_overwrite_each_other(small_model, photo, tmp_path, capsys):
    other = tmp_path / "b" / "x.jpg"
    other.parent.mkdir()
    face = np.asarray(Image.open(photo))
    Image.fromarray(np.ascontiguousarray(face[:, ::-1])).save(other, quality=95)  # another photo, same stem
    out = tmp_path / "out"
    code, stdout, err = restore(capsys, photo, other, "--out", out, "--model", small_model)
    assert code == 0 and err == ""
    assert sorted(p.name for p in out.iterdir()) == ["x-2_face00.png", "x-2_restored.png", "x_face00.png",
                                                     "x_restored.png"]
    assert f"{other}: 1 face(s) restored -> {out / 'x-2_restored.png'}" in stdout
    first, second = (np.asarray(Image.open(out / f"{s}_restored.png")) for s in ("x", "x-2"))
    assert not np.array_equal(first, second)


def test_output_names_stay_unique_whatever_the_photo_names():
    used: set[str] = set()
    assert [unique_stem(s, used) for s in ("x", "x", "x-2", "x", "y")] == ["x", "x-2", "x-2-2", "x-3", "y"]


def test_each_failed_photo_is_named_once(small_model, photo, tmp_path, capsys):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (160, 120), (90, 140, 60)).save(blank)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    missing = tmp_path / "missing.png"
    code, stdout, err = restore(capsys, photo, blank, broken, missing, "--out", tmp_path / "out",
                                "--model", small_model)
    assert code == 1
    assert f"{photo}: 1 face(s) restored" in stdout
    lines = err.splitlines()
    assert lines == [
        f"faceforge restore: error: {blank}: no face was found in the image; try a larger, frontal, well-lit face, "
        f"or the CNN detector",
        f"faceforge restore: error: {broken}: the image data is corrupt or truncated" + lines[1].split("truncated")[1],
        f"faceforge restore: error: {missing}: no such file",
        "faceforge restore: 3 of 4 photos failed",
    ]
    for path, line in zip((blank, broken, missing), lines):
        assert line.count(str(path)) == 1


def test_a_result_that_cannot_be_written(small_model, photo, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "x_restored.png").mkdir(parents=True)  # a folder where the result should go
    code, _, err = restore(capsys, photo, "--out", out, "--model", small_model)
    assert code == 2
    assert err == f"faceforge restore: error: {out / 'x_restored.png'}: Is a directory\n"


def test_ctrl_c_exits_with_130_and_one_line(small_model, photo, tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(faceforge.pipelines, "restore_photo", interrupted)
    code, _, err = restore(capsys, photo, "--out", tmp_path / "out", "--model", small_model)
    assert code == 130
    assert err == "faceforge restore: interrupted\n"
