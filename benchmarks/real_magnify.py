"""Weak-expression magnification of real face photographs by the shipped GroupGAN: what it changes, what the
readings become, and whom it keeps.

    python benchmarks/real_magnify.py [--model groupgan] [--photos DIR] [--real-cache DIR] [--min-eye-distance 40]
                                      [--resamples 1000] [--sheet FILE] [--out benchmarks/results/real_magnify.json]

Faces: every face that ``benchmarks/real_faces.py`` finds and aligns (128x128) in the photos shipped inside PyPI
packages (scikit-image's astronaut, the test photos of ``face_recognition`` 1.3.0, the sample photos of
``insightface`` 2.1) or in ``--photos DIR``. The shipped GroupGAN learns from FaceForge-Synth's sequences alone: no
real face was seen in its training. The photos carry no expression labels (and most hold a clear, not a weak,
expression), so nothing here is an accuracy. Per face, through :func:`faceforge.magnification.magnify_crops`:

* ``C before`` / ``C after``: the GroupGAN's own classifier's reading of the face as the model sees it and of its
  magnification (the second is the model's recognition);
* ``evaluator before`` / ``after``: the app's expression classifier (``app.expression``, trained apart from
  GroupGAN) on the aligned face and on the face with G's change pasted in (the pipeline's ``result``);
* ``change``: the mean absolute pixel change of the result from the aligned face (0-255), and ``ID dist`` the dlib
  face-recognition distance between them (same person under 0.6).

Printed with 95% bootstrap intervals over the faces: the share whose C reading changes, whose evaluator reading
changes, the median change and the share kept within 0.6. The per-face figures go to ``--out``; a contact sheet
(per face: the aligned face, the model's view, its magnification, the heat map of the change and the result, with
the readings) is kept beside the photos in the real-face cache, not in the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # real_faces: the photos and their aligned faces

import real_faces  # noqa: E402

import faceforge  # noqa: E402
from faceforge.face.identity import SAME_PERSON_DISTANCE, face_descriptors, identity_distance  # noqa: E402
from faceforge.magnification import magnify_crops  # noqa: E402
from faceforge.metrics.bootstrap import bootstrap_interval  # noqa: E402


@torch.no_grad()
def evaluator_readings(evaluator: torch.nn.Module, faces: np.ndarray) -> list[str]:
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255
    classes = evaluator.config.classes
    return [classes[int(i)] for i in evaluator(x).argmax(1)]


def summarize(c_changed, e_changed, change, distance, *, resamples: int = 1000) -> dict:
    """The printed figures with 95% bootstrap intervals over the faces: the share (%) whose C reading changed, whose
    evaluator reading changed, the median change (0-255) and the share (%) within dlib's same-person distance."""
    c_changed, e_changed = np.asarray(c_changed, np.float64), np.asarray(e_changed, np.float64)
    change, distance = np.asarray(change, np.float64), np.asarray(distance, np.float64)
    n = len(change)
    return {
        "C reading changed": bootstrap_interval(lambda i: 100 * c_changed[i].mean(), n, resamples=resamples),
        "evaluator reading changed": bootstrap_interval(lambda i: 100 * e_changed[i].mean(), n, resamples=resamples),
        "median change (0-255)": bootstrap_interval(lambda i: float(np.median(change[i])), n, resamples=resamples),
        f"ID dist < {SAME_PERSON_DISTANCE}": bootstrap_interval(
            lambda i: 100 * (distance[i] < SAME_PERSON_DISTANCE).mean(), n, resamples=resamples),
    }


def sheet(names: list[str], results, readings: dict[str, list[str]], crops: np.ndarray) -> Image.Image:
    side, label = 128, 30
    rows = []
    for i, (name, r) in enumerate(zip(names, results, strict=True)):
        big = lambda a: np.asarray(Image.fromarray(a).resize((side, side), Image.Resampling.BICUBIC))  # noqa: E731
        row = Image.fromarray(np.concatenate([crops[i], big(r.weak), big(r.magnified), big(r.heat_picture()),
                                              r.result], 1))
        canvas = Image.new("RGB", (row.width, side + label), "white")
        canvas.paste(row, (0, 0))
        ImageDraw.Draw(canvas).text((4, side + 2), f"{name}: C {r.expression_before} -> {r.expression_after}; "
                                                   f"evaluator {readings['before'][i]} -> {readings['after'][i]}",
                                    fill="black")
        rows.append(np.asarray(canvas))
    return Image.fromarray(np.concatenate(rows, 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="groupgan")
    parser.add_argument("--photos", type=Path, default=None, help="a folder of photos (default: the PyPI photos)")
    parser.add_argument("--real-cache", type=Path, default=None)
    parser.add_argument("--min-eye-distance", type=float, default=40.0)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--sheet", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "real_magnify.json")
    args = parser.parse_args()
    real = real_faces.aligned_real_faces(args.real_cache, args.photos, min_eye_distance=args.min_eye_distance,
                                         verbose=False)
    if not real:
        raise SystemExit("no real face found: check the photos or pass --photos DIR")
    names, crops = [n for n, _ in real], np.stack([c for _, c in real])
    model = faceforge.from_pretrained(args.model).eval()
    evaluator = faceforge.from_pretrained(faceforge.registry.default_model("app.expression")).eval()
    results = magnify_crops(model, crops)
    magnified = np.stack([r.result for r in results])
    readings = {"before": evaluator_readings(evaluator, crops), "after": evaluator_readings(evaluator, magnified)}
    change = np.abs(magnified.astype(np.float64) - crops).mean((1, 2, 3))
    distance = identity_distance(face_descriptors(crops), face_descriptors(magnified))
    c_changed = [r.expression_before != r.expression_after for r in results]
    e_changed = [b != a for b, a in zip(readings["before"], readings["after"], strict=True)]
    figures = summarize(c_changed, e_changed, change, distance, resamples=args.resamples)
    n = len(names)
    print(f"{n} real faces (model {args.model}; evaluator {faceforge.registry.default_model('app.expression')})")
    print("| face | C before | C after | evaluator before | evaluator after | change | ID dist |")
    print("|---|---|---|---|---|---|---|")
    for i, (name, r) in enumerate(zip(names, results, strict=True)):
        print(f"| {name} | {r.expression_before} {r.before[r.expression_before]:.2f} | {r.expression_after} "
              f"{r.after[r.expression_after]:.2f} | {readings['before'][i]} | {readings['after'][i]} | "
              f"{change[i]:.2f} | {distance[i]:.3f} |")
    for key, interval in figures.items():
        print(f"{key}: {interval}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "model": args.model, "faces": {name: {"c_before": r.before, "c_after": r.after,
                                              "evaluator_before": readings["before"][i],
                                              "evaluator_after": readings["after"][i],
                                              "change": float(change[i]), "identity_distance": float(distance[i])}
                                       for i, (name, r) in enumerate(zip(names, results, strict=True))},
        "summary": {k: v.as_dict() for k, v in figures.items()}}, indent=1))
    args.sheet = args.sheet or Path(args.real_cache or real_faces.default_cache()) / "real_magnify.png"
    sheet(names, results, readings, crops).save(args.sheet)
    print(f"contact sheet: {args.sheet}")


if __name__ == "__main__":
    main()
