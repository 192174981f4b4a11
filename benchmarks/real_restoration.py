"""x8 restoration of real face photographs by faceforge's restoration models, against bicubic.

    python benchmarks/real_restoration.py [--models mpenet mpegan runs/mpenet-v2-paper/model ...]
                                          [--occlude] [--photos DIR] [--real-cache DIR]
                                          [--out benchmarks/results/real_restoration.json]
    python benchmarks/real_restoration.py --models igcn igcn-srgan mpenet --occlude \
                                          --out benchmarks/results/real_restoration_occluded.json

Faces: every face that ``benchmarks/real_faces.py`` finds and aligns onto faceforge's 128x128 template in the
photos shipped inside PyPI packages (scikit-image's astronaut, the test photos of ``face_recognition`` 1.3.0 and
the sample photos of ``insightface`` 2.1; eye distance >= 40 px), or in ``--photos DIR``. None of them was seen
in training: every shipped model learns from FaceForge-Synth alone. Each face is brought down to 16x16 by MATLAB
bicubic (8-bit), restored, and scored by PSNR and SSIM on the Y channel against the aligned photo. With
``--occlude`` a black square of a quarter of each 16x16 input (IGCN's ill faces; face ``i``'s square from seed ``i``,
the same for every model and for bicubic) is painted first, and the occluded square's PSNR is scored on its own.

Prints, per model, the mean PSNR gain over bicubic with its 95% bootstrap interval over faces, how many faces the
model wins, the SSIM gain, and the renderer the model was trained on; writes every per-face score to ``--out``.
The faces are few and partly from the same photos: read the intervals, not the second decimal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

import faceforge
from faceforge.data.degrade import apply_occlusion, imresize, to_low_resolution
from faceforge.metrics import bootstrap_interval, psnr_y, ssim_y
from faceforge.pipelines import occlusion_masks

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling scripts: real_faces, mpenet_tables

import mpenet_tables  # noqa: E402
import real_faces  # noqa: E402

PSNR_CAP = 60.0


@torch.no_grad()
def restore(model, hr: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The model's (or, for None, bicubic's) x8 restoration of the HR faces' 8-bit 16x16 downsamplings, with the
    input pixels under ``mask`` (B, 1, 16, 16) painted black first."""
    lr = to_low_resolution(hr, 16, quantize=True)
    if mask is not None:
        lr = apply_occlusion(lr, mask)
    if model is None:
        return imresize(lr, size=hr.shape[-1], clamp=True)
    return torch.cat([model(lr[i:i + 4])["sr"].float().clamp(0, 1) for i in range(0, len(lr), 4)])


def scores(sr: torch.Tensor, hr: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    found = {"psnr": np.minimum(np.asarray(psnr_y(sr, hr)), PSNR_CAP), "ssim": np.asarray(ssim_y(sr, hr))}
    if mask is not None:  # the occluded square alone: the input mask's box, scaled to the output
        scale, region = hr.shape[-1] // mask.shape[-1], []
        for i in range(len(hr)):
            rows, cols = torch.nonzero(mask[i, 0] > 0.5, as_tuple=True)
            box = (slice(None), slice(None), slice(int(rows.min()) * scale, (int(rows.max()) + 1) * scale),
                   slice(int(cols.min()) * scale, (int(cols.max()) + 1) * scale))
            region.append(float(psnr_y(sr[i:i + 1][box], hr[i:i + 1][box])[0]))
        found["psnr_occluded"] = np.minimum(np.asarray(region), PSNR_CAP)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["mpenet", "mpegan"])
    parser.add_argument("--occlude", action="store_true",
                        help="black out a random quarter of every 16x16 input first (IGCN's ill faces)")
    parser.add_argument("--photos", type=Path, default=None, help="a folder of your own photos, besides the sources")
    parser.add_argument("--real-cache", type=Path, default=None, help="where the source photos are kept")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/real_restoration.json"))
    args = parser.parse_args()

    real = real_faces.aligned_real_faces(args.real_cache, args.photos)
    if not real:
        raise SystemExit("no real face found: check the photos or pass --photos DIR")
    names = [name for name, _ in real]
    hr = torch.from_numpy(np.stack([crop for _, crop in real])).permute(0, 3, 1, 2).float() / 255
    mask = occlusion_masks("random", len(hr), hr.shape[-1], 16, seed=0) if args.occlude else None
    base = scores(restore(None, hr, mask), hr, mask)
    results = {"faces": names, "occluded": bool(args.occlude), "bicubic": {k: v.tolist() for k, v in base.items()},
               "models": {}}
    occluded = " with a black square over a quarter of each input" if mask is not None else ""
    print(f"\n{len(names)} real faces, x8 (16x16 -> 128x128){occluded}, PSNR / SSIM on Y; bicubic "
          f"{base['psnr'].mean():.2f} dB" + (f" (occluded square {base['psnr_occluded'].mean():.2f} dB)"
                                           if mask is not None else ""))
    region = " | occluded square: PSNR gain (dB) [95% CI]" if mask is not None else ""
    print(f"| model | trained on | PSNR gain over bicubic (dB) [95% CI] | faces won | SSIM gain{region} |")
    print("|---|---|---|---|---|" + ("---|" if mask is not None else ""))
    for source in args.models:
        model = faceforge.from_pretrained(source).eval()
        got = scores(restore(model, hr, mask), hr, mask)
        gain = got["psnr"] - base["psnr"]
        interval = bootstrap_interval(lambda i, g=gain: float(g[i].mean()), len(gain))
        renderer = mpenet_tables.trained_renderer(source)
        won = int((gain > 0).sum())
        found = {"renderer": renderer, "gain": interval.as_dict(), "won": won}
        extra = ""
        if mask is not None:
            region_gain = got["psnr_occluded"] - base["psnr_occluded"]
            region_interval = bootstrap_interval(lambda i, g=region_gain: float(g[i].mean()), len(region_gain))
            found["gain_occluded"] = region_interval.as_dict()
            extra = f" {region_interval.format(2)} |"
        print(f"| {source} | FaceForge-Synth renderer {renderer} | {interval.format(2)} | {won}/{len(gain)} | "
              f"{float((got['ssim'] - base['ssim']).mean()):+.4f} |{extra}")
        results["models"][source] = {**found, **{k: v.tolist() for k, v in got.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
