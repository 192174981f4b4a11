"""Alignment accuracy of the photo pipeline on synthetic faces placed into photos at known transforms.

    python benchmarks/align_accuracy.py [--n 200] [--seed 1]

Each FaceForge-Synth face (the eight expressions in turn) is drawn into a 400x400 textured canvas, rotated
by U(-20, 20) degrees, scaled by U(0.7, 2.0) and moved; dlib finds it (``FaceDetector``) and the fitted
similarity maps the *true* landmarks back onto the template. Printed: faces not found, then for each way of
weighting the 68 points in the fit, the mean and 90th-percentile error (pixels of the 128 crop) and the
worst expression.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from skimage.transform import SimilarityTransform, warp

from faceforge.data.synth import EXPRESSIONS, render_face
from faceforge.face.align import ALIGN_WEIGHTS, apply_affine, estimate_similarity
from faceforge.face.detect import FaceDetector
from faceforge.face.template import CANONICAL_TEMPLATE_128

MARGIN = 32
FITS = {
    "ALIGN_WEIGHTS (eyes+nose 1, rest 0.25)": ALIGN_WEIGHTS,
    "all 68 points equally": np.ones(68),
    "eyes and nose only (27-47)": np.isin(np.arange(68), np.arange(27, 48)).astype(float),
}


def place(rng: np.random.Generator, face: np.ndarray, size: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``face`` into a textured canvas; returns the photo and the 2x3 face->photo matrix."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    canvas = rng.uniform(60, 200, 3) + 40 * np.stack([np.sin(6 * xx + c) * np.cos(4 * yy - c) for c in range(3)], -1)
    angle, scale = math.radians(rng.uniform(-20, 20)), rng.uniform(0.7, 2.0)
    half = face.shape[0] / 2 * scale * 1.42
    centre = rng.uniform(half, size - half, 2) if half < size / 2 else np.full(2, size / 2)
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    matrix = np.concatenate([rot, (centre - rot @ np.full(2, (face.shape[0] - 1) / 2))[:, None]], 1)
    tf = SimilarityTransform(matrix=np.vstack([matrix, [0, 0, 1]]))
    warped = warp(face / 255.0, tf.inverse, output_shape=(size, size), order=3)
    mask = warp(np.ones(face.shape[:2]), tf.inverse, output_shape=(size, size), order=1)[..., None]
    photo = canvas * (1 - mask) + np.clip(warped, 0, 1) * 255 * mask
    return np.clip(np.rint(photo), 0, 255).astype(np.uint8), matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--synth-version", type=int, choices=(1, 2), default=1,
                        help="FaceForge-Synth renderer of the faces (1: the README's figures; 2: the default renderer)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    detector = FaceDetector()
    errors = {name: [] for name in FITS}
    expressions, missed = [], 0
    for i in range(args.n):
        expr = EXPRESSIONS[i % len(EXPRESSIONS)]
        face = render_face(identity=1800 + i % 200, expression=expr, margin=MARGIN, version=args.synth_version)
        photo, matrix = place(rng, face.image)
        found = detector.detect(photo)
        if len(found) != 1:
            missed += 1
            continue
        truth = apply_affine(matrix, face.landmarks)  # the true landmarks in the photo
        expressions.append(expr)
        for name, weights in FITS.items():
            fit = estimate_similarity(found[0].landmarks, CANONICAL_TEMPLATE_128, weights=weights)
            errors[name].append(np.linalg.norm(apply_affine(fit, truth) - CANONICAL_TEMPLATE_128, axis=1).mean())
    print(f"{args.n} synthetic faces in 400x400 photos; not found as exactly one face: {missed}")
    print(f"{'fit':42s} {'mean px':>8s} {'p90 px':>8s}  worst expression")
    for name, values in errors.items():
        v = np.array(values)
        by_expr = {e: v[[x == e for x in expressions]].mean() for e in set(expressions)}
        worst = max(by_expr, key=by_expr.get)
        print(f"{name:42s} {v.mean():8.2f} {np.percentile(v, 90):8.2f}  {worst} {by_expr[worst]:.2f}")


if __name__ == "__main__":
    main()
