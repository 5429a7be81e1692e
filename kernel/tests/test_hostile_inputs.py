"""Hostile inputs at the kernel's own boundaries: URL redaction, bounded error text, filter limits."""

from __future__ import annotations

import itertools
import os
import threading
import time

import pytest
from dataflow.errors import DataFlowError, redact_url, short_repr
from dataflow.models import model_spec_from_class
from dataflow.query import MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH, Cond, Or, parse_filter
from dataflow.url import parse_url

ADVERSARIAL = ["k" * 100_000, "a:" * 50_000, "@" * 100_000, "a:b@" * 25_000, "x://" * 25_000,
               "?password=" * 10_000, "a://b:c@" * 12_500, "postgresql://" + "u" * 100_000]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda t: repr(t[:10]))
def test_redaction_is_linear(text: str) -> None:
    started = time.process_time()  # CPU time: a machine busy with other work does not count
    redact_url(text)
    DataFlowError("DF-102", text, context={"value": text})
    assert time.process_time() - started < 0.5  # 100,000 characters took minutes (quadratic) before


def test_redaction_never_freezes_other_threads() -> None:
    ticks: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        for text in ADVERSARIAL:
            redact_url(text * 4)
    finally:
        stop.set()
        thread.join()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps, default=0) < max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


@pytest.mark.parametrize("url, secrets", [
    ("postgresql://root:hunter@2secret@127.0.0.1:5432/db", ["hunter", "2secret"]),
    ("mysql://root@127.0.0.1/db?password=s3cret&ssl=1", ["s3cret"]),
    ("mysql://root@127.0.0.1/db?PASSWORD=s3cret", ["s3cret"]),
    ("postgresql://u:p'q\"r@h/db", ["p'q\"r"]),
])
def test_passwords_never_shown(url: str, secrets: list[str]) -> None:
    parsed = parse_url(url)
    shown = " ".join([str(parsed), repr(parsed), redact_url(url), redact_url(f"failed for '{url}': x"),
                      str(DataFlowError("DF-402", f"cannot reach {url}", context={"url": url}).to_dict())])
    for secret in secrets:
        assert secret not in shown
    assert "127.0.0.1" in redact_url(url) or "@h/" in redact_url(url)  # the host stays visible


def test_passwords_with_at_sign_parse_whole() -> None:
    parsed = parse_url("postgresql://root:hunter@2secret@127.0.0.1:5432/db")
    assert (parsed.password, parsed.host) == ("hunter@2secret", "127.0.0.1")


def test_short_repr_is_bounded() -> None:
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    assert len(short_repr(deep)) <= 80
    assert short_repr(10**5000) == "<int>"
    assert len(short_repr("x" * 10_000_000)) <= 80
    error = DataFlowError("DF-102", "m" * 1_000_000, context={"deep": deep, "big": 10**5000})
    assert len(error.message) <= 2000
    assert str(error.to_dict())


class Item:
    id: str
    name: str
    k: int = 0


def test_filter_limits_name_themselves() -> None:
    spec = model_spec_from_class(Item)
    deep: dict = {"name": "x"}
    for _ in range(MAX_FILTER_DEPTH + 1):
        deep = {"$not": deep}
    with pytest.raises(DataFlowError, match=str(MAX_FILTER_DEPTH)) as info:
        parse_filter(spec, deep)
    assert info.value.code == "DF-102"
    wide = {"$or": [{"k": {"$gt": i}} for i in range(MAX_FILTER_CONDITIONS + 1)]}
    started = time.process_time()
    with pytest.raises(DataFlowError, match=str(MAX_FILTER_CONDITIONS)):
        parse_filter(spec, wide)
    assert time.process_time() - started < 1.0  # CPU seconds: about 0.1 on a quiet machine


def test_or_of_equalities_becomes_one_in() -> None:
    spec = model_spec_from_class(Item)
    parsed = parse_filter(spec, {"$or": [{"k": 1}, {"name": "a"}, {"k": 2}, {"k": {"$in": [3]}}]})
    assert isinstance(parsed, Or)
    first, second = parsed.items
    assert isinstance(first, Cond) and (first.op, first.value) == ("in", (1, 2, 3))
    assert isinstance(second, Cond) and (second.op, second.value) == ("eq", "a")
