"""The models faceforge ships: a short name, the folder in this repository's ``hub_cards/``, and the Hub id.

``faceforge.from_pretrained("au-detector")`` loads ``hub_cards/au-detector`` when it is there (a source
checkout: offline, no download) and the Hub repo ``faceforge/au-detector`` otherwise.
"""

from __future__ import annotations

from pathlib import Path

HUB_ORG = "faceforge"
HUB_CARDS = Path(__file__).resolve().parents[1] / "hub_cards"

SHIPPED_MODELS: dict[str, str] = {
    "au-detector": "AU detector (ResNet-18), the AU supervisor of restoration and editing",
    "au-evaluator": "AU evaluator (ResNet-10t): scores AUs of generated faces; never used in training",
    "expression-classifier": "expression classifier (VGG13 BaseNet): supervisor and perceptual features",
    "expression-evaluator": "expression evaluator (VGG11): scores expressions of generated faces",
    "face-alignment": "68-landmark heatmap network (2 hourglasses) on blurred faces: initialises MPENet's alignment",
    "mpenet": "MPENet: x8 face super-resolution (16x16 -> 128x128) with landmark and AU priors, PSNR-oriented",
    "mpegan": "MPEGAN: MPENet trained further with perceptual and adversarial losses",
}


def shipped_location(name: str) -> str | None:
    """The local folder (if present) or Hub id of a shipped model name; None for other names."""
    if name not in SHIPPED_MODELS:
        return None
    folder = HUB_CARDS / name
    if (folder / "config.json").is_file():
        return str(folder)
    return f"{HUB_ORG}/{name}"
