"""Decoded-clip cache (`train.decode_cache_mb`): same samples as decoding, bounded, content-keyed."""

import logging

import numpy as np
import pytest

from pevl.data import clip_cache
from pevl.data.clip_cache import MB, ClipCache, process_cache, sample_digest
from pevl.data.loader import make_eval_loader, make_train_loader
from train_fixtures import tiny_config, write_fixture_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    cfg = tiny_config(tmp_path_factory.mktemp("cache"), ["train.num_workers=0", "train.decode_cache_mb=0"])
    return cfg, write_fixture_shards(cfg, train_per_class=4, test_per_class=2, per_tar=3)


def _with(cfg, **train):
    return cfg.model_copy(update={"train": cfg.train.model_copy(update=train)})


def _arrays(loader) -> list[tuple]:
    return [(b["key"], b["video"].numpy().copy(), b["pose"].numpy().copy()) for b in loader]


def test_cached_epochs_yield_the_decoded_samples_and_hit_the_cache(shards):
    cfg, folder = shards
    plain = [_arrays(make_train_loader(cfg, folder, e)[0]) for e in range(3)]
    clip_cache._CACHE = None
    cached_cfg = _with(cfg, decode_cache_mb=64)
    cached = [_arrays(make_train_loader(cached_cfg, folder, e)[0]) for e in range(3)]
    cache = process_cache(64)
    for a, b in zip(plain, cached):
        assert [k for k, *_ in a] == [k for k, *_ in b]
        for (_, va, pa), (_, vb, pb) in zip(a, b):
            assert np.array_equal(va, vb) and np.array_equal(pa, pb)
    assert len(cache.items) <= 16 and cache.hits > 0  # later epochs were served from memory
    misses = cache.misses
    test = _arrays(make_eval_loader(cached_cfg, folder, "test"))
    again = _arrays(make_eval_loader(cached_cfg, folder, "test"))
    assert cache.misses == misses + 8  # the 8 test clips decoded once, then served
    assert [k for k, *_ in test] == [k for k, *_ in again]


def test_budget_bounds_the_cache_and_cached_arrays_are_read_only(caplog):
    frames, pose = np.zeros((4, 8, 8, 3), np.uint8), np.zeros((4, 17, 3), np.float32)
    size = frames.nbytes + pose.nbytes
    cache = ClipCache(budget=2 * size)
    with caplog.at_level(logging.INFO, logger="pevl.data.clip_cache"):
        for i in range(5):
            cache.put(bytes([i]), frames.copy(), pose.copy(), None)
    assert len(cache.items) == 2 and cache.used == 2 * size and cache.full
    assert sum("cache full" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(ValueError):
        cache.items[bytes([0])][0][0, 0, 0, 0] = 1
    assert cache.get(bytes([4])) is None and cache.get(bytes([1])) is not None
    assert (cache.hits, cache.misses) == (1, 1)


def test_digest_follows_the_stored_bytes_not_the_key():
    a = {"__key__": "k", "mp4": b"frames", "pose.npy": b"joints", "json": b"{}"}
    fields = ("mp4", "pose.npy", "json")
    assert sample_digest(a, fields) == sample_digest(dict(a), fields)
    assert sample_digest({**a, "mp4": b"framez"}, fields) != sample_digest(a, fields)
    # field boundaries count: moving a byte from one field to the next changes the digest
    assert sample_digest({**a, "mp4": b"frame", "pose.npy": b"sjoints"}, fields) != sample_digest(a, fields)


def test_budget_zero_means_no_cache_and_a_new_budget_starts_afresh():
    assert process_cache(0) is None
    first = process_cache(1)
    assert first is process_cache(1) and first.budget == MB
    assert process_cache(2) is not first
