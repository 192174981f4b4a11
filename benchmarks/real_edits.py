"""Expression editing of real face photographs by Cascade EF-GAN: what the edits read as, and whom they keep.

    python benchmarks/real_edits.py [--model cascade-efgan] [--expressions happiness surprise anger sadness]
                                    [--intensity 1] [--photos DIR] [--real-cache DIR] [--min-eye-distance 40]
                                    [--resamples 1000] [--sheet FILE] [--out benchmarks/results/real_edits.json]

Faces: every face that ``benchmarks/real_faces.py`` finds and aligns at the editor's side (128) in the photos
shipped inside PyPI packages (scikit-image's astronaut, the test photos of ``face_recognition`` 1.3.0, the sample
photos of ``insightface`` 2.1) or in ``--photos DIR``; faces whose eyes lie closer than ``--min-eye-distance`` pixels
in the photo are skipped (their crop would be an enlarged, blurry face). The shipped editor learns from
FaceForge-Synth alone: none of these faces, nor any real face, was seen in training. Each face's own AUs are
estimated by the app's AU detector (:func:`faceforge.pipelines.estimate_aus`) and the face is edited
(:func:`faceforge.pipelines.edit_crops`) to each of ``--expressions`` at ``--intensity`` (its FaceForge-Synth AU
prototype) and to neutral (every AU absent).

The photos carry no expression labels, and there is no true edited face to compare with, so nothing here is an
accuracy. The figures, per target and over every target (each with a 95% bootstrap interval over the faces):

* ``read before`` / ``read after``: the share of faces that the app's expression classifier (``app.expression``,
  itself trained on FaceForge-Synth alone, and no part of the editor's training) reads as the target on the input
  and on the edit; ``after - before`` is their paired difference. The classifier's reading of a real face is
  itself uncertain; it is one reader, not the truth, and it reads some expression into any picture, a face the edit
  destroyed included: read these shares beside the identity distance and the pixel change.
* ``dp(target)``: the mean change of the classifier's probability of the target, edit minus input.
* ``ID < 0.6``: the share of edits within dlib's same-person distance of their input
  (:mod:`faceforge.face.identity`; dlib's network was trained on real photographs, apart from faceforge), and
  ``ID dist``: the median of those distances. As a reference, the median distance between distinct faces of the
  set (every pair; the built-in photos hold three of one person, Obama, whose pairs are counted too): an edit whose
  distance approaches it has moved the face as far as from one person to another.
* ``pixel change``: the median over faces of the edit's mean absolute pixel change from its input (0-255).

The classifier's reading of every input and edit, the distances and the pixel changes of every face are written to
``--out``; a contact sheet (``--sheet``: per face the input and each target's edit, with the classifier's reading
under each) is kept beside the photos in the real-face cache, not in the repository, as the photos themselves.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

import faceforge
from faceforge.face.identity import SAME_PERSON_DISTANCE, face_descriptors, identity_distance
from faceforge.metrics.bootstrap import BootstrapTable, bootstrap_interval
from faceforge.pipelines import EditTarget, edit_crops, estimate_aus

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling scripts: real_faces

import real_faces  # noqa: E402

TARGETS = ("happiness", "surprise", "anger", "sadness")
NEUTRAL = "neutral"
OVERALL = "overall"
COLUMNS = ("read before", "read after", "after - before", "dp(target)", "ID < 0.6", "ID dist", "pixel change")
DIGITS = {"read before": 0, "read after": 0, "after - before": 0, "ID < 0.6": 0, "pixel change": 1}


def short(probabilities: Mapping[str, float]) -> str:
    label = max(probabilities, key=probabilities.get)
    return f"{label} {probabilities[label]:.2f}"


# --- measuring -----------------------------------------------------------------------------------------------------
@torch.no_grad()
def read_expressions(classifier: torch.nn.Module, faces: np.ndarray, *, batch_size: int = 32) -> list[dict[str, float]]:
    """The classifier's ``{expression: probability}`` (softmax over ``config.classes``) of (N, S, S, 3) uint8 faces,
    read as the app reads them (:func:`faceforge.demo.models.read_face`)."""
    out = []
    for start in range(0, len(faces), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(faces[start:start + batch_size])).permute(0, 3, 1, 2).float() / 255
        for row in torch.softmax(classifier(x), 1).tolist():
            out.append({name: round(p, 5) for name, p in zip(classifier.config.classes, row)})
    return out


def pixel_change(edited: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(N,) mean absolute difference (0-255) between (N, S, S, 3) uint8 edits and their inputs."""
    return np.abs(edited.astype(np.int16) - faces.astype(np.int16)).mean(axis=(1, 2, 3))


def pairwise_distances(descriptors: np.ndarray) -> np.ndarray:
    """(N, N) identity distances between every two of (N, 128) descriptors."""
    d = np.asarray(descriptors, np.float64)
    return np.linalg.norm(d[:, None] - d[None], axis=-1)


def face_record(reading: Mapping[str, float], edits: Mapping[str, tuple[Mapping[str, float], float, float]]) -> dict:
    """One face's JSON entry: ``input`` (the classifier's reading) and per target ``edits``: the edit's reading, the
    target's probability before and after, the identity distance to the input and the pixel change.

    Args:
        reading: ``{expression: probability}`` of the input.
        edits: ``{target: (reading of the edit, identity distance, pixel change)}``.
    """
    entry = {"input": {"read": max(reading, key=reading.get), "probabilities": dict(reading)}, "edits": {}}
    for target, (probabilities, distance, change) in edits.items():
        entry["edits"][target] = {
            "read": max(probabilities, key=probabilities.get), "probabilities": dict(probabilities),
            "target_probability": {"input": reading[target], "edit": probabilities[target]},
            "identity_distance": round(float(distance), 4), "pixel_change": round(float(change), 3)}
    return entry


# --- the summary -----------------------------------------------------------------------------------------------------
def _columns(records: Mapping[str, dict], targets: Sequence[str]) -> dict[str, np.ndarray]:
    """(N faces, T targets) arrays of the per-face records."""
    faces = list(records.values())

    def grid(value) -> np.ndarray:
        return np.array([[value(face, target) for target in targets] for face in faces], np.float64)

    return {
        "before": grid(lambda f, t: f["input"]["read"] == t),
        "after": grid(lambda f, t: f["edits"][t]["read"] == t),
        "dp": grid(lambda f, t: f["edits"][t]["probabilities"][t] - f["input"]["probabilities"][t]),
        "distance": grid(lambda f, t: f["edits"][t]["identity_distance"]),
        "change": grid(lambda f, t: f["edits"][t]["pixel_change"]),
    }


def summarize(records: Mapping[str, dict], targets: Sequence[str], *, resamples: int = 1000,
              seed: int = 0) -> BootstrapTable:
    """The table of :data:`COLUMNS` per target and ``overall`` (every target's edits of the faces pooled), each cell
    with its 95% bootstrap interval over the faces (shares in percent).

    Args:
        records: ``{face: face_record(...)}`` with an entry in ``edits`` for every target.
        targets: the rows, in order.
        resamples, seed: of the bootstrap (every cell is resampled over the same draws).
    """
    c = _columns(records, targets)
    table = BootstrapTable(len(records), resamples=resamples, seed=seed)
    for row, k in [*((t, [j]) for j, t in enumerate(targets)), (OVERALL, list(range(len(targets))))]:
        pick = {name: values[:, k] for name, values in c.items()}
        table.add_row(row, {
            "read before": lambda i, v=pick["before"]: 100 * v[i].mean(),
            "read after": lambda i, v=pick["after"]: 100 * v[i].mean(),
            "after - before": lambda i, a=pick["after"], b=pick["before"]: 100 * (a[i] - b[i]).mean(),
            "dp(target)": lambda i, v=pick["dp"]: v[i].mean(),
            "ID < 0.6": lambda i, v=pick["distance"]: 100 * (v[i] < SAME_PERSON_DISTANCE).mean(),
            "ID dist": lambda i, v=pick["distance"]: float(np.median(v[i])),
            "pixel change": lambda i, v=pick["change"]: float(np.median(v[i])),
        })
    return table


def different_people(distances: np.ndarray, *, resamples: int = 1000, seed: int = 0) -> dict:
    """The reference: the identity distances between distinct faces (every pair i < j of an (N, N) matrix), as
    ``{"faces", "pairs", "median": interval, "under_0.6": share of pairs under the threshold}``; the median's interval
    resamples the faces (pairs of one face drawn twice are left out). Needs N >= 2."""
    n = len(distances)
    upper = np.triu_indices(n, 1)
    pairs = distances[upper]

    def median(i: np.ndarray) -> float:
        sub = distances[np.ix_(i, i)]
        distinct = np.triu(i[:, None] != i[None], 1)
        return float(np.median(sub[distinct])) if distinct.any() else float("nan")

    return {"faces": n, "pairs": len(pairs),
            "median": bootstrap_interval(median, n, resamples=resamples, seed=seed).as_dict(),
            "under_0.6": float((pairs < SAME_PERSON_DISTANCE).mean())}


def report(table: BootstrapTable, reference: dict | None) -> str:
    """The printed table (a row per target and ``overall``; percentages for shares) and the reference line."""
    lines = ["| target | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for row, cells in table.rows().items():
        lines.append(f"| {row} | " + " | ".join(cells[c].format(DIGITS.get(c, 2)) for c in COLUMNS) + " |")
    if reference is not None:
        m = reference["median"]
        lines.append(f"reference, distinct faces ({reference['pairs']} pairs of {reference['faces']}): median ID dist "
                     f"{m['value']:.2f} [{m['low']:.2f}, {m['high']:.2f}], {100 * reference['under_0.6']:.0f}% of "
                     f"pairs under {SAME_PERSON_DISTANCE}")
    return "\n".join(lines)


# --- the script ----------------------------------------------------------------------------------------------------
def weights_source(name: str) -> tuple[str, str]:
    """Where a model's weights are read from (a folder, or a Hub id when not in this checkout) and the SHA-256 (first
    16 hex digits) of its ``model.safetensors`` ("" when it is not on this disk)."""
    from faceforge.resolve import shipped_location

    where = shipped_location(name) or str(Path(name).expanduser())
    weights = Path(where) / "model.safetensors"
    if not weights.is_file():
        return where, ""
    return str(weights), hashlib.sha256(weights.read_bytes()).hexdigest()[:16]


def main() -> None:
    from faceforge.errors import EditTargetError
    from faceforge.loading import load_pretrained
    from faceforge.registry import default_model
    from faceforge.training.report import cpu_name

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cascade-efgan", help="shipped name, folder or Hub id of the editor")
    parser.add_argument("--expressions", nargs="+", default=list(TARGETS),
                        help="target expressions (neutral is always added)")
    parser.add_argument("--intensity", type=float, default=1.0, help="the targets' intensity in [0, 1]")
    parser.add_argument("--photos", type=Path, default=None, help="a folder of your own photos, besides the sources")
    parser.add_argument("--real-cache", type=Path, default=None, help="where the source photos are kept")
    parser.add_argument("--min-eye-distance", type=float, default=real_faces.MIN_EYE_DISTANCE,
                        help="skip faces whose eyes are closer than this in the photo (px)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples over the faces")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="contact sheet (default: real_edits.png in the real-face cache)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "real_edits.json")
    args = parser.parse_args()
    try:
        goals = [EditTarget(expression=e, intensity=args.intensity) for e in args.expressions]
    except EditTargetError as err:
        parser.error(str(err))
    goals = list({g.expression: g for g in goals if g.expression != NEUTRAL}.values())
    goals.append(EditTarget(expression=NEUTRAL, intensity=args.intensity))
    targets = [g.expression for g in goals]

    model = faceforge.from_pretrained(args.model).eval()
    side = model.config.image_size
    real = real_faces.aligned_real_faces(args.real_cache, args.photos, min_eye_distance=args.min_eye_distance,
                                         verbose=False)
    if len(real) < 2:
        raise SystemExit(f"{len(real)} real faces found; at least two are needed: check the photos or pass --photos")
    names = [n for n, _ in real]
    crops = np.stack([c if c.shape[0] == side else np.asarray(Image.fromarray(c).resize((side, side), Image.LANCZOS))
                      for _, c in real])
    classifier_name = default_model("app.expression")
    classifier = load_pretrained(classifier_name).eval()
    missing = [t for t in targets if t not in classifier.config.classes]
    if missing:
        raise SystemExit(f"the expression classifier {classifier_name} has no class {', '.join(missing)}")
    au_detector = load_pretrained(default_model("app.au")).eval()
    where, digest = weights_source(args.model)
    print(f"{cpu_name()}, {torch.get_num_threads()} threads; editor {args.model}: {where}"
          + (f" (sha256 {digest})" if digest else "")
          + f"; expression classifier {classifier_name}; AU detector {default_model('app.au')}")
    print(f"{len(names)} real faces, aligned at {side}; targets {', '.join(targets)} at intensity {args.intensity:g}")

    source = estimate_aus(au_detector, crops, model.config.aus)
    readings = read_expressions(classifier, crops)
    descriptors = face_descriptors(crops)
    edited, edit_readings, distances, changes = {}, {}, {}, {}
    for goal in goals:
        edited[goal.expression] = np.stack([e.edited for e in edit_crops(model, crops, goal, source=source,
                                                                          frames=0)])
        edit_readings[goal.expression] = read_expressions(classifier, edited[goal.expression])
        distances[goal.expression] = identity_distance(descriptors, face_descriptors(edited[goal.expression]))
        changes[goal.expression] = pixel_change(edited[goal.expression], crops)
    records = {name: face_record(readings[i], {t: (edit_readings[t][i], distances[t][i], changes[t][i])
                                               for t in targets}) for i, name in enumerate(names)}

    print("\nper face: the classifier's reading of the input and of each edit (label, its probability), with the "
          "edit's identity distance to the input\n| face | input | " + " | ".join(targets) + " |\n|---|---|"
          + "---|" * len(targets))
    for i, name in enumerate(names):
        cells = [f"{short(edit_readings[t][i])} d{distances[t][i]:.2f}" for t in targets]
        print(f"| {name} | {short(readings[i])} | " + " | ".join(cells) + " |")
    table = summarize(records, targets, resamples=args.resamples)
    reference = different_people(pairwise_distances(descriptors), resamples=args.resamples)
    print(f"\n{len(names)} faces, 95% bootstrap intervals over the faces; shares in %, dp(target) is the mean change "
          f"of the target's probability, ID dist the median identity distance edit-input, pixel change the median "
          f"mean |edit - input| (0-255)\n" + report(table, reference))

    results = {
        "editor": args.model, "weights": where, "weights_sha256": digest, "expression_classifier": classifier_name,
        "au_detector": default_model("app.au"), "cpu": cpu_name(), "intensity": args.intensity, "targets": targets,
        "resamples": args.resamples, "summary": table.as_dict(), "different_people": reference, "faces": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    args.sheet = args.sheet or Path(args.real_cache or real_faces.default_cache()) / "real_edits.png"
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    sheet(names, crops, readings, edited, edit_readings).save(args.sheet)
    print(f"wrote {args.out} and {args.sheet}")


def sheet(names: Sequence[str], crops: np.ndarray, readings: Sequence[Mapping[str, float]],
          edited: Mapping[str, np.ndarray], edit_readings: Mapping[str, Sequence[Mapping[str, float]]]) -> Image.Image:
    """Per face a row: the input, then each target's edit, each with what it is and the classifier's reading."""
    tile = crops.shape[1]
    columns = 1 + len(edited)
    image = Image.new("RGB", (columns * (tile + 8) + 8, len(names) * (tile + 44) + 8), "white")
    draw = ImageDraw.Draw(image)
    for row, name in enumerate(names):
        y = 8 + row * (tile + 44)
        views = [(crops[row], "input", readings[row])]
        views += [(faces[row], f"-> {target}", edit_readings[target][row]) for target, faces in edited.items()]
        for col, (face, what, reading) in enumerate(views):
            x = 8 + col * (tile + 8)
            image.paste(Image.fromarray(face), (x, y))
            draw.text((x, y + tile + 2), what[:22], fill="black")
            draw.text((x, y + tile + 14), "reads " + short(reading)[:16], fill="black")
        draw.text((8, y + tile + 28), name[:60], fill=(90, 90, 90))
    return image


if __name__ == "__main__":
    main()
