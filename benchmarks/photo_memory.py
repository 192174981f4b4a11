"""Peak memory and time of reading and aligning very large photos, each measured in a fresh process.

    python benchmarks/photo_memory.py [--dir DIR]

Generated photos (written to ``--dir``, a temporary folder by default):

* a 48-MP (8000 x 6000) JPEG: a FaceForge-Synth face rendered at size 1024 (1536 px with its margin) pasted
  into a noisy background, so the exact landmarks are known;
* a 49-MP (8100 x 6050) RGBA PNG: scikit-image's astronaut upscaled to 3000 px, opaque, on a background
  whose transparency ramps from 0 to 255 (alpha compositing on every pixel);
* a 512 x 512 PNG of the astronaut for the command-line baseline.

Measured, each in its own process (peak RSS = ``ru_maxrss`` of that process, so imports count; the photos
are made in another one, since a child's ``ru_maxrss`` starts from its parent's RSS):

* the import baseline: ``faceforge.face.pipeline`` (which imports torch) and the dlib models loaded;
* ``load_image`` of an in-memory (6000, 8000, 3) uint8 array: time and memory above the array itself;
* ``load_image`` + ``find_faces`` of the 48-MP JPEG, with the alignment error of the face found (mean distance
  in pixels of the 128 crop between where the fitted and the exact alignment put the template);
* ``faceforge align`` of the 512 px PNG (the command's baseline) and of the 49-MP RGBA PNG.

The goals of the large-photo hardening are printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOAL_GB = 1.5
JPEG_SIZE = (8000, 6000)  # width, height: 48.0 MP
PNG_SIZE = (8100, 6050)  # 49.0 MP
FACE_SIZE, FACE_MARGIN, FACE_AT = 1024, 256, (3000, 1500)  # synthetic face in the JPEG: template size, margin, x/y


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------------------------------- photos


def make_photos(folder: Path) -> dict[str, Path]:
    """Write the test photos into ``folder`` (kept if already there) and return their paths."""
    from PIL import Image
    from skimage import data as skdata

    from faceforge.data.synth import render_face

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"jpeg": folder / "synth_48mp.jpg", "png": folder / "astronaut_49mp_rgba.png",
             "small": folder / "astronaut_512.png"}
    rng = np.random.default_rng(0)
    if not paths["jpeg"].exists():
        w, h = JPEG_SIZE
        photo = np.empty((h, w, 3), np.uint8)
        xx = np.linspace(0, 1, w, dtype=np.float32)
        for y0 in range(0, h, 500):  # in strips, to keep this process small too
            yy = np.linspace(y0 / h, min(y0 + 500, h) / h, min(500, h - y0), endpoint=False, dtype=np.float32)
            waves = [np.sin(7 * xx[None] + c) * np.cos(5 * yy[:, None] - c) for c in (0.0, 1.0, 2.0)]
            strip = 128 + 60 * np.stack(waves, -1) + rng.normal(0, 8, (len(yy), w, 3)).astype(np.float32)
            photo[y0 : y0 + len(yy)] = np.clip(np.rint(strip), 0, 255)
        face = render_face(identity=1803, expression="happiness", size=FACE_SIZE, margin=FACE_MARGIN).image
        x, y = FACE_AT
        photo[y : y + face.shape[0], x : x + face.shape[1]] = face
        Image.fromarray(photo).save(paths["jpeg"], quality=90)
        del photo
    if not paths["png"].exists():
        w, h = PNG_SIZE
        rgba = np.empty((h, w, 4), np.uint8)
        rgba[..., 0] = np.linspace(40, 220, w, dtype=np.float32).astype(np.uint8)[None]
        rgba[..., 1] = np.linspace(200, 60, h, dtype=np.float32).astype(np.uint8)[:, None]
        rgba[..., 2] = 120
        rgba[..., 3] = np.linspace(0, 255, w, dtype=np.float32).astype(np.uint8)[None]  # transparent -> opaque
        astronaut = np.asarray(Image.fromarray(skdata.astronaut()).resize((3000, 3000), Image.Resampling.BICUBIC))
        rgba[1500:4500, 2500:5500, :3] = astronaut
        rgba[1500:4500, 2500:5500, 3] = 255
        Image.fromarray(rgba, "RGBA").save(paths["png"], compress_level=6)
        del rgba
    if not paths["small"].exists():
        Image.fromarray(skdata.astronaut()).save(paths["small"])
    return paths


# ------------------------------------------------------------------------------------ measured children


def _child(kind: str, path: str | None) -> dict:
    if kind == "make":
        t0 = time.perf_counter()
        paths = make_photos(Path(path))
        return {"seconds": time.perf_counter() - t0, **{k: str(p) for k, p in paths.items()}}
    start = time.perf_counter()
    from faceforge.face.detect import FaceDetector
    from faceforge.face.io import load_image
    from faceforge.face.pipeline import find_faces

    detector = FaceDetector()
    detector.load()
    result: dict = {"import_s": time.perf_counter() - start, "import_peak_mb": _peak_mb()}
    if kind == "array":
        array = np.full((6000, 8000, 3), 100, np.uint8)
        before = _rss_mb()
        t0 = time.perf_counter()
        out = load_image(array)
        result.update(seconds=time.perf_counter() - t0, extra_mb=_peak_mb() - before, dtype=str(out.dtype))
    elif kind == "jpeg":
        from faceforge.face.align import apply_affine
        from faceforge.face.template import canonical_landmarks

        t0 = time.perf_counter()
        photo = load_image(path)
        faces = find_faces(photo, detector=detector)
        result.update(seconds=time.perf_counter() - t0, faces=len(faces))
        if faces:
            truth = canonical_landmarks(FACE_SIZE, margin=FACE_MARGIN) + np.array(FACE_AT, np.float64)
            err = np.linalg.norm(apply_affine(faces[0].matrix, truth) - canonical_landmarks(128), axis=1).mean()
            result.update(frame_error_px=float(err), box=[round(v) for v in faces[0].box])
    result["peak_mb"] = _peak_mb()
    return result


def _measure_child(kind: str, path: Path | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", kind] + ([str(path)] if path else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"child {kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measure_cli(photo: Path, out_dir: Path) -> dict:
    """``faceforge align`` in its own process: wall time, peak RSS (wait4) and the faces it wrote."""
    exe = shutil.which("faceforge")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from faceforge.cli import main; sys.exit(main())"]
    shutil.rmtree(out_dir, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd + ["align", str(photo), "--out", str(out_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"faceforge align {photo} failed ({proc.returncode}):\n{stderr[-3000:]}")
    info = json.loads((out_dir / f"{photo.stem}.json").read_text())
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, "faces": len(info["faces"]),
            "box": [round(v) for v in info["faces"][0]["box"]] if info["faces"] else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="folder for the generated photos (kept)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], args.child[1] if len(args.child) > 1 else None)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        # Made in a child too: on Linux a child's peak RSS starts from its parent's at fork (exec keeps the
        # high-water mark), so this process stays small.
        made = _measure_child("make", folder)
        paths = {k: Path(made[k]) for k in ("jpeg", "png", "small")}
        sizes = {k: p.stat().st_size / 1e3 for k, p in paths.items()}
        print(f"photos in {folder} ({made['seconds']:.1f} s): 48-MP JPEG {sizes['jpeg']:.0f} kB, "
              f"49-MP RGBA PNG {sizes['png']:.0f} kB")
        base = _measure_child("import")
        arr = _measure_child("array")
        jpeg = _measure_child("jpeg", paths["jpeg"])
        cli_small = _measure_cli(paths["small"], folder / "out_small")
        cli_png = _measure_cli(paths["png"], folder / "out_png")

    gb = 1024.0
    rows = [
        ("import baseline (pipeline + torch + dlib models)", f"{base['peak_mb'] / gb:.2f} GB",
         f"{base['import_s']:.1f} s", "(reported)"),
        ("load_image((6000, 8000, 3) uint8 array), above input", f"+{arr['extra_mb'] / gb:.2f} GB",
         f"{arr['seconds']:.2f} s", f"uint8, no float64 copy ({arr['dtype']})"),
        ("load_image + find_faces, 48-MP JPEG", f"{jpeg['peak_mb'] / gb:.2f} GB", f"{jpeg['seconds']:.1f} s",
         f"<= {GOAL_GB} GB whole process"),
        ("  of which above the import baseline", f"+{(jpeg['peak_mb'] - jpeg['import_peak_mb']) / gb:.2f} GB",
         "", ""),
        ("faceforge align, 512 px PNG (command baseline)", f"{cli_small['peak_mb'] / gb:.2f} GB",
         f"{cli_small['seconds']:.1f} s", "(reported)"),
        ("faceforge align, 49-MP RGBA PNG", f"{cli_png['peak_mb'] / gb:.2f} GB", f"{cli_png['seconds']:.1f} s",
         f"<= {GOAL_GB} GB whole process"),
    ]
    print(f"{'measurement (each in a fresh process)':56s} {'peak RSS':>9s} {'time':>7s}  goal")
    for name, mem, sec, goal in rows:
        print(f"{name:56s} {mem:>9s} {sec:>7s}  {goal}")
    print(f"48-MP JPEG: {jpeg['faces']} face(s), box {jpeg.get('box')}, alignment error "
          f"{jpeg.get('frame_error_px', float('nan')):.2f} px of the 128 crop (exact landmarks known)")
    print(f"49-MP RGBA PNG: {cli_png['faces']} face(s), box {cli_png['box']}")


if __name__ == "__main__":
    main()
