"""The Python API's round trips: run → iterate / wait / top / windows / sql / show."""

import datetime as dt
import json
import os
import sqlite3

import pandas as pd
import pytest

import tagstream

T0 = 1_700_000_000  # epoch seconds, a multiple of 10


def corpus(path, n=120):
    """n JSON lines, one a second, with a few tags whose counts are easy to know."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            text = f"#all #t{i % 3}" + (" #Rare" if i == 7 else "")
            f.write(json.dumps({"created_at": T0 + i, "text": text}) + "\n")
    return str(path)


def replay(path, **kw):
    args = dict(source=path, format="jsonl", time="event", batch="10s", window="30s",
                top=3, quiet=True)
    args.update(kw)
    return tagstream.run(**args)


def test_replay_round_trip(tmp_path):
    src = corpus(tmp_path / "in.jsonl")
    with replay(src) as s:
        summary = s.wait(timeout=60)
        assert summary["records"] == 120 and summary["windows"] == len(list(s))
        assert not s.running and s.error is None

        windows = list(s)
        # Windows from the first holding the first record to the last holding the last.
        assert windows[0]["window_end"] == dt.datetime.fromtimestamp(T0 + 10, dt.timezone.utc)
        assert windows[-1]["window_end"] == dt.datetime.fromtimestamp(T0 + 140, dt.timezone.utc)
        full = windows[5]  # [T0+30, T0+60): 30 records, each with #all
        assert full["records"] == 30 and full["tagged"] == 30 and full["late"] == 0
        assert full["top"][0] == {"rank": 1, "hashtag": "#all", "count": 30}
        assert full["window_start"].tzinfo is not None
        assert isinstance(full, tagstream.Window) and isinstance(full, dict)

        frame = full.to_pandas()
        assert list(frame.columns) == [
            "window_start", "window_end", "rank", "hashtag", "count", "error"]
        assert list(frame["error"]) == [0, 0, 0], "an exact window's errors are 0"
        assert str(frame["window_end"].dtype) == "datetime64[ns, UTC]"
        assert str(frame["count"].dtype) == "int64" and str(frame["rank"].dtype) == "int64"
        assert list(frame["hashtag"]) == ["#all", "#t0", "#t1"]

        hist = s.windows()
        assert str(hist["window_start"].dtype) == "datetime64[ns, UTC]"
        assert str(hist["count"].dtype) == "int64"
        assert len(hist) == sum(len(w["top"]) for w in windows)
        pd.testing.assert_frame_equal(
            hist, pd.concat([w.to_pandas() for w in windows], ignore_index=True))

        # since: only windows ending after it, in any of the accepted forms.
        cut = windows[-3]["window_end"]
        later = hist[hist["window_end"] > cut].reset_index(drop=True)
        for since in (cut, cut.replace(tzinfo=None), cut.isoformat().replace("+00:00", "Z"),
                      pd.Timestamp(cut), cut.timestamp()):
            pd.testing.assert_frame_equal(s.windows(since=since), later)
        with pytest.raises(ValueError, match="since"):
            s.windows(since="yesterday")

        # The tweets table is the last window's top-K (the last window holds #all and #t*).
        last = windows[-1]
        top = s.top()
        assert list(top.columns) == ["hashtag", "count", "error"]
        assert str(top["count"].dtype) == "int64" and set(top["error"]) == {0}
        assert list(zip(top["hashtag"], top["count"])) == [
            (r["hashtag"], r["count"]) for r in last["top"]]
        assert s.latest()["window_end"] == last["window_end"]

        totals = s.sql("SELECT * FROM window_totals ORDER BY window_end")
        assert len(totals) == len(windows)
        assert str(totals["window_end"].dtype) == "datetime64[ns, UTC]"
        assert list(totals["records"]) == [w["records"] for w in windows]


def test_sql_errors_and_limits(tmp_path):
    s = replay(corpus(tmp_path / "in.jsonl"))
    s.wait()
    with pytest.raises(ValueError, match="read-only"):
        s.sql("DELETE FROM tweets")
    with pytest.raises(ValueError, match="syntax"):
        s.sql("SELEKT 1")
    with pytest.warns(UserWarning, match="max_rows"):
        assert len(s.sql("SELECT * FROM windows", max_rows=2)) == 2
    # Columns with one name twice survive.
    assert list(s.sql("SELECT 1 AS a, 2 AS a").columns) == ["a", "a"]


def test_db_path_is_kept_and_temporary_one_deleted(tmp_path):
    src = corpus(tmp_path / "in.jsonl")
    db = tmp_path / "results.db"
    s = replay(src, db=db)
    s.wait()
    assert s.db == str(db)
    s.close()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM window_totals").fetchone()[0] == 14

    t = replay(src)
    t.wait()
    temp = t.db
    assert os.path.exists(temp) and not temp.startswith(str(tmp_path))
    t.close()
    assert not os.path.exists(temp)


def test_without_a_database(tmp_path):
    s = replay(corpus(tmp_path / "in.jsonl"), db="none")
    s.wait()
    assert s.db is None
    assert list(s.top()["hashtag"]) == [r["hashtag"] for r in s.latest()["top"]]
    assert len(s.windows()) > 0
    with pytest.raises(ValueError, match="db='none'"):
        s.sql("SELECT 1")


def test_keyword_forms(tmp_path):
    src = corpus(tmp_path / "in.jsonl")
    # timedelta durations, a list repeating a flag (track), True as a bare flag (quiet).
    s = tagstream.run(source=[src], format="jsonl", time="event", batch=dt.timedelta(seconds=10),
                      window=dt.timedelta(seconds=30), track=["t1", "rare"], quiet=True, db="none")
    summary = s.wait()
    assert summary["filtered"] == 120 - 40  # #t1 on every third line; #Rare on line 7 (a #t1 line)
    assert {r["hashtag"] for w in s for r in w["top"]} == {"#all", "#t1", "#rare"}


def test_retain_bounds_the_history(tmp_path):
    s = replay(corpus(tmp_path / "in.jsonl"), retain="20s", db="none")
    s.wait()
    ends = sorted(set(s.windows()["window_end"]))
    assert ends[-1] - ends[0] <= pd.Timedelta(seconds=20)
    assert s.summary["windows"] == 14  # all were delivered; only the last ones are held


def test_event_time_windows_do_not_depend_on_workers(tmp_path):
    src = corpus(tmp_path / "in.jsonl", n=500)
    one = replay(src, db="none")
    two = replay(src, db="none", workers=2)
    one.wait(), two.wait()
    assert [w.to_json() for w in one] == [w.to_json() for w in two]


def test_show_writes_a_png_outside_jupyter(tmp_path):
    s = replay(corpus(tmp_path / "in.jsonl"))
    s.wait()
    path = s.show(tmp_path / "top.png")
    assert path == str(tmp_path / "top.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    other = s.show()  # a temporary file
    assert other.endswith(".png") and os.path.getsize(other) > 1000
    os.remove(other)


def test_a_failing_source_is_an_error_of_wait(tmp_path):
    # A file that becomes a directory between the check and the run is not worth staging;
    # an HTTP address that cannot be bound is an error of the running job.
    s = replay(corpus(tmp_path / "in.jsonl"), http="256.0.0.1:1")
    with pytest.raises(RuntimeError, match="256.0.0.1"):
        s.wait()
    assert s.error


def test_extract():
    assert tagstream.extract("Loving #Rust and #日本語 http://x.com/#not") == ["Rust", "日本語"]
    assert tagstream.extract("Loving #Rust, #rust and #RUST!", mode="spark") == [
        "#rust,", "#rust", "#rust!"]
    assert tagstream.extract("") == []
    with pytest.raises(ValueError, match="mode 'cashtag'"):
        tagstream.extract("$A", mode="cashtag")


def test_an_approximate_window_carries_its_errors(tmp_path):
    """Past max_tags a window's counts are upper bounds: windows(), to_pandas() and top() give
    each row's error as the JSON line does, and the truth lies in [count − error, count]."""
    src = tmp_path / "many.jsonl"
    hot_at = []  # the times of #hot's occurrences
    with open(src, "w", encoding="utf-8") as f:
        for i in range(3000):
            t = T0 + i // 100
            tags = ["#hot"] * (1 + i % 2) + [f"#r{i}"]  # one heavy tag, 3,000 single ones
            hot_at += [t] * (1 + i % 2)
            f.write(json.dumps({"created_at": t, "text": " ".join(tags)}) + "\n")
    with replay(str(src), batch="60s", window="60s", max_tags=50) as s:
        s.wait(timeout=60)
        windows = list(s)
        approx = [w for w in windows if w.get("approx")]
        assert approx, "3,000 distinct tags past max_tags=50 make approximate windows"
        hist = s.windows()
        json_errors = [r.get("error", 0) for w in windows for r in w["top"]]
        assert list(hist["error"]) == json_errors
        assert max(json_errors) > 0
        pd.testing.assert_frame_equal(
            hist, pd.concat([w.to_pandas() for w in windows], ignore_index=True))
        last = windows[-1]
        top = s.top()
        assert list(top["error"]) == [r.get("error", 0) for r in last["top"]]
        for _, row in hist[hist["hashtag"] == "#hot"].iterrows():
            lo, hi = row["window_start"].timestamp(), row["window_end"].timestamp()
            true = sum(lo <= t < hi for t in hot_at)
            assert row["count"] - row["error"] <= true <= row["count"], (row, true)
