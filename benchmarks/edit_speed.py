"""Speed of expression editing: the shipped Cascade EF-GAN's full edit (three stages) against one pass of
GANimation's published generator, measured one after the other in one run so that their figures compare.

    python benchmarks/edit_speed.py [--model cascade-efgan] [--repeats 20]

Networks, each editing a 128x128 face to target AUs:

* Cascade EF-GAN: the AU Interpolator and the three EF-GANs (global and eye, nose and mouth branches, Refiner) of
  ``--model``, at its own widths;
* GANimation: its published generator (Pumarola et al., ECCV 2018): 64 base channels, two downsamplings, 6 residual
  blocks, 17 AUs, colour and attention heads; faceforge's EF-GAN with ``local=False`` is that network, built here
  with random weights (speed does not depend on them);
* one stage of the Cascade EF-GAN, for the cascade's cost per stage.

Printed, on the CPU with every core, in fp32: latency per face at batch 1 ("N ms", median of ``--repeats``),
throughput at batch 16, GFLOPs per face (``torch.utils.flop_counter``, 2 FLOPs per multiply-add), and each network's
latency as a multiple of GANimation's (the goal: the whole cascade at most 3x one GANimation pass).
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
from faceforge.models.efgan import EFGAN, EFGANConfig  # noqa: E402

GANIMATION_AUS = (1, 2, 4, 5, 6, 7, 9, 12, 14, 15, 17, 20, 23, 25, 26, 28, 45)  # the 17 AUs OpenFace estimates


class _Edit(torch.nn.Module):
    """An editor's ``edit`` as a module of one input, with fixed source and target AUs."""

    def __init__(self, model: torch.nn.Module, aus: int, *, stage: bool = False):
        super().__init__()
        self.model, self.aus, self.stage = model, aus, stage

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        target = torch.full((len(faces), self.aus), 0.4)
        if self.stage:  # one EF-GAN: conditioned on the target alone
            return self.model(faces, target)["out"]
        return self.model.edit(faces, torch.zeros_like(target), target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cascade-efgan", help="shipped name or folder of a Cascade EF-GAN")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    torch.set_num_threads(os.cpu_count() or 1)
    from faceforge.training.report import cpu_name

    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, fp32")
    cascade = faceforge.from_pretrained(args.model).eval()
    size, aus = cascade.config.image_size, len(cascade.config.aus)
    ganimation = EFGAN(EFGANConfig(image_size=size, aus=GANIMATION_AUS, local=False, channels=64, downsamplings=2,
                                   blocks=6)).eval()
    networks = {"GANimation (one pass)": _Edit(ganimation, len(GANIMATION_AUS)),
                "Cascade EF-GAN, one stage": _Edit(cascade.stages[0], aus, stage=True),
                "Cascade EF-GAN (three stages)": _Edit(cascade, aus)}
    one, many = torch.rand(1, 3, size, size), torch.rand(16, 3, size, size)
    base = None
    with torch.no_grad():
        for name, network in networks.items():
            latency = timed(lambda n=network: n(one), args.repeats)
            batch = timed(lambda n=network: n(many), max(2, args.repeats // 4))
            gflops = flops_per_face(network, one) / 1e9
            base = base or latency
            print(f"  {name}: {latency * 1000:.1f} ms per face at batch 1, {16 / batch:.1f} faces/s at batch 16, "
                  f"{gflops:.2f} GFLOPs per face; {latency / base:.2f}x GANimation")


if __name__ == "__main__":
    main()
