"""Real-dataset loaders: raw layouts written into tmp_path, prepared, loaded, checked value by value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from dataset_fixtures import (
    rafd_name,
    write_bp4d,
    write_ckplus,
    write_disfa,
    write_face,
    write_openface_csv,
    write_oulu,
    write_rafdb,
    write_text,
)

from faceforge.cli import main as cli_main
from faceforge.data.datasets import (
    DATASETS,
    OPENFACE_AUS,
    PairedFaces,
    build_dataset,
    cache,
    list_datasets,
    openface_au_intensities,
    prepare_dataset,
)
from faceforge.data.datasets.bp4d import BP4D_PARTS
from faceforge.data.datasets.disfa import DISFA_PARTS
from faceforge.errors import DatasetLayoutError
from faceforge.face.aus import BP4D_AUS, DISFA_AUS, FACEFORGE_AUS
from faceforge.face.expressions import EXPRESSIONS, expression_index
from faceforge.face.template import canonical_landmarks

SIZE = 48  # cache crop size used by the tests


def prep(name: str, raw: Path, out: Path, **kwargs) -> cache.PrepareReport:
    kwargs.setdefault("size", SIZE)
    kwargs.setdefault("progress", False)
    return prepare_dataset(name, raw, out, **kwargs)


def by_key(dataset) -> dict[str, dict]:
    return {dataset[i]["key"]: dataset[i] for i in range(len(dataset))}


def idx(name: str) -> int:
    return expression_index(name)


# ---------------------------------------------------------------------------------------------------- BP4D
@pytest.fixture(scope="module")
def bp4d(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("bp4d")
    codes = {
        ("F001", "T1"): {1: {1: 1, 12: 1, 24: 1}, 2: {2: 1, 4: 9, 3: 1}, 99: {1: 1}},  # frame 99: no image
        ("M011", "T2"): {5: {6: 1, 7: 1}},
        ("F007", "T1"): {10: {17: 9, 23: 9}},
    }
    write_bp4d(tmp / "raw", tmp / "lm", codes)
    prep("bp4d", tmp / "raw", tmp / "cache", landmarks=tmp / "lm")
    return tmp


def test_bp4d_labels_masks_and_extras(bp4d):
    data = build_dataset("bp4d", root=bp4d / "cache", split="all")
    assert data.aus == BP4D_AUS
    samples = by_key(data)
    # Frame 99 of F001_T1 is coded but has no image.
    assert sorted(samples) == ["F001/T1/00001", "F001/T1/00002", "F007/T1/00010", "M011/T2/00005"]
    s = samples["F001/T1/00001"]
    expected = [1.0 if au in (1, 12, 24) else 0.0 for au in BP4D_AUS]
    assert s["au_occurrence"].tolist() == expected
    assert s["au_mask"].tolist() == [1.0] * 12
    s = samples["F001/T1/00002"]  # AU4 coded 9: unknown; AU3 is not one of BP4D's 12
    assert s["au_occurrence"].tolist() == [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert s["au_mask"].tolist() == [1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert samples["F007/T1/00010"]["au_mask"].tolist() == [1] * 9 + [0, 0, 1]
    assert (s["frame"], s["sequence"], s["task"]) == (2, "F001_T1", "T1")
    assert data.identities == ("F001", "F007", "M011")
    assert [samples[k]["identity"] for k in sorted(samples)] == [0, 0, 1, 2]
    assert s["image"].shape == (3, SIZE, SIZE) and s["image"].dtype == torch.float32
    assert 0.0 <= s["image"].min() and s["image"].max() <= 1.0
    # The exact landmarks from the side folder align the face onto the canonical template.
    err = np.abs(s["landmarks"].numpy() - canonical_landmarks(SIZE)).mean()
    assert err < 1.5


def test_bp4d_folds_and_igcn_split(bp4d):
    assert [len(p) for p in BP4D_PARTS] == [14, 14, 13] and len(set(sum(BP4D_PARTS, ()))) == 41
    cache = bp4d / "cache"

    def subjects(split, fold):
        return sorted(
            {data_key.split("/")[0] for data_key in by_key(build_dataset("bp4d", cache, split, fold))}
        )

    # F001 is in part 1, M011 in part 2, F007 in part 3.
    assert subjects("test", 1) == ["F001"] and subjects("train", 1) == ["F007", "M011"]
    assert subjects("test", 3) == ["F007"] and subjects("train", 3) == ["F001", "M011"]
    assert subjects("train", "igcn") == ["F001", "M011"] and subjects("test", "igcn") == ["F007"]
    assert subjects("train", None) == ["F001", "M011"]  # the default protocol is IGCN's 28 / 13 split
    with pytest.raises(ValueError, match="unknown fold"):
        build_dataset("bp4d", cache, "train", 4)
    with pytest.raises(ValueError, match="no validation split"):
        build_dataset("bp4d", cache, "val")


def test_bp4d_drop_unknown(bp4d):
    data = build_dataset("bp4d", root=bp4d / "cache", split="all", drop_unknown=True)
    assert sorted(by_key(data)) == ["F001/T1/00001", "M011/T2/00005"]


# --------------------------------------------------------------------------------------------------- DISFA
@pytest.fixture(scope="module")
def disfa(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("disfa")
    levels = {1: 0, 2: 1, 4: 2, 6: 3, 9: 4, 12: 5, 25: 0, 26: 1}
    intensities = {
        "SN001": {au: {1: v, 2: 5 - v, 3: v} for au, v in levels.items()},
        "SN003": {au: {1: 2 if au == 12 else 0, 2: 0} for au in DISFA_AUS},
    }
    del intensities["SN001"][9][3]  # frame 3 is missing from AU9's file: unknown there
    write_disfa(tmp / "raw", tmp / "lm", intensities)
    prep("disfa", tmp / "raw", tmp / "cache", landmarks=tmp / "lm")
    return tmp


def test_disfa_intensity_occurrence_and_mask(disfa):
    data = build_dataset("disfa", root=disfa / "cache", split="all")
    assert data.aus == DISFA_AUS
    samples = by_key(data)
    assert sorted(samples) == ["SN001/00001", "SN001/00002", "SN001/00003", "SN003/00001", "SN003/00002"]
    s = samples["SN001/00001"]
    assert s["au_intensity"].tolist() == [0, 1, 2, 3, 4, 5, 0, 1]
    assert s["au_occurrence"].tolist() == [0, 0, 1, 1, 1, 1, 0, 0]  # present at intensity >= 2
    assert s["au_mask"].tolist() == [1] * 8
    s = samples["SN001/00002"]
    assert s["au_intensity"].tolist() == [5, 4, 3, 2, 1, 0, 5, 4]
    assert s["au_occurrence"].tolist() == [1, 1, 1, 1, 0, 0, 1, 1]
    s = samples["SN001/00003"]
    assert s["au_mask"].tolist() == [1, 1, 1, 1, 0, 1, 1, 1] and s["au_intensity"][4] == 0
    assert samples["SN003/00001"]["au_occurrence"].tolist() == [0, 0, 0, 0, 0, 1, 0, 0]
    assert (s["frame"], s["sequence"], s["identity"]) == (3, "SN001", 0)


def test_disfa_splits(disfa):
    assert [len(p) for p in DISFA_PARTS] == [9, 9, 9] and len(set(sum(DISFA_PARTS, ()))) == 27
    cache = disfa / "cache"
    train, test = (
        build_dataset("disfa", cache, "train", "igcn"),
        build_dataset("disfa", cache, "test", "igcn"),
    )
    assert {k[:5] for k in by_key(train)} == {"SN001"} and {k[:5] for k in by_key(test)} == {"SN003"}
    assert {k[:5] for k in by_key(build_dataset("disfa", cache, "test", 1))} == {"SN001"}
    with pytest.raises(ValueError, match="selects no faces"):
        build_dataset("disfa", cache, "test", 2)


def test_disfa_frames_from_video_folder_only_gives_extraction_hint(tmp_path):
    write_text(tmp_path / "ActionUnit_Labels" / "SN001" / "SN001_au1.txt", "1,0\n")
    (tmp_path / "Videos_LeftCamera").mkdir()
    with pytest.raises(
        DatasetLayoutError, match=r"ffmpeg -i .*LeftVideoSN001_comp\.avi .*Images_LeftCamera/SN001/%05d\.png"
    ):
        prep("disfa", tmp_path, tmp_path / "cache")


def test_disfa_zero_based_frame_files(tmp_path):
    write_face(tmp_path, "Images_LeftCamera/SN002/0.png", landmarks_dir=tmp_path / "lm")
    for au in DISFA_AUS:
        write_text(
            tmp_path / "ActionUnit_Labels" / "SN002" / f"SN002_au{au}.txt", f"1,{3 if au == 1 else 0}\n"
        )
    prep("disfa", tmp_path, tmp_path / "cache", landmarks=tmp_path / "lm", options={"frame_base": 0})
    (s,) = build_dataset("disfa", tmp_path / "cache", "all")
    assert s["key"] == "SN002/00001" and s["au_intensity"][0] == 3


# -------------------------------------------------------------------------------------------------- RAF-DB
RAFDB_LABELS = {
    "train_00001.jpg": 1,
    "train_00002.jpg": 2,
    "train_00003.jpg": 3,
    "train_00004.jpg": 4,
    "test_0001.jpg": 5,
    "test_0002.jpg": 6,
    "test_0003.jpg": 7,
}


@pytest.fixture(scope="module")
def rafdb(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("rafdb")
    write_rafdb(tmp / "raw", RAFDB_LABELS, originals=("test_0001.jpg",))
    prep("rafdb", tmp / "raw", tmp / "cache")
    return tmp


def test_rafdb_labels_and_official_split(rafdb):
    expected = {
        "train_00001": "surprise",
        "train_00002": "fear",
        "train_00003": "disgust",
        "train_00004": "happiness",
        "test_0001": "sadness",
        "test_0002": "anger",
        "test_0003": "neutral",
    }
    train, test = (
        build_dataset("rafdb", rafdb / "cache", "train"),
        build_dataset("rafdb", rafdb / "cache", "test"),
    )
    got = {**by_key(train), **by_key(test)}
    assert {k: EXPRESSIONS[s["expression"]] for k, s in got.items()} == expected
    assert sorted(by_key(train)) == ["train_00001", "train_00002", "train_00003", "train_00004"]
    s = got["train_00001"]
    assert "landmarks" not in s and "identity" not in s  # resized RAF-DB crops: no landmarks, no subjects
    assert s["image"].shape == (3, SIZE, SIZE)
    with pytest.raises(ValueError, match="no folds"):
        build_dataset("rafdb", rafdb / "cache", "train", 1)


def test_rafdb_resize_keeps_rafdb_framing(rafdb):
    from PIL import Image

    raw = np.asarray(
        Image.open(rafdb / "raw" / "Image" / "aligned" / "test_0003_aligned.jpg").resize(
            (SIZE, SIZE), Image.BICUBIC
        )
    )
    s = by_key(build_dataset("rafdb", rafdb / "cache", "test"))["test_0003"]
    cached = (s["image"].permute(1, 2, 0).numpy() * 255).round()
    assert np.abs(cached - raw).max() <= 1


def test_rafdb_realign_uses_dlib_and_the_original_photo(rafdb, tmp_path):
    labels = {"test_0001.jpg": 5, "test_0002.jpg": 6}  # 0001 has an original photo, 0002 only its crop
    write_rafdb(tmp_path / "raw", labels, originals=("test_0001.jpg",))
    prep("rafdb", tmp_path / "raw", tmp_path / "cache", options={"realign": True})
    meta = json.loads((tmp_path / "cache" / "meta.json").read_text())
    assert meta["options"] == {"realign": True} and meta["faces"] == 2
    samples = by_key(build_dataset("rafdb", tmp_path / "cache", "test"))
    template = canonical_landmarks(SIZE)
    for s in samples.values():  # dlib's landmarks, aligned onto the template
        assert np.abs(s["landmarks"].numpy() - template).mean() < 2.5
    lines = [json.loads(line) for line in (tmp_path / "cache" / "index.jsonl").read_text().splitlines()]
    assert {r["key"]: r["source"] for r in lines} == {
        "test_0001": "Image/original/test_0001.jpg",
        "test_0002": "Image/aligned/test_0002_aligned.jpg",
    }


# ----------------------------------------------------------------------------------------------------- CK+
FACS_PEAK = (
    "   6.0000000e+00   3.0000000e+00\n   1.2000000e+01   0.0000000e+00\n   6.2000000e+01   0.0000000e+00\n"
)


@pytest.fixture(scope="module")
def ckplus(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("ckplus")
    write_ckplus(
        tmp / "raw",
        {
            ("S005", "001"): (10, 5, FACS_PEAK),  # happy
            ("S005", "002"): (7, 2, None),  # contempt, short: frames 6 only is weak (7 is the peak)
            ("S010", "001"): (9, None, "   1.0000000e+00   0.0000000e+00\n"),  # no emotion label
        },
    )
    prep("ckplus", tmp / "raw", tmp / "cache")  # CK+'s own landmark files: no dlib
    return tmp


def test_ckplus_weak_and_peak_frames(ckplus):
    data = build_dataset("ckplus", ckplus / "cache", "all")
    samples = by_key(data)
    assert sorted(samples) == [
        "S005/001/001",
        "S005/001/006",
        "S005/001/007",
        "S005/001/008",
        "S005/001/010",
        "S005/002/001",
        "S005/002/006",
        "S005/002/007",
    ]  # S010/001 has no emotion label
    phases = {k: s["phase"] for k, s in samples.items()}
    assert phases == {
        "S005/001/001": "neutral",
        "S005/001/006": "weak",
        "S005/001/007": "weak",
        "S005/001/008": "weak",
        "S005/001/010": "peak",
        "S005/002/001": "neutral",
        "S005/002/006": "weak",
        "S005/002/007": "peak",
    }
    assert [samples[f"S005/001/{t:03d}"]["intensity"] for t in (1, 6, 10)] == [0.0, 5 / 9, 1.0]
    assert samples["S005/001/001"]["expression"] == idx("neutral")
    assert samples["S005/001/006"]["expression"] == samples["S005/001/010"]["expression"] == idx("happiness")
    assert samples["S005/002/007"]["expression"] == idx("contempt")
    assert samples["S005/001/001"]["sequence_expression"] == idx("happiness")
    assert data.aus == FACEFORGE_AUS
    peak = samples["S005/001/010"]
    assert peak["au_occurrence"].tolist() == [float(au in (6, 12)) for au in FACEFORGE_AUS]  # AU62 is dropped
    assert peak["au_mask"].tolist() == [1.0] * 18
    assert samples["S005/001/007"]["au_mask"].sum() == 0 and samples["S005/002/007"]["au_mask"].sum() == 0
    err = np.abs(peak["landmarks"].numpy() - canonical_landmarks(SIZE)).mean()
    assert err < 3.0  # aligned with CK+'s own landmarks (the face is smiling, so not exactly the template)


def test_ckplus_filters_folds_and_pairs(ckplus):
    cache = ckplus / "cache"
    all_frames = build_dataset("ckplus", cache, "all", labelled_only=False, phases=("peak",))
    assert sorted(by_key(all_frames)) == ["S005/001/010", "S005/002/007", "S010/001/009"]
    assert by_key(all_frames)["S010/001/009"]["expression"] == -1
    assert by_key(all_frames)["S010/001/009"]["au_occurrence"].tolist() == [
        float(au == 1) for au in FACEFORGE_AUS
    ]
    # 5 subject-exclusive folds dealt over the sorted subjects: S005 -> fold 1, S010 -> fold 2.
    test1 = build_dataset("ckplus", cache, "test", 1, labelled_only=False)
    assert {k[:4] for k in by_key(test1)} == {"S005"}
    assert {k[:4] for k in by_key(build_dataset("ckplus", cache, "train", 1, labelled_only=False))} == {
        "S010"
    }
    pairs = build_dataset("ckplus", cache, "all", pairs=True)
    assert isinstance(pairs, PairedFaces) and len(pairs) == 4  # 3 + 1 weak frames, each with its peak
    got = sorted((pairs[i]["key"], pairs[i]["target_key"]) for i in range(len(pairs)))
    assert got == [
        ("S005/001/006", "S005/001/010"),
        ("S005/001/007", "S005/001/010"),
        ("S005/001/008", "S005/001/010"),
        ("S005/002/006", "S005/002/007"),
    ]
    assert pairs[0]["target_phase"] == "peak" and pairs[0]["target_image"].shape == (3, SIZE, SIZE)
    with pytest.raises(ValueError, match="unknown phase"):
        build_dataset("ckplus", cache, "all", phases=("onset",))


# ---------------------------------------------------------------------------------------------- Oulu-CASIA
def test_oulu_sequences(tmp_path):
    write_oulu(tmp_path / "raw", tmp_path / "lm", {("P001", "Anger"): 9, ("P002", "Happiness"): 9})
    write_oulu(
        tmp_path / "raw", tmp_path / "lm", {("P001", "Anger"): 3}, light="Dark"
    )  # another illumination
    prep(
        "oulu",
        tmp_path / "raw",
        tmp_path / "cache",
        landmarks=tmp_path / "lm",
        options={"illumination": "normal"},
    )
    samples = by_key(build_dataset("oulu", tmp_path / "cache", "all"))
    assert sorted(samples) == [
        f"{s}/{t:03d}" for s in ("P001/Anger", "P002/Happiness") for t in (1, 6, 7, 8, 9)
    ]
    lines = {
        r["key"]: r["source"]
        for r in map(json.loads, (tmp_path / "cache" / "index.jsonl").read_text().splitlines())
    }
    assert lines["P001/Anger/006"] == "OriginalImg/VL/Strong/P001/Anger/005.jpeg"  # frame 6 is the file 005
    assert (
        samples["P001/Anger/009"]["expression"] == idx("anger")
        and samples["P001/Anger/009"]["phase"] == "peak"
    )
    assert samples["P002/Happiness/007"]["expression"] == idx("happiness")
    assert samples["P002/Happiness/007"]["intensity"] == pytest.approx(6 / 8)
    assert "au_occurrence" not in samples["P001/Anger/001"]
    assert {k[:4] for k in by_key(build_dataset("oulu", tmp_path / "cache", "test", 2))} == {"P002"}
    with pytest.raises(DatasetLayoutError, match="OriginalImg/VL/Weak"):
        prep("oulu", tmp_path / "raw", tmp_path / "cache2", options={"illumination": "weak"})


# ---------------------------------------------------------------------------------------------------- RaFD
@pytest.fixture(scope="module")
def rafd(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("rafd")
    raw = tmp / "raw" / "RafDDownload"
    for model in (1, 2):
        for expression in ("angry", "happy", "contemptuous"):
            for gaze in ("frontal", "left"):
                write_face(
                    raw,
                    rafd_name(model, expression, gaze),
                    identity=model,
                    expression=expression,
                    landmarks_dir=tmp / "lm" / "RafDDownload",
                )
    write_face(raw, rafd_name(1, "sad", "frontal", camera=45), identity=1)  # another camera: not used
    of = tmp / "openface"
    write_openface_csv(
        of / Path(rafd_name(1, "happy", "frontal")).with_suffix(".csv").name, {6: 2.5, 12: 4.0}, faces=2
    )
    write_openface_csv(of / Path(rafd_name(2, "angry", "left")).with_suffix(".csv").name, {4: 6.0, 7: 1.0})
    prep("rafd", tmp / "raw", tmp / "cache", landmarks=tmp / "lm", options={"openface": str(of)})
    return tmp


def test_rafd_labels_and_openface_intensities(rafd):
    data = build_dataset("rafd", rafd / "cache", "all")
    assert data.aus == OPENFACE_AUS and data.identities == ("01", "02")
    samples = by_key(data)
    assert len(samples) == 12 and all("Rafd090" in k for k in samples)
    s = samples[Path(rafd_name(1, "happy", "frontal")).stem]
    assert (s["expression"], s["gaze"], s["identity"]) == (idx("happiness"), "frontal", 0)
    expected = [{6: 0.5, 12: 0.8}.get(au, 0.0) for au in OPENFACE_AUS]  # OpenFace 0-5 divided by 5
    assert s["au_intensity"].numpy() == pytest.approx(expected)
    assert s["au_mask"].tolist() == [1.0] * 17
    s = samples[Path(rafd_name(2, "angry", "left")).stem]
    assert s["au_intensity"][OPENFACE_AUS.index(4)] == 1.0  # 6.0 / 5 clipped to 1
    assert s["expression"] == idx("anger") and s["identity"] == 1
    s = samples[Path(rafd_name(2, "contemptuous", "left")).stem]
    assert s["au_mask"].sum() == 0 and s["expression"] == idx("contempt")  # no OpenFace output for this image


def test_rafd_identity_pairs(rafd):
    pairs = build_dataset("rafd", rafd / "cache", "all", pairs=True)
    assert len(pairs) == 2 * 2 * 6  # 2 models x 2 gazes x ordered pairs of 3 expressions
    for i in range(len(pairs)):
        p = pairs[i]
        assert p["expression"] != p["target_expression"] and p["gaze"] == p["target_gaze"]
        assert p["key"].split("_")[1] == p["target_key"].split("_")[1]  # the same model
        assert "target_identity" not in p and p["target_au_intensity"].shape == (17,)
    frontal = build_dataset("rafd", rafd / "cache", "all", pairs=True, gaze="frontal")
    assert len(frontal) == 12
    test = build_dataset("rafd", rafd / "cache", "test", 2)  # 10 subject folds: model 02 is dealt to fold 2
    assert test.identities == ("01", "02")  # identity ints are the same in every split
    assert {test[i]["identity"] for i in range(len(test))} == {1}


def test_openface_single_csv_counts_sorted_images(tmp_path):
    from faceforge.data.datasets.openface import read_openface_csv

    header = "frame, face_id, timestamp, confidence, success, " + ", ".join(
        f"AU{au:02d}_r" for au in OPENFACE_AUS
    )
    rows = [
        "1, 0, 0.0, 0.9, 1, " + ", ".join("1.0" for _ in OPENFACE_AUS),
        "2, 0, 0.0, 0.9, 0, " + ", ".join("5.0" for _ in OPENFACE_AUS),  # success 0: not used
        "3, 0, 0.0, 0.9, 1, " + ", ".join("2.5" for _ in OPENFACE_AUS),
    ]
    path = write_text(tmp_path / "video.csv", header + "\n" + "\n".join(rows) + "\n")
    assert "AU01_r" in read_openface_csv(path)[0]  # OpenFace's leading spaces are stripped
    aus = openface_au_intensities(path, images=["c.png", "a.png", "b.png"])
    assert sorted(aus) == ["a", "c"]
    assert aus["a"] == pytest.approx([0.2] * 17) and aus["c"] == pytest.approx([0.5] * 17)
    assert openface_au_intensities(path, images=["a.png", "b.png", "c.png"], scale=False)["c"][0] == 2.5
    with pytest.raises(DatasetLayoutError, match="no file-name column"):
        openface_au_intensities(path)


# -------------------------------------------------------------------------------------------------- folder
def test_folder_csv_labels_dlib_and_skips(tmp_path):
    raw = tmp_path / "raw"
    # No landmark files here: dlib finds the faces.
    write_face(raw, "alice/a.jpg", identity=5, expression="happiness")
    write_face(raw, "bob/b.png", identity=6)
    from PIL import Image

    Image.new("RGB", (96, 96), (128, 128, 128)).save(raw / "blank.png")  # no face
    write_text(raw / "broken.jpg", "not an image")
    write_text(
        raw / "labels.csv",
        "file,expression,identity,split,AU12,AU06_r\n"
        "alice/a.jpg,happy,alice,train,1,3.5\n"
        "bob/b.png,0,bob,test,,1\n"
        "blank.png,,carol,val,0,\n"
        "broken.jpg,sadness,dave,train,1,\n",
    )
    report = prep("folder", raw, tmp_path / "cache")
    assert (report.total, report.cached, report.skipped) == (4, 2, 2)
    reasons = {
        r["key"]: r["reason"]
        for r in map(json.loads, (tmp_path / "cache" / "skipped.jsonl").read_text().splitlines())
    }
    assert reasons["blank.png"] == "no face found" and "not a recognised image" in reasons["broken.jpg"]
    data = build_dataset("folder", tmp_path / "cache", "all")
    assert data.aus == (6, 12) and data.identities == ("alice", "bob")
    a, b = by_key(data)["alice/a.jpg"], by_key(data)["bob/b.png"]
    assert (a["expression"], a["identity"], b["expression"], b["identity"]) == (idx("happiness"), 0, 0, 1)
    assert a["au_occurrence"].tolist() == [1, 1] and a["au_mask"].tolist() == [1, 1]
    assert a["au_intensity"].tolist() == [3.5, 0]
    # AU6: occurrence from its intensity 1 < 2; AU12: blank, unknown.
    assert b["au_occurrence"].tolist() == [0, 0] and b["au_mask"].tolist() == [1, 0]
    assert np.abs(a["landmarks"].numpy() - canonical_landmarks(SIZE)).mean() < 3.0  # dlib landmarks, aligned
    assert [s["key"] for s in build_dataset("folder", tmp_path / "cache", "train")] == ["alice/a.jpg"]
    with pytest.raises(ValueError, match="selects no faces"):
        build_dataset("folder", tmp_path / "cache", "val")  # the only val image had no face


def test_folder_without_split_column_loads_all_only(tmp_path):
    write_face(tmp_path, "x.png", landmarks_dir=tmp_path / "lm")
    write_text(tmp_path / "labels.csv", "file\nx.png\n")
    prep("folder", tmp_path, tmp_path / "cache", landmarks=tmp_path / "lm")
    (s,) = build_dataset("folder", tmp_path / "cache", "all")
    assert set(s) == {"image", "landmarks", "key"}
    with pytest.raises(ValueError, match="no split column"):
        build_dataset("folder", tmp_path / "cache", "train")
    write_text(tmp_path / "bad.csv", "file,expression\nx.png,grumpy\n")
    with pytest.raises(DatasetLayoutError, match=r"bad\.csv, line 2: unknown expression 'grumpy'"):
        prep("folder", tmp_path, tmp_path / "cache2", options={"labels": str(tmp_path / "bad.csv")})


# ------------------------------------------------------------------------------------------ prepare machinery
def _folder_raw(raw: Path, n: int, *, blank: str | None = None) -> None:
    from PIL import Image

    for i in range(n):
        write_face(raw, f"img_{i}.png", identity=i, landmarks_dir=raw.parent / "lm")
    rows = [f"img_{i}.png,{i % 8}" for i in range(n)]
    if blank:
        Image.new("RGB", (40, 40)).save(raw / blank)
        rows.insert(2, f"{blank},0")
    write_text(raw / "labels.csv", "file,expression\n" + "\n".join(rows) + "\n")


_PROCESS = cache._process


def _counting(monkeypatch, stop_after: int | None = None) -> list[str]:
    """Record the keys prepare processes; raise KeyboardInterrupt (Ctrl-C) before item ``stop_after``."""
    seen: list[str] = []
    real = _PROCESS

    def process(task):
        if stop_after is not None and len(seen) == stop_after:
            raise KeyboardInterrupt
        seen.append(task.key)
        return real(task)

    monkeypatch.setattr(cache, "_process", process)
    return seen


def test_prepare_resumes_after_interruption(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    _folder_raw(raw, 7, blank="blank.png")
    kwargs = {"landmarks": tmp_path / "lm", "shard_size": 2}
    first = _counting(monkeypatch, stop_after=6)
    with pytest.raises(KeyboardInterrupt):
        prep("folder", raw, tmp_path / "cache", **kwargs)
    assert first == ["img_0.png", "img_1.png", "blank.png", "img_2.png", "img_3.png", "img_4.png"]
    meta = json.loads((tmp_path / "cache" / "meta.json").read_text())
    assert meta["complete"] is False
    with pytest.raises(
        DatasetLayoutError, match="did not finish; run the same faceforge prepare command again"
    ):
        build_dataset("folder", tmp_path / "cache", "all")
    with open(tmp_path / "cache" / "index.jsonl", "a") as f:
        f.write('{"key": "torn')  # a line cut off by the interruption
    (tmp_path / "cache" / "shards" / "images_00007.npy").write_bytes(b"orphan")

    second = _counting(monkeypatch)
    report = prep("folder", raw, tmp_path / "cache", **kwargs)
    # Shards 0 and 1 (img_0..img_3) and the skip were done; img_4 was in the unfinished shard and is redone.
    assert second == ["img_4.png", "img_5.png", "img_6.png"]
    assert (report.total, report.already_done, report.cached, report.skipped) == (8, 5, 3, 0)
    assert not (tmp_path / "cache" / "shards" / "images_00007.npy").exists()

    monkeypatch.undo()
    prep("folder", raw, tmp_path / "fresh", **kwargs)
    resumed = by_key(build_dataset("folder", tmp_path / "cache", "all"))
    fresh = by_key(build_dataset("folder", tmp_path / "fresh", "all"))
    assert sorted(resumed) == sorted(fresh) == [f"img_{i}.png" for i in range(7)]
    for key in fresh:
        assert torch.equal(resumed[key]["image"], fresh[key]["image"])
        assert resumed[key]["expression"] == fresh[key]["expression"]

    third = _counting(monkeypatch)
    report = prep("folder", raw, tmp_path / "cache", **kwargs)
    assert third == [] and report.already_done == 8
    report = prep("folder", raw, tmp_path / "cache", retry_skipped=True, **kwargs)
    assert third == ["blank.png"] and report.skipped == 1


def test_prepare_refuses_to_resume_with_other_settings(tmp_path):
    _folder_raw(tmp_path / "raw", 1)
    prep("folder", tmp_path / "raw", tmp_path / "cache", landmarks=tmp_path / "lm")
    with pytest.raises(DatasetLayoutError, match="prepared with other settings"):
        prep("folder", tmp_path / "raw", tmp_path / "cache", landmarks=tmp_path / "lm", size=SIZE + 8)
    assert cache.resolve_options(DATASETS["rafd"], {"camera": "90"}) == {"camera": 90, "openface": None}
    with pytest.raises(ValueError, match="does not take the prepare option"):
        prep("bp4d", tmp_path / "raw", tmp_path / "cache", options={"realign": True})


def test_prepare_with_workers_margin_and_loader_resize(tmp_path):
    _folder_raw(tmp_path / "raw", 3)
    prep("folder", tmp_path / "raw", tmp_path / "cache", landmarks=tmp_path / "lm", margin=4, workers=2)
    s = by_key(build_dataset("folder", tmp_path / "cache", "all"))["img_1.png"]
    assert s["image"].shape == (3, SIZE + 8, SIZE + 8)
    assert np.abs(s["landmarks"].numpy() - canonical_landmarks(SIZE, margin=4)).mean() < 1.5
    small = by_key(build_dataset("folder", tmp_path / "cache", "all", size=28))["img_1.png"]
    assert small["image"].shape == (3, 28, 28)
    scale = 28 / (SIZE + 8)
    assert small["landmarks"].numpy() == pytest.approx((s["landmarks"].numpy() + 0.5) * scale - 0.5, abs=1e-4)


def test_dataloader_workers_stream_the_cache(bp4d):
    data = build_dataset("bp4d", root=bp4d / "cache", split="all", transform=lambda s: {**s, "flag": 1})
    loader = torch.utils.data.DataLoader(data, batch_size=2, num_workers=2, shuffle=False)
    batches = list(loader)
    assert [b["image"].shape for b in batches] == [(2, 3, SIZE, SIZE)] * 2
    assert torch.equal(
        torch.cat([b["au_mask"] for b in batches]), torch.stack([data[i]["au_mask"] for i in range(4)])
    )
    assert batches[0]["flag"].tolist() == [1, 1] and batches[0]["landmarks"].shape == (2, 68, 2)


# ------------------------------------------------------------------------------------------ errors, registry
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_wrong_root_raises_a_clear_layout_error(name, tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(DatasetLayoutError) as err:
        prep(name, tmp_path / "photos", tmp_path / "cache")
    message = str(err.value)
    assert str(tmp_path / "photos") in message and (
        "expected" in message or "no RaFD images of camera 090" in message
    )
    with pytest.raises(
        DatasetLayoutError, match=f"not a prepared faceforge cache.*faceforge prepare {name} --root"
    ):
        build_dataset(name, root=tmp_path / "photos")
    with pytest.raises(DatasetLayoutError, match="no such folder"):
        prep(name, tmp_path / "missing", tmp_path / "cache")


def test_cache_of_another_dataset_is_refused(bp4d):
    with pytest.raises(DatasetLayoutError, match="holds 'bp4d', not 'disfa'"):
        build_dataset("disfa", root=bp4d / "cache")


def test_registry_and_synth():
    from faceforge.commands.prepare import DATASET_NAMES
    from faceforge.data.synth import SynthFaces

    assert list_datasets() == [*DATASET_NAMES, "synth"]
    synth = build_dataset("synth", split="val", length=3)
    assert isinstance(synth, SynthFaces) and len(synth) == 3
    with pytest.raises(ValueError, match="synth has no folds"):
        build_dataset("synth", fold=1)
    with pytest.raises(ValueError, match="unknown dataset 'affectnet'"):
        build_dataset("affectnet", root=".")


def test_unknown_loader_option_names_the_accepted_ones(bp4d):
    with pytest.raises(TypeError, match=r"bp4d takes no loader option\(s\) gaze \(it takes: drop_unknown\)"):
        build_dataset("bp4d", root=bp4d / "cache", split="all", gaze="left")


def test_pairs_only_where_defined(bp4d):
    with pytest.raises(ValueError, match="bp4d has no pairs"):
        build_dataset("bp4d", root=bp4d / "cache", split="all", pairs=True)


def test_cli_prepare(tmp_path, capsys):
    _folder_raw(tmp_path / "raw", 2)
    argv = [
        "prepare",
        "folder",
        "--root",
        str(tmp_path / "raw"),
        "--out",
        str(tmp_path / "cache"),
        "--size",
        str(SIZE),
        "--landmarks",
        str(tmp_path / "lm"),
        "--quiet",
    ]
    assert cli_main(argv) == 0
    assert "prepared folder: 2 faces cached" in capsys.readouterr().out
    assert cli_main(argv) == 0
    assert "0 faces cached, 2 already done by an earlier run" in capsys.readouterr().out
    raw, out = str(tmp_path / "raw"), str(tmp_path / "other")
    assert cli_main(["prepare", "bp4d", "--root", raw, "--out", out, "--realign"]) == 2
    assert "bp4d does not take the prepare option(s) realign" in capsys.readouterr().err
    assert cli_main(["prepare", "ckplus", "--root", raw, "--out", out]) == 2  # the wrong layout
    err = capsys.readouterr().err
    assert err.startswith("faceforge prepare: error: ") and "cohn-kanade-images" in err
    assert "Traceback" not in err
