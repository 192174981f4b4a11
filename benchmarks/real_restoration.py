"""x8 restoration of real face photographs by faceforge's restoration models, against bicubic.

    python benchmarks/real_restoration.py [--models mpenet mpegan runs/mpenet-v2-paper/model ...]
                                          [--photos DIR] [--real-cache DIR]
                                          [--out benchmarks/results/real_restoration.json]

Faces: every face that ``benchmarks/real_faces.py`` finds and aligns onto faceforge's 128x128 template in the
photos shipped inside PyPI packages (scikit-image's astronaut, the test photos of ``face_recognition`` 1.3.0 and
the sample photos of ``insightface`` 2.1; eye distance >= 40 px), or in ``--photos DIR``. None of them was seen
in training: every shipped model learns from FaceForge-Synth alone. Each face is brought down to 16x16 by MATLAB
bicubic (8-bit), restored, and scored by PSNR and SSIM on the Y channel against the aligned photo.

Prints, per model, the mean PSNR gain over bicubic with its 95% bootstrap interval over faces, how many faces the
model wins, the SSIM gain, and the renderer the model was trained on; writes every per-face score to ``--out``.
The faces are few and partly from the same photos: read the intervals, not the second decimal.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch

import faceforge
from faceforge.data.degrade import imresize, to_low_resolution
from faceforge.metrics import bootstrap_interval, psnr_y, ssim_y

HERE = Path(__file__).resolve().parent
PSNR_CAP = 60.0


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@torch.no_grad()
def restore(model, hr: torch.Tensor) -> torch.Tensor:
    """The model's (or, for None, bicubic's) x8 restoration of the HR faces' 8-bit 16x16 downsamplings."""
    lr = to_low_resolution(hr, 16, quantize=True)
    if model is None:
        return imresize(lr, size=hr.shape[-1], clamp=True)
    return torch.cat([model(lr[i:i + 4])["sr"].float().clamp(0, 1) for i in range(0, len(lr), 4)])


def scores(sr: torch.Tensor, hr: torch.Tensor) -> dict[str, np.ndarray]:
    return {"psnr": np.minimum(np.asarray(psnr_y(sr, hr)), PSNR_CAP), "ssim": np.asarray(ssim_y(sr, hr))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["mpenet", "mpegan"])
    parser.add_argument("--photos", type=Path, default=None, help="a folder of your own photos, besides the sources")
    parser.add_argument("--real-cache", type=Path, default=None, help="where the source photos are kept")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/real_restoration.json"))
    args = parser.parse_args()

    real = _sibling("real_faces").aligned_real_faces(args.real_cache, args.photos)
    tables = _sibling("mpenet_tables")
    if not real:
        raise SystemExit("no real face found: check the photos or pass --photos DIR")
    names = [name for name, _ in real]
    hr = torch.from_numpy(np.stack([crop for _, crop in real])).permute(0, 3, 1, 2).float() / 255
    base = scores(restore(None, hr), hr)
    results = {"faces": names, "bicubic": {k: v.tolist() for k, v in base.items()}, "models": {}}
    print(f"\n{len(names)} real faces, x8 (16x16 -> 128x128), PSNR / SSIM on Y; bicubic {base['psnr'].mean():.2f} dB")
    print("| model | trained on | PSNR gain over bicubic (dB) [95% CI] | faces won | SSIM gain |")
    print("|---|---|---|---|---|")
    for source in args.models:
        model = faceforge.from_pretrained(source).eval()
        got = scores(restore(model, hr), hr)
        gain = got["psnr"] - base["psnr"]
        interval = bootstrap_interval(lambda i, g=gain: float(g[i].mean()), len(gain))
        renderer = tables.trained_renderer(source)
        won = int((gain > 0).sum())
        print(f"| {source} | FaceForge-Synth renderer {renderer} | {interval.format(2)} | {won}/{len(gain)} | "
              f"{float((got['ssim'] - base['ssim']).mean()):+.4f} |")
        results["models"][source] = {"renderer": renderer, "gain": interval.as_dict(), "won": won,
                                     **{k: v.tolist() for k, v in got.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
