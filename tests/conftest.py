"""Shared test set-up."""

import os

# Under pytest-xdist every worker is its own process, and torch would start one thread per core in each: with
# ``-n 2`` on two cores that oversubscribes the CPU and makes the small convolutions here several times slower
# (and far slower still when anything else runs). Split the cores between the workers instead; an explicit
# OMP_NUM_THREADS wins. Set before torch is imported (the subprocesses the tests start inherit it too).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
if _WORKERS > 1 and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // _WORKERS))

import pytest  # noqa: E402  (after the thread settings above)
import torch  # noqa: E402
from accelerate.state import AcceleratorState, GradientState  # noqa: E402

if _WORKERS > 1:
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))  # in case torch was imported before this file


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Accelerate keeps one process-wide state; each test that trains in-process builds its own Accelerator,
    possibly with another precision, so no test inherits the previous one's."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


@pytest.fixture(scope="session")
def detector():
    """faceforge's face detector with dlib's models loaded once per test process."""
    from faceforge.face.detect import FaceDetector

    det = FaceDetector()
    det.load()
    return det


@pytest.fixture(scope="session")
def astronaut():
    """scikit-image's astronaut: a real photograph with one face."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module whose tensors are small: faster than waiting for a busy second core.
    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
