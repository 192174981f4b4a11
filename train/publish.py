"""Copy a trained run's exported model into ``hub_cards/NAME`` as a shipped model (fp16 weights by default).

    python train/publish.py runs/au_detector/model au-detector [--dtype float32]

Writes ``hub_cards/NAME/{config.json, model.safetensors, README.md}`` and the card's pictures: the weights
re-saved in the chosen dtype, the config, and the card the training run filled. It then reloads the written folder
and checks that its outputs match the run's model on a batch of synthetic test faces, printing the largest
difference, so fp16 storage is only kept where it does not change the results. Publish to the Hub with
``faceforge push hub_cards/NAME --repo-id faceforge/NAME``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import faceforge
from faceforge.resolve import HUB_CARDS, HUB_ORG


def test_inputs(model, count: int = 32) -> torch.Tensor:
    """FaceForge-Synth test faces as the model takes them (bicubic LR faces for super-resolution models)."""
    from faceforge.data.degrade import imresize, to_low_resolution
    from faceforge.data.synth import SynthFaces

    faces = torch.stack([SynthFaces("test", length=count)[i]["image"] for i in range(count)])
    lr_size = getattr(model.config, "lr_size", None)
    if lr_size:
        return to_low_resolution(faces, lr_size, quantize=True)
    # recognisers of another side (CovPoolFER and FSR-FER take 100x100 faces, GroupGAN its classifier's): MATLAB-bicubic
    # to it
    config = getattr(model.config, "backbone", None) or getattr(model.config, "classifier", model.config)
    size = getattr(config, "image_size", faces.shape[-1])
    return faces if size == faces.shape[-1] else imresize(faces, size=size, clamp=True)


def model_inputs(model, faces: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The test faces and, for models that take more than a face (an editor's source and target AUs), the rest of
    the model's own example inputs."""
    return (faces, *model.example_inputs(len(faces))[1:])


def main_output(out) -> torch.Tensor:
    """The tensor a model's output is judged by: itself, ``out["sr"]`` for restoration models or ``out["out"]`` for
    editors."""
    if isinstance(out, dict):
        return out["sr"] if "sr" in out else out["out"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_model", type=Path, help="the run's exported model folder (runs/<task>/model)")
    parser.add_argument("name", help="shipped name: the folder under hub_cards/")
    parser.add_argument("--dtype", default="float16", choices=("float16", "float32"))
    parser.add_argument("--tolerance", type=float, default=1e-2, help="largest output difference accepted")
    args = parser.parse_args()

    model = faceforge.from_pretrained(args.run_model)
    out = HUB_CARDS / args.name
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, dtype=getattr(torch, args.dtype))
    card = (args.run_model / "README.md").read_text()  # the card the run filled, loading by the shipped name
    card = card.replace('from_pretrained("path/to/this/folder")  # or a Hub id',
                        f'from_pretrained("{args.name}")  # hub_cards/{args.name} offline, else {HUB_ORG}/{args.name}')
    (out / "README.md").write_text(card)
    for picture in sorted(args.run_model.glob("*.png")):  # the pictures the card shows (Task.card_pictures)
        (out / picture.name).write_bytes(picture.read_bytes())

    inputs = model_inputs(model, test_inputs(model))
    shipped = faceforge.from_pretrained(out)
    with torch.no_grad():
        diff = (main_output(model(*inputs)) - main_output(shipped(*inputs))).abs().max().item()
    size = (out / "model.safetensors").stat().st_size / 2**20
    print(f"{out}: {args.dtype} weights, {size:.1f} MiB; largest output difference to the run's model {diff:.2e}")
    if diff > args.tolerance:
        raise SystemExit(f"{args.dtype} storage changes the outputs by {diff:.2e} > {args.tolerance}; "
                         f"publish with --dtype float32")


if __name__ == "__main__":
    main()
