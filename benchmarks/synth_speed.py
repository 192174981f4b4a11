"""FaceForge-Synth rendering speed: images/s on one CPU core, and with a DataLoader over every core.

    python benchmarks/synth_speed.py [--n 2000] [--size 128] [--versions 1 2]

Prints, for each renderer, "<rate> images/s per core" for a single process pinned to one thread (the figure the
synthetic set is specified by: at least 200 images/s per core at 128x128 for renderer 1; renderer 2, the shaded
3-D default, is specified at under 100 ms a face, i.e. at least 10 images/s per core), then the DataLoader
throughput, and the ratio of the renderers' speeds measured in the same run (comparable across machines, unlike
the rates).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from threadpoolctl import threadpool_limits
from torch.utils.data import DataLoader

from faceforge.data.synth import SynthFaces


def single_core(n: int, size: int, version: int = 1) -> float:
    torch.set_num_threads(1)
    ds = SynthFaces("train", length=n + 20, size=size, version=version)
    for i in range(20):  # warm-up: imports, caches
        ds[n + i]
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n):
            ds[i]
        best = max(best, n / (time.perf_counter() - start))
    return best


def loader(n: int, size: int, workers: int, version: int = 1) -> float:
    ds = SynthFaces("train", length=n, size=size, version=version)
    dl = DataLoader(ds, batch_size=64, num_workers=workers, persistent_workers=False)
    start = time.perf_counter()
    count = sum(batch["image"].shape[0] for batch in dl)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="images per timed pass")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--versions", type=int, nargs="+", choices=(1, 2), default=[1, 2], help="renderers")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores, python {platform.python_version()}")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "?") if os.path.exists("/proc/cpuinfo") else "?"
    print(f"cpu: {cpu}")
    # One BLAS / OpenMP thread, in this process and in the forked DataLoader workers: "per core" means one core.
    limits = threadpool_limits(1)
    rates = {}
    for version in args.versions:
        rates[version] = rate = single_core(args.n, args.size, version)
        print(f"renderer {version}: {rate:.0f} images/s per core ({1000 / rate:.1f} ms a face, "
              f"{args.size}x{args.size}, one process, one thread, best of 3)")
        print(f"renderer {version}: {loader(args.n, args.size, cores, version):.0f} images/s with a DataLoader of "
              f"{cores} workers (batch 64)")
    if 1 in rates and 2 in rates:
        print(f"renderer 2 / renderer 1 speed: {rates[2] / rates[1]:.3f} (renderer 2 is {rates[1] / rates[2]:.1f}x "
              "slower)")
    limits.restore_original_limits()


if __name__ == "__main__":
    main()
