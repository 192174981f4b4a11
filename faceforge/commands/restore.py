"""``faceforge restore``: x8 face super-resolution of every face in photos (MPENet / MPEGAN).

For each photo ``NAME.ext`` it writes ``NAME_restored.png`` (the photo with every face restored and pasted
back; enlarged with ``--mode as_given``) and, per face, ``NAME_face00.png``: the model input (16x16, shown
x8), the three recurrent steps and the aligned face, side by side; a second photo called ``NAME`` (from another
folder) writes ``NAME-2_restored.png`` and so on. A photo that cannot be read or has no face is reported and
skipped; the exit code is then 1. A model that is not a restoration network or an output folder that cannot be
written stops the command with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faceforge.models.mpenet import MPENet


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

    from faceforge.commands._paths import output_folder, photo_message, unique_stem
    from faceforge.errors import FaceForgeError
    from faceforge.pipelines import restore_photo

    model = restoration_model(args.model)
    out = output_folder(args.out)
    failed = 0
    used_stems: set[str] = set()
    for path in args.photos:
        try:
            result = restore_photo(path, model, mode=args.mode, aligned=args.aligned)
        except FaceForgeError as err:
            print(f"faceforge restore: error: {photo_message(path, err)}", file=sys.stderr)
            failed += 1
            continue
        stem = unique_stem(path.stem, used_stems)
        Image.fromarray(result.photo).save(out / f"{stem}_restored.png")
        for i, face in enumerate(result.faces):
            side = face.restored.shape[0]
            lr = np.asarray(Image.fromarray(face.lr).resize((side, side), Image.Resampling.NEAREST))
            Image.fromarray(np.concatenate([lr, *face.steps, face.original], axis=1)).save(
                out / f"{stem}_face{i:02d}.png")
        print(f"{path}: {len(result.faces)} face(s) restored -> {out / f'{stem}_restored.png'}")
    if failed:
        print(f"faceforge restore: {failed} of {len(args.photos)} photos failed", file=sys.stderr)
    return 1 if failed else 0


def restoration_model(name: str) -> MPENet:
    """The restoration network (:class:`~faceforge.models.mpenet.MPENet`) a shipped name, folder or Hub id holds.

    Raises:
        ModelLoadError: it cannot be loaded, or it holds another kind of model (the message names the models
            that restore).
    """
    import faceforge
    from faceforge.errors import ModelLoadError
    from faceforge.models.mpenet import MPENet
    from faceforge.registry import family_of

    model = faceforge.from_pretrained(name)
    if isinstance(model, MPENet):
        return model
    model_type = model.config.model_type
    try:
        family = f" of the {family_of(model_type).name} family"
    except KeyError:
        family = ""
    restoring = MPENet.config_class.model_type_default()
    shipped = " or ".join(s.name for s in family_of(restoring).shipped)
    raise ModelLoadError(f"{name} is not a face restoration model (model_type {model_type!r}{family}); "
                         f"faceforge restore takes {shipped}, or a folder or Hub repo holding an {restoring!r} model")
