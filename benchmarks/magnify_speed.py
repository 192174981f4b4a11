"""Speed of weak-expression magnification: the shipped GroupGAN per face, and a video's face track frame by frame.

    python benchmarks/magnify_speed.py [--model groupgan] [--repeats 20]

Printed, on the CPU with every core, in fp32:

* the network (E, G and C: magnify and recognise one aligned face at the model's side): latency per face at batch 1
  ("N ms", median of ``--repeats``), throughput at batch 16 and GFLOPs per face (2 FLOPs per multiply-add);
* :func:`~faceforge.magnification.magnify_crops` on one 128x128 aligned face (framing, the network, the change put
  back at 128): latency per face;
* a video: the app's synthetic neutral-to-peak clip (16 frames of 192x192, one face about 120 px across, a 128x128
  face track) through :func:`~faceforge.magnification.magnify_video` (decoding, dlib detection and landmarks,
  alignment, the network, pasting back), as frames per second, and the same frames with the faces' aligned crops
  given (the model's share of it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from restore_speed import flops_per_face, timed  # noqa: E402

import faceforge  # noqa: E402
from faceforge.demo.examples import example_path  # noqa: E402
from faceforge.face.pipeline import find_faces  # noqa: E402
from faceforge.face.video import read_video  # noqa: E402
from faceforge.magnification import magnify_crops, magnify_video  # noqa: E402


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="groupgan")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    model = faceforge.from_pretrained(args.model).eval()
    side = model.config.generator.image_size
    print(f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, fp32")
    one, batch = torch.rand(1, 3, side, side), torch.rand(16, 3, side, side)
    latency = timed(lambda: model(one), args.repeats)
    per_batch = timed(lambda: model(batch), max(3, args.repeats // 4))
    gflops = flops_per_face(model, one) / 1e9
    print(f"network ({model.config.variant}, {model.config.classifier.arch}, {side}x{side}): {1000 * latency:.1f} ms "
          f"a face at batch 1, {16 / per_batch:.0f} faces/s at batch 16, {gflops:.2f} GFLOPs a face")
    clip = read_video(example_path("synthetic-sequence.mp4"))
    crops = [find_faces(frame, size=128, max_faces=1)[0].crop for frame in clip.frames]
    crop_latency = timed(lambda: magnify_crops(model, crops[8][None]), args.repeats)
    print(f"magnify_crops, one 128x128 aligned face: {1000 * crop_latency:.1f} ms")
    start = time.perf_counter()
    magnify_crops(model, np.stack(crops), batch_size=1)
    model_fps = len(crops) / (time.perf_counter() - start)
    start = time.perf_counter()
    result = magnify_video(example_path("synthetic-sequence.mp4"), model)
    video_fps = len(result.frames) / (time.perf_counter() - start)
    h, w = clip.frames[0].shape[:2]
    print(f"video, {len(clip.frames)} frames of {w}x{h}, one 128x128 face track: {video_fps:.1f} frames/s end to end "
          f"(decoding, detection, landmarks, alignment, magnification, pasting); {model_fps:.1f} frames/s for the "
          f"magnification of the aligned crops alone")


if __name__ == "__main__":
    main()
