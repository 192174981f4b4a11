"""``faceforge align``: detect, landmark and align the faces in photos onto the canonical template.

For each photo ``NAME.ext`` it writes ``NAME_00.png`` (``_01``, ... with ``--all-faces``), the aligned
crops, and ``NAME.json``: the photo's size and, per face, the crop file, detector box and score, the 68
landmarks in photo and crop pixels, and the photo -> crop and crop -> photo (2, 3) matrices (pixel centres
at integers). A photo that cannot be read or has no face is reported and skipped; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "align",
        help="align the faces in photos onto the canonical template",
        description="Detect the faces in each photo, find their 68 landmarks and write the aligned crops "
        "(PNG) and a JSON file per photo with boxes, landmarks and transforms.",
    )
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO", help="photos to align")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the crops and JSON")
    p.add_argument("--size", type=int, default=128, help="side of the aligned crops (default 128)")
    p.add_argument("--margin", type=int, default=0, help="extra pixels around the crop on each side")
    p.add_argument("--detector", choices=("hog", "cnn"), default="hog", help="dlib detector (default hog)")
    p.add_argument("--all-faces", action="store_true", help="write every face, not only the largest")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from faceforge.commands._paths import unique_stem
    from faceforge.errors import FaceForgeError
    from faceforge.face.detect import FaceDetector
    from faceforge.face.io import load_image
    from faceforge.face.pipeline import find_faces

    if args.size < 1 or args.margin < 0:
        print("faceforge align: error: --size must be >= 1 and --margin >= 0", file=sys.stderr)
        return 2
    detector = FaceDetector(args.detector)
    try:
        detector.load()
    except FileNotFoundError as err:
        print(f"faceforge align: error: {err}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    used_stems: set[str] = set()
    for path in args.photos:
        try:
            photo = load_image(path)  # decoded once, uint8; find_faces uses this array as it is
            height, width = photo.shape[:2]
            faces = find_faces(
                photo,
                size=args.size,
                margin=args.margin,
                detector=detector,
                max_faces=None if args.all_faces else 1,
                require=True,
            )
        except FaceForgeError as err:
            photo = None  # a large photo is not kept while the next one is read
            message = str(err)
            if not message.startswith(str(path)):
                message = f"{path}: {message}"
            print(f"faceforge align: error: {message}", file=sys.stderr)
            failed += 1
            continue
        photo = None  # only the crops are needed from here: free a large photo before reading the next
        stem = unique_stem(path.stem, used_stems)
        records = []
        for k, face in enumerate(faces):
            crop_name = f"{stem}_{k:02d}.png"
            Image.fromarray(face.crop).save(args.out / crop_name)
            records.append(
                {
                    "crop": crop_name,
                    "box": [round(v, 3) for v in face.box],
                    "score": round(face.score, 4),
                    "landmarks": _rounded(face.landmarks),
                    "crop_landmarks": _rounded(face.crop_landmarks),
                    "matrix": _rounded(face.matrix, 8),
                    "inverse": _rounded(face.inverse, 8),
                }
            )
        info = {
            "photo": str(path),
            "width": int(width),
            "height": int(height),
            "size": args.size + 2 * args.margin,
            "detector": args.detector,
            "faces": records,
        }
        (args.out / f"{stem}.json").write_text(json.dumps(info, indent=1) + "\n")
        print(f"{path}: {len(faces)} face{'s' if len(faces) != 1 else ''} -> {args.out / stem}_*.png")
    if failed:
        print(f"faceforge align: {failed} of {len(args.photos)} photos failed", file=sys.stderr)
    return 1 if failed else 0


def _rounded(array: np.ndarray, digits: int = 3) -> list:
    return np.round(np.asarray(array, dtype=np.float64), digits).tolist()
