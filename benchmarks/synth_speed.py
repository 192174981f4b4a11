"""FaceForge-Synth rendering speed: images/s on one CPU core, and with a DataLoader over every core.

    python benchmarks/synth_speed.py [--n 2000] [--size 128]

Prints "<rate> images/s per core" for a single process pinned to one thread (the figure the synthetic set
is specified by: at least 200 images/s per core at 128x128), then the DataLoader throughput.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from torch.utils.data import DataLoader

from faceforge.data.synth import SynthFaces


def single_core(n: int, size: int) -> float:
    torch.set_num_threads(1)
    ds = SynthFaces("train", length=n + 20, size=size)
    for i in range(20):  # warm-up: imports, caches
        ds[n + i]
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n):
            ds[i]
        best = max(best, n / (time.perf_counter() - start))
    return best


def loader(n: int, size: int, workers: int) -> float:
    ds = SynthFaces("train", length=n, size=size)
    dl = DataLoader(ds, batch_size=64, num_workers=workers, persistent_workers=False)
    start = time.perf_counter()
    count = sum(batch["image"].shape[0] for batch in dl)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="images per timed pass")
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores, python {platform.python_version()}")
    rate = single_core(args.n, args.size)
    print(f"{rate:.0f} images/s per core ({args.size}x{args.size}, one process, one thread, best of 3)")
    print(f"{loader(args.n, args.size, cores):.0f} images/s with a DataLoader of {cores} workers (batch 64)")


if __name__ == "__main__":
    main()
