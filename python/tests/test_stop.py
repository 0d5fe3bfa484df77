"""Stopping: from another thread, by Ctrl-C (SIGINT) while waiting, by leaving a with block,
by dropping the last reference."""

import gc
import os
import signal
import threading
import time

import pytest

import tagstream

LIVE = dict(source="gen://?rate=2000&seed=7", batch="100ms", window="300ms", quiet=True,
            db="none")


def test_a_stream_stopped_from_another_thread():
    s = tagstream.run(**LIVE)
    assert s.latest(timeout=30) is not None
    seen = []

    def consume():
        for w in s:  # ends when the stream stops
            seen.append(w)

    reader = threading.Thread(target=consume)
    reader.start()
    stopper = threading.Thread(target=s.stop)
    stopper.start()
    summary = s.wait(timeout=60)
    stopper.join(30), reader.join(30)
    assert not reader.is_alive() and not s.running
    assert summary["records"] > 0 and summary["windows"] >= 1
    assert len(seen) == summary["windows"]  # every window, the last flushed one too
    assert s.error is None


def interrupt_soon(delay=0.5):
    threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT)).start()


def test_ctrl_c_while_waiting_stops_the_stream_cleanly():
    s = tagstream.run(**LIVE)
    assert s.latest(timeout=30) is not None
    interrupt_soon()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        s.wait()
    assert time.monotonic() - started < 30
    assert not s.running and s.error is None
    assert s.summary["windows"] >= 1  # it ended as a stop does: windows flushed, summary made


def test_ctrl_c_while_iterating_stops_the_stream_cleanly():
    s = tagstream.run(**LIVE)
    interrupt_soon()
    n = 0
    with pytest.raises(KeyboardInterrupt):
        for _ in s:
            n += 1
    assert not s.running and s.summary is not None


def test_leaving_a_with_block_stops_it():
    with tagstream.run(**LIVE) as s:
        assert s.latest(timeout=30) is not None
    assert not s.running and s.summary["windows"] >= 1


def test_duration_ends_a_live_stream():
    s = tagstream.run(duration="500ms", **LIVE)
    assert s.wait(timeout=30)["windows"] >= 1


def test_a_dropped_stream_is_stopped():
    s = tagstream.run(**LIVE)
    job = s._job
    del s
    gc.collect()
    assert job.done
