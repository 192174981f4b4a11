"""FaceForge-Synth: procedural faces with ground-truth AUs, 68 landmarks, expressions, intensities and identities.

The faces are drawn around faceforge's canonical 128x128 template (``faceforge.face.template``), so the
mean neutral frontal face of the set *is* the alignment template that real photos are aligned onto.

Two renderers draw the same samples (``version=``): 2, the default, a shaded 3-D height field with skin
texture and a camera (``render3d``, ``textures``); 1, the first renderer, 2-D polygons (``render``), kept so that
figures of models trained on it can be reproduced. Labels and landmarks are the same under both.
"""

from faceforge.data.synth.appearance import Identity, sample_identity
from faceforge.data.synth.faces import (
    N_IDENTITIES,
    PEAK_AUS,
    SPLITS,
    RenderedFace,
    SynthFaces,
    SynthPairs,
    SynthSequences,
    expression_aus,
    render_face,
    split_identities,
)
from faceforge.face.expressions import EXPRESSIONS

__all__ = [
    "EXPRESSIONS", "Identity", "N_IDENTITIES", "PEAK_AUS", "SPLITS", "RenderedFace", "SynthFaces", "SynthPairs",
    "SynthSequences", "expression_aus", "render_face", "sample_identity", "split_identities",
]
