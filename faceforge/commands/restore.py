"""``faceforge restore``: x8 face super-resolution of every face in photos (MPENet / MPEGAN / IGCN), optionally
of occluded faces (``--occlude random`` or ``--occlude x,y,w,h`` in pixels of the aligned 128x128 face).

For each photo ``NAME.ext`` it writes ``NAME_restored.png`` (the photo with every face restored and pasted
back; enlarged with ``--mode as_given``) and, per face, ``NAME_face00.png``: the model input (16x16, shown
x8, occlusion included), the model's outputs (MPENet's three recurrent steps) and the aligned face, side by
side; a second photo called ``NAME`` (from another folder) writes ``NAME-2_restored.png`` and so on. A photo
that cannot be read or has no face is reported and skipped; the exit code is then 1. A model that is not a
restoration network, an occlusion outside the face or an output folder that cannot be written stops the command
with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faceforge.modeling import FaceForgeModel


def occlusion_argument(text: str):
    """``random`` or ``x,y,w,h`` (pixels of the aligned 128x128 face) for ``--occlude``."""
    if text == "random":
        return text
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'random' or x,y,w,h (four numbers), got {text!r}") from None
    return x, y, w, h


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "restore",
        help="restore the faces in photos with MPENet, MPEGAN or IGCN (x8 face super-resolution)",
        description="Find every face, restore it from 16x16 to 128x128 and paste it back into the photo.",
    )
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO", help="photos (or aligned crops with --aligned)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the results")
    p.add_argument("--model", default="mpenet",
                   help="shipped name (mpenet, mpegan, igcn, igcn-srgan), folder or Hub id")
    p.add_argument("--mode", choices=("degrade", "as_given"), default="degrade",
                   help="degrade: bicubic x8 down first (the papers' protocol); as_given: the faces are already "
                        "small, the photo is enlarged")
    p.add_argument("--aligned", action="store_true", help="the inputs are aligned face crops: no detection")
    p.add_argument("--occlude", type=occlusion_argument, default=None, metavar="random|x,y,w,h",
                   help="paint part of every face's 16x16 input black first, as IGCN trains: a random square of a "
                        "quarter of its area, or the rectangle x,y,w,h in pixels of the aligned 128x128 face")
    p.add_argument("--seed", type=int, default=0, help="seed of the random occlusions (face i gets seed + i)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from faceforge.commands._paths import output_folder, photo_message, unique_stem
    from faceforge.errors import FaceForgeError
    from faceforge.pipelines import restore_photo

    model = restoration_model(args.model)
    if args.occlude is not None:
        from faceforge.pipelines import occlusion_masks

        try:
            occlusion_masks(args.occlude, 1, model.config.image_size, model.config.lr_size)
        except ValueError as err:
            print(f"faceforge restore: error: --occlude: {err}", file=sys.stderr)
            return 2
    out = output_folder(args.out)
    failed = 0
    used_stems: set[str] = set()
    for path in args.photos:
        try:
            result = restore_photo(path, model, mode=args.mode, aligned=args.aligned, occlusion=args.occlude,
                                   seed=args.seed)
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


def restoration_model(name: str) -> FaceForgeModel:
    """The restoration network (:class:`~faceforge.models.mpenet.MPENet` or
    :class:`~faceforge.models.igcn.IGCNGenerator`) a shipped name, folder or Hub id holds.

    Raises:
        ModelLoadError: it cannot be loaded, or it holds another kind of model (the message names the models
            that restore).
    """
    import faceforge
    from faceforge.errors import ModelLoadError
    from faceforge.models.igcn import IGCNGenerator
    from faceforge.models.mpenet import MPENet
    from faceforge.registry import family_of

    model = faceforge.from_pretrained(name)
    if isinstance(model, (MPENet, IGCNGenerator)):
        return model
    model_type = model.config.model_type
    try:
        family = f" of the {family_of(model_type).name} family"
    except KeyError:
        family = ""
    restoring = [cls.config_class.model_type_default() for cls in (MPENet, IGCNGenerator)]
    shipped = ", ".join(s.name for kind in restoring for s in family_of(kind).shipped)
    kinds = " or ".join(repr(kind) for kind in restoring)
    raise ModelLoadError(f"{name} is not a face restoration model (model_type {model_type!r}{family}); "
                         f"faceforge restore takes {shipped}, or a folder or Hub repo holding an {kinds} model")
