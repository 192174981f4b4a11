"""How the loop feeds a task: sharded, seeded, resumable training batches, and the eval loader.

Every process draws its own shard of each global batch (:class:`ShardedSampler`); each sample is loaded with
the RNGs seeded from ``(seed, epoch, index)`` (:class:`SeededSamples`); :class:`BatchStream` keeps the
position (epoch, batches consumed) that a checkpoint records, so a resumed run sees exactly the batches the
uninterrupted run would have seen. :func:`preserved_rng` runs a block without moving the training RNGs.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from accelerate.utils import send_to_device
from torch.utils.data import DataLoader, Dataset, Sampler

from faceforge.training.config import ConfigError, RunConfig


class ShardedSampler(Sampler[int]):
    """Indices of this process's share of each global batch, from a given batch of a given epoch.

    Epoch ``e`` is a permutation seeded by ``(seed, e)`` cut into global batches of
    ``batch_size * num_processes`` (the incomplete tail is dropped); process ``r`` takes the ``r``-th slice of
    each. :meth:`set_position` starts an epoch part-way, which is how a resumed run continues exactly.
    """

    def __init__(self, length: int, *, batch_size: int, rank: int = 0, num_processes: int = 1, seed: int = 0,
                 shuffle: bool = True):
        self.length, self.batch_size, self.rank, self.num_processes = length, batch_size, rank, num_processes
        self.seed, self.shuffle = seed, shuffle
        self.batches_per_epoch = length // (batch_size * num_processes)
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, start: int) -> None:
        self.epoch, self.start = epoch, start

    def order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.length)
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % 2**63)
        return torch.randperm(self.length, generator=generator)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """``(index, epoch)`` pairs (:class:`SeededSamples` reads them)."""
        order = self.order(self.epoch)
        for b in range(self.start, self.batches_per_epoch):
            first = (b * self.num_processes + self.rank) * self.batch_size
            for index in order[first:first + self.batch_size].tolist():
                yield index, self.epoch

    def __len__(self) -> int:
        return max(self.batches_per_epoch - self.start, 0) * self.batch_size


class SeededSamples(Dataset):
    """``dataset[index]`` run with torch, numpy and ``random`` seeded from ``(seed, epoch, index)``.

    A sample's random augmentation is then a function of the run's seed, the epoch and the index alone: the
    same with any number of DataLoader workers or processes, and again the same after a resume. The caller's
    RNG states are put back afterwards.
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, epoch = key
        seed = int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1, dtype=np.uint64)[0])
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
            random.seed(seed)
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)


class BatchStream:
    """Endless micro-batches over epochs, with a position (epoch, batches consumed) to checkpoint."""

    def __init__(self, dataset: Dataset, run: RunConfig, *, rank: int, num_processes: int,
                 device: torch.device, collate_fn=None):
        self.sampler = ShardedSampler(len(dataset), batch_size=run.batch_size, rank=rank,
                                      num_processes=num_processes, seed=run.seed, shuffle=run.shuffle)
        if self.sampler.batches_per_epoch == 0:
            raise ConfigError(f"the training set has {len(dataset)} samples, fewer than one global batch "
                              f"({run.batch_size} x {num_processes} processes)")
        self.dataset = dataset
        # The loader draws its workers' base seeds from its own generator, never from the global RNG (which
        # belongs to the training steps); samples are seeded by SeededSamples anyway.
        self.loader = DataLoader(SeededSamples(dataset, run.seed), batch_size=run.batch_size,
                                 sampler=self.sampler, num_workers=run.num_workers, collate_fn=collate_fn,
                                 pin_memory=device.type == "cuda",
                                 generator=torch.Generator().manual_seed(run.seed))
        self.device = device
        self.epoch, self.position = 0, 0
        self._iterator: Iterator | None = None

    @property
    def batches_per_epoch(self) -> int:
        return self.sampler.batches_per_epoch

    def next(self) -> Any:
        while True:
            if self._iterator is None:
                self.sampler.set_position(self.epoch, self.position)
                self._iterator = iter(self.loader)
            try:
                batch = next(self._iterator)
            except StopIteration:
                self.epoch, self.position, self._iterator = self.epoch + 1, 0, None
                continue
            self.position += 1
            return send_to_device(batch, self.device, non_blocking=True)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position, self._iterator = int(state["epoch"]), int(state["position"]), None

    def close(self) -> None:
        self._iterator = None


class DeviceLoader:
    """Iterates a DataLoader, moving each batch to the device (what ``Task.evaluate`` receives)."""

    def __init__(self, loader: DataLoader, device: torch.device):
        self.loader, self.device = loader, device

    def __iter__(self):
        for batch in self.loader:
            yield send_to_device(batch, self.device)

    def __len__(self) -> int:
        return len(self.loader)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without moving the training RNGs (python, numpy, torch CPU and CUDA)."""
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
