"""Speed of low-resolution expression recognition: FSR-FER's feature route against the bicubic route and an image
super-resolution route, measured one after the other in one run so that their figures compare.

    python benchmarks/recognize_speed.py [--fsrfer fsrfer] [--isr runs/fsrfer-isr/model] [--repeats 20]

Routes, each from a 100x100 face already brought down and back up by bicubic interpolation (what every route is
given; the resizing is the same for all and timed apart):

* bicubic: CovPoolFER alone (F + SPD, C and the classifier);
* FSR-FER: the backbone's F + SPD, the feature generator G, then C and the classifier (the shipped ``fsrfer``);
* ISR: an image super-resolution network on the face (the ``fsrfer_isr`` task's VDSR, ``--isr``), then the
  backbone; a missing ``--isr`` is reported and left out.

Printed, on the CPU with every core, in fp32: latency per face at batch 1 ("N ms", median of ``--repeats``),
throughput at batch 32, GFLOPs per face (``torch.utils.flop_counter``, 2 FLOPs per multiply-add), and each route's
latency as a multiple of the bicubic route's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from restore_speed import flops_per_face, timed  # noqa: E402

import faceforge  # noqa: E402
from faceforge.models.fsrfer import low_resolution_input  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fsrfer", default="fsrfer", help="shipped name or folder of an FSR-FER model")
    parser.add_argument("--isr", default="runs/fsrfer-isr/model", help="folder of the ISR route's network")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    torch.set_num_threads(os.cpu_count() or 1)
    from faceforge.training.report import cpu_name

    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, fp32")
    fsrfer = faceforge.from_pretrained(args.fsrfer).eval()
    backbone = fsrfer.backbone
    size = backbone.config.image_size
    routes = {"bicubic": backbone, "FSR-FER": fsrfer}
    try:
        isr = faceforge.from_pretrained(args.isr).eval()
    except Exception as err:  # noqa: BLE001 - any reason the optional baseline cannot load is reported, not fatal
        print(f"ISR route: left out ({err})")
    else:
        routes["ISR"] = torch.nn.Sequential(_Restore(isr), backbone)

    one, many = torch.rand(1, 3, size, size), torch.rand(32, 3, size, size)
    with torch.no_grad():
        upsample = timed(lambda: low_resolution_input(one, 8), args.repeats)
        print(f"x8 down and bicubic back up (every route's input): {upsample * 1000:.1f} ms per face")
        base = None
        for name, model in routes.items():
            latency = timed(lambda m=model: m(one), args.repeats)
            batch = timed(lambda m=model: m(many), max(2, args.repeats // 4))
            gflops = flops_per_face(model, one) / 1e9
            base = base or latency
            print(f"  {name}: {latency * 1000:.1f} ms per face at batch 1, {32 / batch:.0f} faces/s at batch 32, "
                  f"{gflops:.2f} GFLOPs per face; {latency / base:.2f}x the bicubic route")


class _Restore(torch.nn.Module):
    """An SR network's clamped output, as a module that chains."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return self.net(faces)["sr"].clamp(0, 1)


if __name__ == "__main__":
    main()
