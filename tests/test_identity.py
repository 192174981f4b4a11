"""dlib's identity descriptors of aligned faces (faceforge.face.identity)."""

from __future__ import annotations

import numpy as np
import pytest

from faceforge.face.identity import SAME_PERSON_DISTANCE, face_descriptors, identity_distance


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """Two different synthetic people, aligned at 128x128, from the Synthetic faces renderer."""
    from faceforge.data.synth import SynthFaces

    data = SynthFaces("test", size=128, length=2)
    return np.stack([(data[i]["image"].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8) for i in range(2)])


def test_descriptors_are_unit_scale_128_vectors_that_separate_images(faces):
    out = face_descriptors(faces)
    assert out.shape == (2, 128) and out.dtype == np.float32
    assert 0.5 < np.linalg.norm(out[0]) < 1.5  # dlib's descriptors lie near the unit sphere
    assert np.allclose(face_descriptors(faces[0]), out[0])  # one face gives one vector
    again = face_descriptors(faces[::-1])
    assert np.allclose(again[::-1], out, atol=1e-6)  # per face, not per batch
    distance = identity_distance(out, out[::-1])
    assert distance.shape == (2,) and distance[0] == distance[1] > 0
    assert identity_distance(out, out).max() == 0
    # A slightly noisy copy stays the same person; a blank image is not a face of either.
    noisy = np.clip(faces[0].astype(int) + np.random.default_rng(0).integers(-4, 5, faces[0].shape), 0, 255)
    assert identity_distance(face_descriptors(noisy.astype(np.uint8)), out[0]) < SAME_PERSON_DISTANCE / 3
    assert identity_distance(face_descriptors(np.zeros_like(faces[0])), out[0]) > identity_distance(
        face_descriptors(noisy.astype(np.uint8)), out[0])


def test_bad_inputs_are_refused(faces):
    with pytest.raises(ValueError, match="uint8"):
        face_descriptors(faces.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(N, S, S, 3\)"):
        face_descriptors(faces[:, :100])
    with pytest.raises(FileNotFoundError, match="face-recognition network"):
        face_descriptors(faces, model_path="/nonexistent/net.dat")
