"""Synthetic-to-real transfer of x8 face super-resolution: renderer 1 versus renderer 2 of FaceForge-Synth.

    python benchmarks/synth_transfer.py [--steps 3000] [--batch 16] [--versions 1 2] [--seed 0]
                                        [--train-length 6000] [--test-length 200] [--photos DIR]
                                        [--out benchmarks/results/synth_transfer.json]

What is measured: a small x8 super-resolution network (:class:`SmallSR`, 16x16 -> 128x128, about 0.4 M
parameters, defined here) is trained once per renderer with the identical schedule and seed: the same
initial weights, the same samples in the same order with the same random crops and flips. Because both
renderers draw the same samples (identity, expression, AUs, pose and camera are shared, only the pixels
differ), the two runs differ in the rendering alone. Each model is then scored on

* the synthetic test faces of each renderer: the first ``--test-length`` samples of
  ``SynthFaces("test", version=v)`` (identities 1800-1999, never seen in training), and
* real photographs: every face ``benchmarks/real_faces.py`` finds and aligns (scikit-image's astronaut and
  the sample photos inside the ``face_recognition`` and ``insightface`` source distributions on PyPI, or
  ``--photos DIR``), aligned onto the same template by faceforge's photo pipeline.

Data: the training faces are ``SynthFaces("train", size=128, margin=8, length=--train-length, version=v)``,
rendered once into faceforge's memory-mapped render cache (``faceforge.data.cache.cached_synth``;
``$FACEFORGE_CACHE`` or ``~/.cache/faceforge``) and fed through MPENet's own data pipeline
(``faceforge.training.tasks.mpenet.SuperResolutionFaces``: a random 128x128 crop of the 144x144 face and a
random horizontal flip; the 16x16 input is the MATLAB-bicubic x8 downsampling rounded to 8 bits,
``faceforge.data.degrade.to_low_resolution``). Test faces are the centre crops; the real faces go through the
same ``to_low_resolution``. Loss: L1; Adam with a linear warm-up and cosine decay
(``faceforge.training.tasks.faces.warmup_cosine``).

Scores: PSNR and SSIM on the Y channel (``faceforge.metrics.psnr_y`` / ``ssim_y``, 8-bit outputs) of the
bicubic upsampling (``imresize``, the baseline ``faceforge eval`` prints) and of each model; per set, each
model's mean gain over bicubic with a bootstrap 95% interval over faces, and the paired difference between
the renderer-2 and the renderer-1 model (per face, with its interval and how many faces each model wins).
An identical image pair (PSNR = inf) counts as ``PSNR_CAP`` dB. Prints the table, the CPU and the timings, and
writes every per-face score to ``--out`` (no weights are saved).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from faceforge.data.degrade import imresize, to_low_resolution

SIZE, SCALE, MARGIN = 128, 8, 8  # HR side, x8 -> 16x16 inputs, training faces 144x144 for random crops (as MPENet)
PSNR_CAP = 100.0
N_BOOTSTRAP = 2000


class SmallSR(nn.Module):
    """A small x8 face super-resolution network: conv features at the input size, residual blocks, three
    pixel-shuffle x2 stages, and the bicubic upsampling of the input added to the output.

    The last convolution starts at zero, so the untrained network returns the bicubic upsampling.

    Args:
        channels: feature channels at the input size (default 64); the x2 stages halve them (min. 16).
        blocks: residual blocks at the input size (default 4).
        scale: upscaling factor, a power of two (default 8).

    Input (B, 3, h, w) in [0, 1]; output (B, 3, scale h, scale w), not clamped.
    """

    def __init__(self, *, channels: int = 64, blocks: int = 4, scale: int = SCALE):
        super().__init__()
        stages = int(np.log2(scale))
        if scale < 2 or 2**stages != scale:
            raise ValueError(f"scale must be a power of two >= 2, got {scale}")
        if channels < 1 or blocks < 0:
            raise ValueError(f"channels must be >= 1 and blocks >= 0, got {channels}, {blocks}")
        self.scale = scale
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.body = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
                          nn.Conv2d(channels, channels, 3, padding=1))
            for _ in range(blocks)
        )
        ups, width = [], channels
        for _ in range(stages):
            out = max(16, width // 2)
            ups += [nn.Conv2d(width, 4 * out, 3, padding=1), nn.PixelShuffle(2), nn.ReLU(inplace=True)]
            width = out
        self.up = nn.Sequential(*ups)
        self.tail = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        x = self.head(lr)
        feat = x
        for block in self.body:
            feat = feat + block(feat)
        residual = self.tail(self.up(feat + x))
        h, w = lr.shape[-2:]
        return imresize(lr, size=(h * self.scale, w * self.scale)) + residual


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train(
    model: nn.Module,
    data: Dataset,
    *,
    steps: int,
    batch: int,
    seed: int,
    lr: float = 2e-3,
    warmup: float = 0.02,
    log_every: int = 0,
) -> list[float]:
    """Train ``model`` on ``data`` (samples with ``lr`` and ``image``) with L1 loss; returns every step's loss.

    The sample order comes from a generator seeded with ``seed``, and the per-sample crops and flips from the
    global torch RNG, which is seeded with ``seed`` too: the same ``seed`` gives the same batches.
    """
    from faceforge.training.tasks.faces import warmup_cosine

    torch.manual_seed(seed)
    sampler = RandomSampler(data, num_samples=steps * batch, generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(data, batch_size=batch, sampler=sampler, drop_last=True, num_workers=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = warmup_cosine(optimizer, steps, warmup)
    model.train()
    losses: list[float] = []
    start = time.perf_counter()
    while len(losses) < steps:
        for sample in loader:
            loss = F.l1_loss(model(sample["lr"]), sample["image"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            if log_every and len(losses) % log_every == 0:
                recent = np.mean(losses[-log_every:])
                print(f"    step {len(losses):5d}/{steps}  L1 {recent:.4f}  {time.perf_counter() - start:6.0f} s",
                      flush=True)
            if len(losses) == steps:
                break
    model.eval()
    return losses


@torch.no_grad()
def score(model: nn.Module | None, hr: torch.Tensor, *, batch: int = 50) -> dict[str, np.ndarray]:
    """Per-face Y-channel PSNR (capped at ``PSNR_CAP``) and SSIM of ``model`` (None: bicubic) on HR faces.

    Args:
        model: the network, or None for the bicubic upsampling of the input.
        hr: (N, 3, 128, 128) HR faces in [0, 1]; the inputs are their 8-bit x8 bicubic downsamplings.
    """
    from faceforge.metrics import psnr_y, ssim_y

    psnr, ssim = [], []
    for i in range(0, len(hr), batch):
        target = hr[i:i + batch]
        lr = to_low_resolution(target, SIZE // SCALE, quantize=True)
        sr = imresize(lr, size=SIZE, clamp=True) if model is None else model(lr).clamp(0, 1)
        psnr.append(np.minimum(psnr_y(sr, target), PSNR_CAP))
        ssim.append(ssim_y(sr, target))
    return {"psnr": np.concatenate(psnr), "ssim": np.concatenate(ssim)}


def bootstrap_mean(values: np.ndarray, *, n: int = N_BOOTSTRAP, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``values`` and the 95% percentile-bootstrap interval of the mean (resampling the values)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"expected a non-empty 1-D array, got shape {values.shape}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n, len(values)))].mean(1)
    return float(values.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired(a: np.ndarray, b: np.ndarray, *, seed: int = 0) -> dict[str, float | int]:
    """``a - b`` per face: mean with its bootstrap interval, and how many faces ``a`` and ``b`` each win."""
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    mean, lo, hi = bootstrap_mean(diff, seed=seed)
    return {"mean": mean, "lo": lo, "hi": hi, "a_wins": int((diff > 0).sum()), "b_wins": int((diff < 0).sum()),
            "ties": int((diff == 0).sum()), "n": int(len(diff))}


def cpu_model() -> str:
    from faceforge.training.report import cpu_name

    return f"{cpu_name()} ({len(os.sched_getaffinity(0))} cores, torch {torch.get_num_threads()} threads)"


def synth_faces(split: str, version: int, length: int, *, train: bool) -> Dataset:
    """MPENet's super-resolution view of a cached FaceForge-Synth split (rendered once)."""
    from faceforge.data.cache import cached_synth
    from faceforge.training.tasks.mpenet import SuperResolutionFaces

    start = time.perf_counter()
    faces = cached_synth(split, size=SIZE, margin=MARGIN, length=length, version=version)
    took = time.perf_counter() - start
    print(f"  {split} split, renderer {version}: {length} faces, {faces.folder.name}"
          + (f" (rendered in {took:.0f} s)" if took > 5 else ""), flush=True)
    return SuperResolutionFaces(faces, size=SIZE, scale=SCALE, train=train)


def hr_stack(data: Dataset) -> torch.Tensor:
    return torch.stack([data[i]["image"] for i in range(len(data))])


def interval(mean: float, lo: float, hi: float, digits: int = 2) -> str:
    return f"{mean:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def report(results: dict, versions: list[int]) -> None:
    """Prints the table: per test set, bicubic, each model's PSNR / SSIM and gain, and the paired difference."""
    print()
    print("PSNR / SSIM on Y (mean over faces); gain = model - bicubic, [95% bootstrap interval over faces]")
    models = [f"v{v}" for v in versions]
    header = f"{'test set':<16}{'n':>4}  {'bicubic':>14}"
    for m in models:
        header += f"  {'trained on ' + m:>14}  {'gain (dB)':>22}"
    print(header)
    print("-" * len(header))
    for name, s in results["sets"].items():
        row = f"{name:<16}{s['n']:>4}  {s['bicubic']['psnr']:>6.2f} / {s['bicubic']['ssim']:.3f}"
        for m in models:
            r = s["models"][m]
            row += f"  {r['psnr']:>6.2f} / {r['ssim']:.3f}  {interval(*r['gain_psnr']):>22}"
        print(row)
    if len(versions) == 2:
        a, b = models[1], models[0]
        print()
        print(f"paired per face: trained on {a} minus trained on {b}")
        print(f"{'test set':<16}{'n':>4}  {'PSNR diff (dB)':>24}  {a + ' wins':>8}  {b + ' wins':>8}  "
              f"{'SSIM diff':>27}")
        for name, s in results["sets"].items():
            d, e = s["paired_psnr"], s["paired_ssim"]
            print(f"{name:<16}{s['n']:>4}  {interval(d['mean'], d['lo'], d['hi']):>24}  {d['a_wins']:>8}  "
                  f"{d['b_wins']:>8}  {interval(e['mean'], e['lo'], e['hi'], 4):>27}")
    print()
    for v in versions:
        t = results["training"][f"v{v}"]
        print(f"trained on v{v}: {t['steps']} steps of batch {t['batch']} in {t['seconds']:.0f} s "
              f"({1000 * t['seconds'] / t['steps']:.0f} ms/step), final L1 {t['final_l1']:.4f} "
              f"(first {t['first_l1']:.4f})")
    print(f"CPU: {results['cpu']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="training steps per run (default 3000)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--versions", type=int, nargs="+", choices=(1, 2), default=[1, 2], help="renderers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak Adam learning rate (default 2e-3)")
    parser.add_argument("--train-length", type=int, default=6000, help="rendered training faces per renderer")
    parser.add_argument("--test-length", type=int, default=200, help="synthetic test faces per renderer")
    parser.add_argument("--photos", type=Path, default=None, help="a folder of your own photos, used as well")
    parser.add_argument("--real-cache", type=Path, default=None,
                        help="real_faces.py's cache (default ~/.cache/faceforge/real-faces)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/synth_transfer.json"), help="results JSON")
    args = parser.parse_args()
    if args.steps < 1 or args.batch < 1:
        parser.error("--steps and --batch must be >= 1")
    versions = sorted(set(args.versions))

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from real_faces import aligned_real_faces

    from faceforge.data.synth import render3d

    # record which state of renderer 2 produced the figures (its revision and a hash of its source)
    renderer2 = {"revision": render3d.REVISION,
                 "source_sha256": hashlib.sha256(Path(render3d.__file__).read_bytes()).hexdigest()[:16]}

    print(f"CPU: {cpu_model()}; python {platform.python_version()}, torch {torch.__version__}; renderer 2 "
          f"revision {renderer2['revision']} (source sha256 {renderer2['source_sha256']})")
    print("real faces (benchmarks/real_faces.py):")
    real = aligned_real_faces(args.real_cache, args.photos)
    if not real:
        print("no real faces were found; the real-face rows are left out")
    print("synthetic data:")
    train_sets = {v: synth_faces("train", v, args.train_length, train=True) for v in versions}
    sets: dict[str, torch.Tensor] = {f"synth v{v} test": hr_stack(synth_faces("test", v, args.test_length,
                                                                               train=False)) for v in versions}
    if real:
        sets["real"] = torch.stack([torch.from_numpy(crop).permute(2, 0, 1).float() / 255 for _, crop in real])

    results: dict = {
        "cpu": cpu_model(), "torch": torch.__version__, "renderer2": renderer2, "seed": args.seed,
        "steps": args.steps, "batch": args.batch, "lr": args.lr, "train_length": args.train_length,
        "test_length": args.test_length, "real_faces": [name for name, _ in real], "psnr_cap": PSNR_CAP,
        "training": {}, "per_face": {}, "sets": {},
    }
    per_face = {name: {"bicubic": score(None, hr)} for name, hr in sets.items()}
    for v in versions:
        torch.manual_seed(args.seed)
        model = SmallSR()
        print(f"training on renderer {v}: SmallSR, {count_parameters(model) / 1e6:.2f} M parameters, "
              f"{args.steps} steps of batch {args.batch}, seed {args.seed}", flush=True)
        start = time.perf_counter()
        losses = train(model, train_sets[v], steps=args.steps, batch=args.batch, seed=args.seed, lr=args.lr,
                       log_every=max(1, args.steps // 10))
        seconds = time.perf_counter() - start
        results["training"][f"v{v}"] = {
            "steps": args.steps, "batch": args.batch, "seconds": seconds, "parameters": count_parameters(model),
            "first_l1": float(np.mean(losses[:20])), "final_l1": float(np.mean(losses[-50:])),
        }
        print(f"  {seconds:.0f} s ({1000 * seconds / args.steps:.0f} ms/step)", flush=True)
        for name, hr in sets.items():
            per_face[name][f"v{v}"] = score(model, hr)

    for name, scores in per_face.items():
        base = scores["bicubic"]
        entry = {"n": int(len(base["psnr"])), "bicubic": {k: float(v.mean()) for k, v in base.items()}, "models": {}}
        for v in versions:
            s = scores[f"v{v}"]
            entry["models"][f"v{v}"] = {
                "psnr": float(s["psnr"].mean()), "ssim": float(s["ssim"].mean()),
                "gain_psnr": bootstrap_mean(s["psnr"] - base["psnr"], seed=args.seed),
                "gain_ssim": bootstrap_mean(s["ssim"] - base["ssim"], seed=args.seed),
            }
        if len(versions) == 2:
            entry["paired_psnr"] = paired(scores["v2"]["psnr"], scores["v1"]["psnr"], seed=args.seed)
            entry["paired_ssim"] = paired(scores["v2"]["ssim"], scores["v1"]["ssim"], seed=args.seed)
        results["sets"][name] = entry
        results["per_face"][name] = {row: {k: v.round(4).tolist() for k, v in s.items()} for row, s in scores.items()}
    report(results, versions)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"results -> {args.out}")


if __name__ == "__main__":
    main()
