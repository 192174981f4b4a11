"""Speed of face restoration (MPENet / MPEGAN / IGCN, x8 16x16 -> 128x128), with the model's PSNR beside it.

    python benchmarks/restore_speed.py [--model mpenet [igcn ...]] [--faces 200] [--repeats 10] [--precisions fp32]

Several ``--model`` are measured one after the other in the same run, so their figures compare (IGCN's latency
beside MPENet's: ``--model mpenet igcn``).
Printed, on the CPU with every core: latency per face at batch 1 ("N ms", median of ``--repeats``),
throughput at batch 8 and 32, GFLOPs per face (``torch.utils.flop_counter``, 2 FLOPs per multiply-add), the
fraction of the CPU's fp32 matmul peak those FLOPs reach (the peak measured here with a 2048^3 matmul), the
same in bf16 autocast, and PSNR-Y on ``--faces`` FaceForge-Synth test faces. On a CUDA machine it also prints
faces/s in bf16 and training images/s of the MPENet task's step; elsewhere those lines say why they are
skipped. IGCN restores occluded faces: its PSNR line (and the bicubic one beside it) is on the test faces with the
random square of its training occluding each input (``faceforge.pipelines.occlusion_masks``, seed 0).

For scale: DIC (Ma et al. 2020; 4 steps, 21.8 M parameters, 90.7 GFLOPs per face), the landmark-guided
recurrent design MPENet builds on, takes about 2.1 s per face at batch 1 on a 2-core CPU, about 27% of its
matmul peak.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import faceforge
from faceforge.data.degrade import imresize, to_low_resolution
from faceforge.data.synth import SynthFaces
from faceforge.metrics.image import psnr_y

DIC_SECONDS_PER_FACE = 2.1


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak_gflops(device: str, dtype: torch.dtype = torch.float32, n: int = 2048) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)

    def run():
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()

    return 2 * n**3 / timed(run, 5) / 1e9


def flops_per_face(model, lr: torch.Tensor) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(lr[:1])
    return counter.get_total_flops()


def occludes(model) -> bool:
    """Whether ``model`` is trained on occluded inputs (IGCN)."""
    from faceforge.models.igcn import IGCNGenerator

    return isinstance(model, IGCNGenerator)


@torch.no_grad()
def model_psnr(model, faces: int, device: str, version: int = 2) -> tuple[float, float]:
    data = SynthFaces("test", length=faces, version=version)
    hr = torch.stack([data[i]["image"] for i in range(faces)]).to(device)
    lr = to_low_resolution(hr, model.config.lr_size, quantize=True)
    if occludes(model):
        from faceforge.data.degrade import apply_occlusion
        from faceforge.pipelines import occlusion_masks

        lr = apply_occlusion(lr, occlusion_masks("random", faces, model.config.image_size, model.config.lr_size))
    sr = torch.cat([model(lr[i:i + 32])["sr"].float().clamp(0, 1) for i in range(0, faces, 32)])
    bicubic = imresize(lr, size=model.config.image_size, clamp=True)
    return float(psnr_y(sr, hr).mean()), float(psnr_y(bicubic, hr).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", default=["mpenet"],
                        help="shipped names, folders or Hub ids of restoration models (MPENet, MPEGAN, IGCN)")
    parser.add_argument("--faces", type=int, default=200, help="test faces for the PSNR line")
    parser.add_argument("--synth-version", type=int, choices=(1, 2), default=2,
                        help="FaceForge-Synth renderer of the test faces (2: what the shipped models were trained on)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"],
                        help="CPU precisions to time (bf16 autocast pays only on CPUs with bf16 instructions)")
    args = parser.parse_args()

    torch.set_num_threads(os.cpu_count() or 1)
    from faceforge.training.report import cpu_name

    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    for name in args.model:
        measure(name, args)


def measure(name: str, args: argparse.Namespace) -> None:
    model = faceforge.from_pretrained(name).eval()
    cfg = model.config
    params = sum(p.numel() for p in model.parameters()) / 1e6
    lr1 = torch.rand(1, 3, cfg.lr_size, cfg.lr_size)
    lr8 = torch.rand(8, 3, cfg.lr_size, cfg.lr_size)
    lr32 = torch.rand(32, 3, cfg.lr_size, cfg.lr_size)
    gflops = flops_per_face(model, lr1) / 1e9
    variant = f" variant {cfg.variant}" if hasattr(cfg, "variant") else ""
    print(f"{name}: {type(model).__name__}{variant}, {params:.2f} M parameters, "
          f"{gflops:.1f} GFLOPs per face ({cfg.lr_size}x{cfg.lr_size} -> {cfg.image_size}x{cfg.image_size})")

    print(f"CPU, {torch.get_num_threads()} threads:")
    with torch.no_grad():
        peak = matmul_peak_gflops("cpu")
        for precision in args.precisions:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                one = timed(lambda: model(lr1), args.repeats)
                eight = timed(lambda: model(lr8), max(2, args.repeats // 2))
                many = timed(lambda: model(lr32), max(2, args.repeats // 4))
            fraction = gflops / one / peak
            print(f"  {precision}: {one * 1000:.0f} ms per face at batch 1 ({one / DIC_SECONDS_PER_FACE:.0%} of DIC's "
                  f"{DIC_SECONDS_PER_FACE} s); {8 / eight:.1f} faces/s at batch 8, {32 / many:.1f} at batch 32; "
                  f"{gflops / one:.0f} GFLOP/s at batch 1 = {fraction:.0%} of the fp32 matmul peak "
                  f"({peak:.0f} GFLOP/s)")
    psnr, bicubic = model_psnr(model, args.faces, "cpu", args.synth_version)
    occluded = ", a random quarter of each input occluded" if occludes(model) else ""
    print(f"  PSNR-Y on {args.faces} FaceForge-Synth v{args.synth_version} test faces{occluded}: {psnr:.2f} dB "
          f"(bicubic {bicubic:.2f} dB)")

    if not torch.cuda.is_available():
        print("GPU: skipped (no CUDA device on this machine)")
        return
    gpu = model.to("cuda")
    name = torch.cuda.get_device_name()
    batch = torch.rand(256, 3, cfg.lr_size, cfg.lr_size, device="cuda")

    def infer():
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            gpu(batch)
        torch.cuda.synchronize()

    print(f"GPU ({name}): {256 / timed(infer, args.repeats):.0f} faces/s in bf16 at batch 256")
    gpu.train()
    optimizer = torch.optim.Adam(gpu.parameters(), lr=1e-4)
    hr = torch.rand(16, 3, cfg.image_size, cfg.image_size, device="cuda")
    lr = to_low_resolution(hr, cfg.lr_size)

    def train_step():  # the reconstruction loss of every step (Eq. 9), as the mpenet task trains it
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = gpu(lr)
            loss = torch.stack([torch.nn.functional.mse_loss(s.float(), hr) for s in out["steps"]]).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()

    print(f"GPU ({name}): {16 / timed(train_step, args.repeats):.0f} training images/s in bf16 at batch 16")


if __name__ == "__main__":
    main()
