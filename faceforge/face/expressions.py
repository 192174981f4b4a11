"""Expression names and their EMFACS prototypes.

faceforge's expression labels are the seven basic expressions plus neutral, in this fixed order; real
datasets' own label numbers are mapped onto these names by their loaders.
"""

from __future__ import annotations

EXPRESSIONS: tuple[str, ...] = (
    "neutral",
    "anger",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
    "contempt",
)
EXPRESSION_INDEX: dict[str, int] = {name: i for i, name in enumerate(EXPRESSIONS)}

# EMFACS prototypes (Friesen & Ekman, 1983): the AUs that make up each expression at its peak.
# Contempt is unilateral (R12A + R14A); faceforge renders it on the subject's right side.
EMFACS_PROTOTYPES: dict[str, tuple[int, ...]] = {
    "neutral": (),
    "anger": (4, 5, 7, 23, 24),
    "disgust": (9, 10, 15, 17),
    "fear": (1, 2, 4, 5, 7, 20, 26),
    "happiness": (6, 12),
    "sadness": (1, 4, 15, 17),
    "surprise": (1, 2, 5, 26),
    "contempt": (12, 14),
}
UNILATERAL: dict[str, tuple[int, ...]] = {"contempt": (12, 14)}


def expression_index(name: str) -> int:
    """Index of an expression name (case-insensitive; 'happy', 'angry', 'sad', 'surprised', ... accepted)."""
    aliases = {
        "happy": "happiness", "angry": "anger", "sad": "sadness", "surprised": "surprise",
        "disgusted": "disgust", "fearful": "fear", "contemptuous": "contempt",
    }
    key = name.strip().lower()
    key = aliases.get(key, key)
    if key not in EXPRESSION_INDEX:
        raise ValueError(f"unknown expression {name!r}; expected one of {', '.join(EXPRESSIONS)}")
    return EXPRESSION_INDEX[key]
