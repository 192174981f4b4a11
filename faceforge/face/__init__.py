"""Face geometry: the 68-landmark layout, the canonical alignment template, AU metadata and attention maps."""

from faceforge.face.aus import (
    ACTION_UNITS,
    BP4D_AUS,
    DISFA_AUS,
    FACEFORGE_AUS,
    au_attention_maps,
    au_centres,
    au_index,
    au_label,
)
from faceforge.face.expressions import EXPRESSIONS, expression_index
from faceforge.face.landmarks import FLIP_INDEX, GROUPS, flip_landmarks
from faceforge.face.template import CANONICAL_TEMPLATE_128, canonical_landmarks

__all__ = [
    "ACTION_UNITS", "BP4D_AUS", "CANONICAL_TEMPLATE_128", "DISFA_AUS", "EXPRESSIONS", "FACEFORGE_AUS", "FLIP_INDEX",
    "GROUPS", "au_attention_maps", "au_centres", "au_index", "au_label", "canonical_landmarks",
    "expression_index", "flip_landmarks",
]
