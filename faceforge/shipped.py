"""The models faceforge ships, derived from the families' declarations (:mod:`faceforge.registry`).

``faceforge.from_pretrained("au-detector")`` loads ``hub_cards/au-detector`` when it is there (a source
checkout: offline, no download) and the Hub repo ``faceforge/au-detector`` otherwise
(:func:`faceforge.resolve.shipped_location`).
"""

from __future__ import annotations

from faceforge import resolve
from faceforge.registry import shipped_models

HUB_ORG = resolve.HUB_ORG


def shipped_location(name: str) -> str | None:
    """The local folder (if present) or Hub id of a shipped model name; None for other names."""
    if name not in shipped_models():
        return None
    return resolve.shipped_location(name)


def __getattr__(name: str):
    # SHIPPED_MODELS and HUB_CARDS are read when asked for: a plug-in family may add models, and tests
    # may point faceforge.resolve.HUB_CARDS elsewhere.
    if name == "SHIPPED_MODELS":
        return shipped_models()
    if name == "HUB_CARDS":
        return resolve.HUB_CARDS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
