"""``faceforge restore``: x8 face super-resolution of every face in photos (MPENet / MPEGAN).

For each photo ``NAME.ext`` it writes ``NAME_restored.png`` (the photo with every face restored and pasted
back; enlarged with ``--mode as_given``) and, per face, ``NAME_face00.png``: the model input (16x16, shown
x8), the three recurrent steps and the aligned face, side by side. A photo that cannot be read or has no
face is reported and skipped; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "restore",
        help="restore the faces in photos with MPENet or MPEGAN (x8 face super-resolution)",
        description="Find every face, restore it from 16x16 to 128x128 and paste it back into the photo.",
    )
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO", help="photos (or aligned crops with --aligned)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the results")
    p.add_argument("--model", default="mpenet", help="shipped name (mpenet, mpegan), folder or Hub id")
    p.add_argument("--mode", choices=("degrade", "as_given"), default="degrade",
                   help="degrade: bicubic x8 down first (the papers' protocol); as_given: the faces are already "
                        "small, the photo is enlarged")
    p.add_argument("--aligned", action="store_true", help="the inputs are aligned face crops: no detection")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    import faceforge
    from faceforge.errors import FaceForgeError
    from faceforge.pipelines import restore_photo

    model = faceforge.from_pretrained(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in args.photos:
        try:
            result = restore_photo(path, model, mode=args.mode, aligned=args.aligned)
        except FaceForgeError as err:
            print(f"faceforge restore: {path}: {err}", file=sys.stderr)
            failed += 1
            continue
        Image.fromarray(result.photo).save(args.out / f"{path.stem}_restored.png")
        for i, face in enumerate(result.faces):
            side = face.restored.shape[0]
            lr = np.asarray(Image.fromarray(face.lr).resize((side, side), Image.Resampling.NEAREST))
            Image.fromarray(np.concatenate([lr, *face.steps, face.original], axis=1)).save(
                args.out / f"{path.stem}_face{i:02d}.png")
        print(f"{path}: {len(result.faces)} face(s) restored -> {args.out / f'{path.stem}_restored.png'}")
    return 1 if failed else 0
