"""The loop's pieces on their own: settings, schedule, device/precision, RNG capture, the data stream."""

from __future__ import annotations

import io
import itertools
import math
import random

import numpy as np
import pytest
import torch

from zoo.errors import RecipeError
from zoo.training import TrainSettings, learning_rate
from zoo.training.runtime import (
    autocast,
    pick_device,
    resolve_precision,
    rng_state,
    seed_everything,
    set_rng_state,
)
from zoo.training.sampler import StreamSampler

# -- settings ------------------------------------------------------------------------------------------------


def test_settings_reject_bad_values_naming_each():
    with pytest.raises(RecipeError) as info:
        TrainSettings(steps=0, schedule="cosin", ema=1.0, precision="fp16")
    message = str(info.value)
    for expected in ("steps=0", "'cosin'", "ema=1.0", "'fp16'"):
        assert expected in message


def test_settings_batch_must_split_over_processes_and_micro_steps():
    s = TrainSettings(batch_size=12, accumulate=2)
    assert s.micro_batch_size(1) == 6
    assert s.micro_batch_size(2) == 3
    with pytest.raises(RecipeError, match="multiple of 8"):
        s.micro_batch_size(4)


def test_settings_come_from_a_recipe_through_the_recipe_checker():

    s = TrainSettings.from_recipe({"train": {"steps": 10, "betas": [0.5, 0.9], "lr": 1}})
    assert s.steps == 10 and s.betas == (0.5, 0.9) and s.lr == 1.0
    with pytest.raises(RecipeError, match="did you mean 'warmup_steps'"):
        TrainSettings.from_recipe({"train": {"warmup_step": 10}})
    assert TrainSettings(**s.to_dict()) == s  # JSON round trip (checkpoints store the dict)


# -- schedule ------------------------------------------------------------------------------------------------


def test_learning_rate_warmup_then_cosine_by_hand():
    s = TrainSettings(steps=13, lr=1.0, warmup_steps=4, min_lr_ratio=0.1)
    # warmup: lr * (step + 1) / (warmup + 1)
    assert [learning_rate(k, s) for k in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    # cosine over steps 4..12: full lr at 4, half way (0.1 + 0.9 / 2) at 8, the floor at the last step
    assert learning_rate(4, s) == pytest.approx(1.0)
    assert learning_rate(8, s) == pytest.approx(0.55)
    assert learning_rate(12, s) == pytest.approx(0.1)
    assert learning_rate(6, s) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 4)))
    constant = TrainSettings(steps=13, lr=1.0, warmup_steps=4, schedule="constant")
    assert [learning_rate(k, constant) for k in (3, 4, 12)] == pytest.approx([0.8, 1.0, 1.0])


# -- device and precision ------------------------------------------------------------------------------------


def test_device_choice():
    assert pick_device("cpu") == torch.device("cpu")
    auto = pick_device("auto")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert auto.type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RecipeError, match="sees no CUDA device"):
            pick_device("cuda")


def test_bf16_is_for_cuda_only():
    cpu = torch.device("cpu")
    assert resolve_precision(cpu, "auto") == "fp32"
    with pytest.raises(RecipeError, match="needs a CUDA device"):
        autocast(cpu, "bf16")
    with autocast(cpu, "fp32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


# -- RNG states ----------------------------------------------------------------------------------------------


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), np.random.normal(), torch.rand(3).tolist()


def test_rng_state_round_trip_through_a_weights_only_file():
    seed_everything(5)
    _draws()
    buffer = io.BytesIO()
    torch.save(rng_state(), buffer)
    expected = _draws()
    seed_everything(99)  # scramble everything
    buffer.seek(0)
    set_rng_state(torch.load(buffer, weights_only=True))
    assert _draws() == expected


# -- the data stream -----------------------------------------------------------------------------------------


def _take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_stream_is_a_new_permutation_every_epoch():
    stream = _take(StreamSampler(range(10), seed=3), 30)
    epochs = [stream[i : i + 10] for i in (0, 10, 20)]
    assert all(sorted(e) == list(range(10)) for e in epochs)
    assert epochs[0] != epochs[1]


def test_stream_resumes_mid_epoch_exactly():
    full = _take(StreamSampler(range(10), seed=3), 40)
    for start in (0, 7, 10, 23):
        assert _take(StreamSampler(range(10), seed=3, start=start), 40 - start) == full[start:]


def test_two_ranks_together_read_the_single_process_stream():
    single = _take(StreamSampler(range(12), seed=1), 48)
    ranks = [_take(StreamSampler(range(12), seed=1, rank=r, world_size=2), 24) for r in (0, 1)]
    interleaved = [i for pair in zip(*ranks) for i in pair]
    assert interleaved == single
    # so a batch of 8 on one process is the union of the two ranks' batches of 4
    assert sorted(ranks[0][4:8] + ranks[1][4:8]) == sorted(single[8:16])
    # and a rank resumed at its own position continues its own stream
    assert _take(StreamSampler(range(12), seed=1, rank=1, world_size=2, start=5), 10) == ranks[1][5:15]


@pytest.mark.parametrize("size, world_size", [(10, 1), (12, 2), (11, 3), (2, 5)])
def test_stream_shards_are_distributed_samplers(size, world_size):
    """The tensor-backed shards are torch's DistributedSampler's, padding for uneven sizes included."""
    from torch.utils.data import DistributedSampler

    for rank in range(world_size):
        stream = StreamSampler(range(size), seed=7, rank=rank, world_size=world_size)
        reference = DistributedSampler(range(size), num_replicas=world_size, rank=rank, seed=7)
        for epoch in range(3):
            reference.set_epoch(epoch)
            assert stream.shard(epoch).tolist() == list(reference)


def test_stream_of_an_empty_dataset_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        StreamSampler([], seed=0)
