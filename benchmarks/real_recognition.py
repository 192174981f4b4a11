"""Low-resolution expression recognition of real face photographs: FSR-FER against bicubic at x1-x8.

    python benchmarks/real_recognition.py [--model fsrfer] [--scales 1 4 8] [--photos DIR] [--real-cache DIR]
                                          [--min-eye-distance 20] [--sheet FILE]
                                          [--out benchmarks/results/real_recognition.json]

Faces: every face that ``benchmarks/real_faces.py`` finds and aligns in the photos shipped inside PyPI packages
(scikit-image's astronaut, the test photos of ``face_recognition`` 1.3.0, the sample photos of ``insightface`` 2.1,
whose group photo has small faces) or in ``--photos DIR``. None was seen in training: the shipped recognisers learn
from FaceForge-Synth alone. The photos carry no expression labels, so nothing here is an accuracy: the script prints,
per face, the expression each route reads (the backbone on the HR face; bicubic and FSR-FER at each scale) with its
probability, how often each LR route agrees with the HR reading, and draws a contact sheet (``--sheet``: per face the
aligned crop and the LR faces, with the labels) for a person to judge, kept beside the photos in the cache (not in
the repository, as the photos themselves).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import faceforge
from faceforge.pipelines import recognize_crops

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling scripts: real_faces

import real_faces  # noqa: E402


def short(probabilities: dict[str, float]) -> str:
    label = max(probabilities, key=probabilities.get)
    return f"{label} {probabilities[label]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="fsrfer", help="shipped name or folder of an FSR-FER model")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 8], help="1: the aligned face as it is")
    parser.add_argument("--photos", type=Path, default=None, help="a folder of your own photos, besides the sources")
    parser.add_argument("--real-cache", type=Path, default=None, help="where the source photos are kept")
    parser.add_argument("--min-eye-distance", type=float, default=20.0,
                        help="skip faces whose eyes are closer than this in the photo (px)")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="contact sheet (default: real_recognition.png in the real-face cache)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "real_recognition.json")
    args = parser.parse_args()

    real = real_faces.aligned_real_faces(args.real_cache, args.photos,
                                                     min_eye_distance=args.min_eye_distance, verbose=False)
    if not real:
        raise SystemExit("no real face found: check the photos or pass --photos DIR")
    names, crops = [n for n, _ in real], np.stack([c for _, c in real])
    model = faceforge.from_pretrained(args.model).eval()
    hr = recognize_crops(model, crops, scale=None)  # the aligned face as it is: the HR reading
    by_scale = {s: recognize_crops(model, crops, scale=s) for s in args.scales if s != 1}
    results: dict = {"model": args.model, "faces": {}}
    print(f"{len(names)} real faces; the backbone's reading of each aligned face, then bicubic / FSR-FER per scale")
    header = " | ".join(f"x{s} bicubic | x{s} FSR-FER" for s in by_scale)
    print(f"| face | HR | {header} |\n|---|---|" + "---|---|" * len(by_scale))
    agree = {(s, route): 0 for s in by_scale for route in ("bicubic", "fsrfer")}
    for i, name in enumerate(names):
        reading = hr[i].probabilities["bicubic"]  # as given: the backbone on the aligned face
        hr_label = max(reading, key=reading.get)
        cells, entry = [], {"hr": reading}
        for s, faces in by_scale.items():
            for route in ("bicubic", "fsrfer"):
                probabilities = faces[i].probabilities[route]
                cells.append(short(probabilities))
                agree[(s, route)] += max(probabilities, key=probabilities.get) == hr_label
                entry[f"x{s}_{route}"] = probabilities
        results["faces"][name] = entry
        print(f"| {name} | {short(reading)} | " + " | ".join(cells) + " |")
    n = len(names)
    summary = {f"x{s} {route}": count / n for (s, route), count in agree.items()}
    print("agreement with the HR reading: " + ", ".join(f"{k} {v:.0%}" for k, v in summary.items()))
    results["agreement_with_hr"] = summary
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    args.sheet = args.sheet or Path(args.real_cache or real_faces.default_cache()) / "real_recognition.png"
    sheet(names, hr, by_scale).save(args.sheet)
    print(f"wrote {args.out} and {args.sheet}")


def sheet(names, hr, by_scale, tile: int = 100) -> Image.Image:
    """Per face: the aligned face and each LR face (pixelated to the tile), with the routes' labels under them."""
    columns = 1 + len(by_scale)
    image = Image.new("RGB", (columns * (tile + 8) + 8, len(names) * (tile + 44) + 8), "white")
    draw = ImageDraw.Draw(image)
    for row, name in enumerate(names):
        y = 8 + row * (tile + 44)
        views = [(hr[row].aligned, "HR " + short(hr[row].probabilities["bicubic"]), "")]
        views += [(faces[row].lr, f"x{s} bic {short(faces[row].probabilities['bicubic'])}",
                   f"x{s} FSR {short(faces[row].probabilities['fsrfer'])}") for s, faces in by_scale.items()]
        for col, (face, first, second) in enumerate(views):
            x = 8 + col * (tile + 8)
            image.paste(Image.fromarray(face).resize((tile, tile), Image.NEAREST), (x, y))
            draw.text((x, y + tile + 2), first[:18], fill="black")
            draw.text((x, y + tile + 14), second[:18], fill="black")
        draw.text((8, y + tile + 28), name[:40], fill=(90, 90, 90))
    return image


if __name__ == "__main__":
    main()
