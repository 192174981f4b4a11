"""``faceforge recognize``: the expression of every face in photos, read at low resolution by the backbone alone
(bicubic) and by FSR-FER (:func:`faceforge.pipelines.recognize_photo`).

Every face is aligned, brought to 100x100 and degraded by ``--scale`` (2-8, default 8: MATLAB-bicubic down and back
up; the face before degradation is read too, as HR), or taken as the photo holds it with ``--as-given`` (for photos
whose faces are small already). One JSON file (``--out``) holds, per photo, every face's box in the photo, the LR
face's side, and the probabilities and labels of each route, largest face first::

    {"model": "fsrfer", "scale": 8, "as_given": false, "classes": [...], "routes": ["hr", "bicubic", "fsrfer"],
     "photos": [{"photo": "group.jpg", "photo_size": [640, 480],
                 "faces": [{"box": [x0, y0, x1, y1], "score": 1.2, "lr_size": 13,
                            "labels": {"hr": "happiness", "bicubic": "neutral", "fsrfer": "happiness"},
                            "probabilities": {"hr": {"neutral": 0.01, ...}, ...}}, ...]},
                {"photo": "wall.png", "error": "wall.png: no face was found in the image; ..."}]}

A photo that cannot be read or has no face is reported, kept in the JSON with its ``error`` and skipped; the exit
code is then 1. A model that is not an FSR-FER recogniser, a scale outside 1-8 or an ``--out`` that cannot be written
stops the command with exit code 2 before any photo is read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faceforge.models.fsrfer import FSRFER

DEFAULT_SCALE = 8  # faceforge.pipelines.DEFAULT_RECOGNITION_SCALE (not imported here: the parser stays cheap)


def scale_argument(text: str) -> int:
    """A whole number from 1 to 8 for ``--scale`` (1: the faces as given)."""
    from faceforge.errors import ScaleError
    from faceforge.pipelines import recognition_scale

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 8, got {text!r}") from None
    try:
        recognition_scale(value)
    except ScaleError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "recognize",
        help="read the expression of every face in photos at low resolution (FSR-FER and bicubic)",
        description="Find every face, degrade it to low resolution (or take it as given) and read its expression "
                    "with CovPoolFER alone (bicubic) and with FSR-FER; write boxes and probabilities as JSON.",
    )
    p.add_argument("photos", nargs="+", type=Path, metavar="PHOTO", help="photos (or aligned crops with --aligned)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.json", help="the JSON file to write")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--scale", type=scale_argument, default=DEFAULT_SCALE, metavar="N",
                     help="MATLAB-bicubic down-sampling factor 2-8 applied to every 100x100 face first (default "
                          f"{DEFAULT_SCALE}; 1 is --as-given)")
    how.add_argument("--as-given", action="store_true",
                     help="the faces are already small: read them as the photo holds them, without degrading them")
    p.add_argument("--model", default="fsrfer", help="shipped name (fsrfer), folder or Hub id of an FSR-FER model")
    p.add_argument("--aligned", action="store_true", help="the inputs are aligned face crops: no detection")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    from faceforge.commands._paths import output_file, photo_message, write_json
    from faceforge.errors import FaceForgeError
    from faceforge.pipelines import RECOGNITION_ROUTES, recognition_scale, recognize_photo

    scale = None if args.as_given else recognition_scale(args.scale)
    model = recognition_model(args.model)
    out = output_file(args.out)
    backbone = model.config.backbone
    report = {"model": args.model, "scale": scale, "as_given": scale is None, "classes": list(backbone.classes),
              "routes": list(RECOGNITION_ROUTES if scale is not None else RECOGNITION_ROUTES[1:]), "photos": []}
    failed = 0
    for path in args.photos:
        try:
            result = recognize_photo(path, model, scale=scale, aligned=args.aligned)
        except FaceForgeError as err:
            message = photo_message(path, err)
            print(f"faceforge recognize: error: {message}", file=sys.stderr)
            report["photos"].append({"photo": str(path), "error": message})
            failed += 1
            continue
        found = result.to_dict()
        report["photos"].append({"photo": str(path), "photo_size": found["photo_size"], "faces": found["faces"]})
        how = f"at x{scale}" if scale is not None else "as given"
        labels = ", ".join(face.label for face in result.faces)
        print(f"{path}: {len(result.faces)} face(s) {how}; FSR-FER reads {labels}")
    write_json(out, report)
    print(f"-> {out}")
    if failed:
        print(f"faceforge recognize: {failed} of {len(args.photos)} photos failed", file=sys.stderr)
    return 1 if failed else 0


def recognition_model(name: str) -> FSRFER:
    """The FSR-FER recogniser (:class:`~faceforge.models.fsrfer.FSRFER`) a shipped name, folder or Hub id holds.

    Raises:
        ModelLoadError: it cannot be loaded, or it holds another kind of model (the message names the models that
            recognise).
    """
    import faceforge
    from faceforge.errors import ModelLoadError
    from faceforge.models.fsrfer import FSRFER, CovPoolFER
    from faceforge.registry import default_model, family_of

    model = faceforge.from_pretrained(name)
    if isinstance(model, FSRFER):
        return model
    model_type = model.config.model_type
    try:
        family = f" of the {family_of(model_type).name} family"
    except KeyError:
        family = ""
    kind = FSRFER.config_class.model_type_default()
    why = " (a CovPoolFER alone has no feature generator)" if isinstance(model, CovPoolFER) else ""
    raise ModelLoadError(f"{name} is not an FSR-FER recogniser (model_type {model_type!r}{family}){why}; faceforge "
                         f"recognize takes {default_model('app.fsrfer')}, or a folder or Hub repo holding an "
                         f"{kind!r} model")
