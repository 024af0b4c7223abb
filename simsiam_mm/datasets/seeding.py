"""Random draws that are a function of (seed, epoch, dataset index, view).

The view of a sample must not depend on which process draws it: not on the
number of loader workers, on which worker gets the index, on how many
processes share the data, or on whether the run was resumed. So no draw of
the view pipeline comes from a generator that lives in a process. Instead:

* :class:`SeededSampler` (mmengine's ``DefaultSampler``, same order) yields
  every index as a :class:`SampleKey`: an ``int`` that also carries the
  sampler's seed and the epoch. The index travels to the worker as usual,
  so the epoch reaches persistent workers (forked or spawned once) with
  every sample, and mmengine's ``BaseDataset`` puts it in
  ``results['sample_idx']``.
* :func:`stream_uniforms` turns the key into uniforms on [0, 1): a
  counter-based generator, SplitMix64 (Steele, Lea and Flood, OOPSLA 2014,
  with the Mix13 finaliser of Vigna's ``splitmix64.c``), started at a 64-bit
  hash of the key's fields. The
  transform (:class:`~simsiam_mm.datasets.transforms.SimSiamViews`), the
  device preprocessor and the bad-file replacement all draw from it.

Without a key (a plain ``int`` from another sampler, or a transform called
on its own) the transforms keep drawing from torch's global generator.
"""
from typing import Iterator, Optional, Sequence, Sized

import numpy as np
from mmengine.dataset import DefaultSampler

from simsiam_mm.registry import DATA_SAMPLERS
from .checks import check_dataset

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / golden ratio, SplitMix64's increment
_MUL1, _MUL2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB

#: What a stream is drawn for: the last field hashed before the view.
VIEW, REPLACEMENT = 0, 1


def _mix(z: int) -> int:
    """SplitMix64's finaliser: a bijection of 64-bit integers."""
    z = ((z ^ (z >> 30)) * _MUL1) & _MASK
    z = ((z ^ (z >> 27)) * _MUL2) & _MASK
    return z ^ (z >> 31)


def hash_fields(*fields: int) -> int:
    """A 64-bit hash of a tuple of integers (negative ones wrap)."""
    h = 0
    for field in fields:
        h = _mix(((h ^ (field & _MASK)) + _GOLDEN) & _MASK)
    return h


_U64 = {n: np.uint64(n) for n in (11, 27, 30, 31, _MUL1, _MUL2)}


def stream_uniforms(starts: Sequence[int], count: int) -> np.ndarray:
    """``count`` uniforms on [0, 1) from each SplitMix64 stream start.

    Element ``[i, k]`` is the ``k``-th output of the generator whose state
    is ``starts[i]``: ``mix(start + (k + 1) * golden)``, top 53 bits.

    Args:
        starts (Sequence[int]): N 64-bit stream states.
        count (int): Uniforms per stream.

    Returns:
        np.ndarray: ``float64``, N x count.
    """
    steps = np.arange(1, count + 1, dtype=np.uint64) * np.uint64(_GOLDEN)
    z = np.array(starts, dtype=np.uint64).reshape(-1, 1) + steps  # N x count
    z ^= z >> _U64[30]
    z *= _U64[_MUL1]
    z ^= z >> _U64[27]
    z *= _U64[_MUL2]
    z ^= z >> _U64[31]
    return (z >> _U64[11]) * (1. / (1 << 53))


class SampleKey(int):
    """A dataset index that says where its random draws come from.

    It is the index itself for every use of an ``int`` (indexing, equality,
    hashing, JSON), and carries the fields that seed its draws.

    Args:
        index (int): The dataset index to load.
        seed (int, optional): The sampler's seed; None: no keyed draws
            (the transforms use torch's global generator).
        epoch (int, optional): The epoch. Defaults to None.
        origin (int, optional): The index the sampler yielded; differs from
            ``index`` for a sample that replaces a skipped bad file.
            Defaults to ``index``.
        attempt (int): Bad files skipped before this sample was loaded (0
            for the sampler's own index). Defaults to 0.
    """

    def __new__(cls,
                index: int,
                seed: Optional[int] = None,
                epoch: Optional[int] = None,
                origin: Optional[int] = None,
                attempt: int = 0) -> 'SampleKey':
        key = super().__new__(cls, index)
        key.seed = seed
        key.epoch = epoch
        key.origin = int(index) if origin is None else int(origin)
        key.attempt = attempt
        return key

    def __reduce__(self):
        return (SampleKey, (int(self), self.seed, self.epoch, self.origin,
                            self.attempt))

    def __repr__(self) -> str:
        return (f'SampleKey({int(self)}, seed={self.seed}, '
                f'epoch={self.epoch}, origin={self.origin}, '
                f'attempt={self.attempt})')

    @property
    def seeded(self) -> bool:
        """Whether the key has a seed (and so its own draws)."""
        return self.seed is not None

    def stream_start(self, purpose: int, view: int = 0) -> int:
        """The SplitMix64 state of the draws for ``purpose`` and ``view``:
        a hash of (seed, epoch, origin, attempt, purpose, view)."""
        return hash_fields(self.seed, self.epoch or 0, self.origin,
                           self.attempt, purpose, view)

    def replacement(self, index: int) -> 'SampleKey':
        """The key of the sample loaded in place of this (bad) one."""
        return SampleKey(index, self.seed, self.epoch, self.origin,
                         self.attempt + 1)


def view_uniforms(key: SampleKey, num_views: int, count: int) -> np.ndarray:
    """``count`` uniforms for each of the views of a seeded key.

    Returns:
        np.ndarray: ``float64``, num_views x count.
    """
    return stream_uniforms(
        [key.stream_start(VIEW, view) for view in range(num_views)], count)


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` whose indices carry the seed and epoch.

    The same indices in the same order, per rank, as ``DefaultSampler``
    with the same arguments; each one a :class:`SampleKey` with
    ``self.seed`` and ``self.epoch`` (set by ``DistSamplerSeedHook`` at
    every epoch, and restored on resume). The seed is the run's
    (``randomness.seed``; a random one shared by all ranks if unset).

    Being built with the training dataset in the main process, it also
    checks it first (:func:`~simsiam_mm.datasets.checks.check_dataset`):
    an empty dataset, or a list file naming files that do not exist, stops
    the run with an error naming the path.

    Args:
        dataset (Sized): The dataset.
        shuffle (bool): Shuffle every epoch. Defaults to True.
        seed (int, optional): Defaults to None (the runner passes its
            seed).
        round_up (bool): Pad to a multiple of the world size; a padded
            index repeats an earlier one, views included. Defaults to True.
        check_data (bool): Run the check above. Defaults to True.
    """

    def __init__(self,
                 dataset: Sized,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 round_up: bool = True,
                 check_data: bool = True) -> None:
        if check_data:
            check_dataset(dataset)
        super().__init__(dataset, shuffle, seed, round_up)

    def __iter__(self) -> Iterator[SampleKey]:
        seed, epoch = self.seed, self.epoch
        return (SampleKey(index, seed, epoch) for index in super().__iter__())
