"""`tagstream.run` and `Stream`: keywords → a `tagstream run` command line → the engine."""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
import warnings
import weakref
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from . import _native

__all__ = ["run", "Stream", "Window"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
# The columns of `windows()` and `Window.to_pandas()`: the `windows` table's.
_WINDOW_COLUMNS = ["window_start", "window_end", "rank", "hashtag", "count"]
# The columns of `trends()`: the `trends` table's.
_TREND_COLUMNS = ["window_start", "window_end", "rank", "hashtag", "score", "count", "expected",
                  "authors"]


def _utc(ms: int) -> _dt.datetime:
    """Epoch milliseconds → a timezone-aware UTC datetime (exact, no float rounding)."""
    return _EPOCH + _dt.timedelta(milliseconds=ms)


def _times(ms: Sequence[int]):
    """Epoch milliseconds → a `datetime64[ns, UTC]` pandas Series."""
    import pandas as pd

    return pd.Series(pd.to_datetime(list(ms), unit="ms", utc=True)).astype("datetime64[ns, UTC]")


def _ms_of(t: Any) -> int:
    """A time for `since`: a datetime (naive means UTC), a pandas Timestamp, an RFC 3339
    string, or epoch seconds."""
    if isinstance(t, str):
        s = t.strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        try:
            t = _dt.datetime.fromisoformat(s)
        except ValueError:
            raise ValueError(f"since: '{t}' is not an RFC 3339 time") from None
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        return (t - _EPOCH) // _dt.timedelta(milliseconds=1)
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        return int(t * 1000)
    raise ValueError(f"since: expected a datetime, an RFC 3339 string or epoch seconds, got {t!r}")


def _flag_value(name: str, value: Any) -> str:
    """One keyword's value as the command line's text."""
    if isinstance(value, _dt.timedelta):
        ms = value // _dt.timedelta(milliseconds=1)
        if ms * _dt.timedelta(milliseconds=1) != value:
            raise ValueError(f"--{name}: {value} is not a whole number of milliseconds")
        return f"{ms}ms"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError(f"--{name}: cannot use a {type(value).__name__} as a value ({value!r})")


def _argv(keywords: Dict[str, Any]) -> List[str]:
    """Keywords → `["tagstream", "run", "--name=value", …]`: `None` and `False` leave a flag
    out, `True` gives it bare, a list repeats it."""
    argv = ["tagstream", "run"]
    for key, value in keywords.items():
        name = key.replace("_", "-")
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if v is None or v is False:
                continue
            if v is True:
                argv.append(f"--{name}")
            else:
                # --name=value: a value starting with '-' stays a value.
                argv.append(f"--{name}={_flag_value(name, v)}")
    return argv


def run(
    source: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]], None] = None,
    format: Optional[str] = None,
    time: Optional[str] = None,
    batch: Any = None,
    window: Any = None,
    slide: Any = None,
    top: Optional[int] = None,
    extract: Optional[str] = None,
    author_field: Optional[str] = None,
    **options: Any,
) -> "Stream":
    """Starts the engine on `source` and returns the running :class:`Stream`.

    Every flag of ``tagstream run`` is a keyword with the same name (``_`` for ``-``) and the
    same meaning, default and error::

        source        a file path, "-", socket://HOST:PORT, listen://…, gen://?rate=N&seed=S&count=C,
                      x://, jetstream://, mastodon://HOST/public, kafka://HOST:PORT/TOPIC
                      (a list for several)
        format        "text" (default) or "jsonl"
        time          "processing" (default) or "event" (with format="jsonl")
        batch         batch interval, default "10s" (a string such as "500ms", "1h", or a timedelta)
        window        window length, default "60s": a multiple of the batch
        slide         slide, default the batch: a multiple of the batch
        top           rows per window, default 10
        extract       "hashtags" (default, twitter-text) or "spark" (the tutorial's rule)
        author_field  the JSON field naming each post's author (dotted path, e.g. "user.id"):
                      trends then count distinct authors, not posts (x://, jetstream://,
                      mastodon:// and gen:// name authors themselves)
        **options     every other flag: workers=2, lateness="30s", time_field="created_at",
                      text_field="data.text", track=["a", "b"], db="results.db", retain="7d",
                      http="127.0.0.1:8080" (True: the default address), out="windows.jsonl",
                      duration="1m", checkpoint_dir="ckpt", sink=[…], quiet=True, config="x.toml",
                      max_tags=20000 (bounded memory: past it a window has "approx": True and
                      each row an "error"), …

    A keyword left at ``None`` leaves its flag out, so the command line's default applies (and a
    ``config=`` file or ``TAGSTREAM_*`` variable, exactly as for the binary). ``True`` gives a
    bare flag, a list repeats the flag. Two defaults differ from the binary's: ``db`` is a
    temporary database private to this stream (deleted with it; pass a path to keep it, or
    ``"none"``), and ``tui`` is ``"off"``.

    Raises :class:`ValueError` with the command line's one-line error (which names the flag)
    when a keyword or a value is wrong; an unknown keyword is an unknown flag.
    """
    keywords: Dict[str, Any] = {
        "source": source,
        "format": format,
        "time": time,
        "batch": batch,
        "window": window,
        "slide": slide,
        "top": top,
        "extract": extract,
        "author_field": author_field,
    }
    keywords.update(options)
    return Stream(_argv(keywords))


class Window(dict):
    """One closed window: a dict with the keys of the ``--out`` JSON line (DESIGN.md §4),
    ``window_start`` and ``window_end`` as timezone-aware UTC datetimes::

        {"window_start": datetime, "window_end": datetime, "records": 12, "tagged": 3,
         "tags": 5, "distinct": 4, "late": 0,
         "top": [{"rank": 1, "hashtag": "#trump2016", "count": 2}, …],
         "trending": [{"rank": 1, "hashtag": "#x", "score": 4.5, "count": 9, "expected": 2.0,
                       "authors": 5}, …]}

    Past ``max_tags`` a window also has ``"approx": True``, ``"max_tags"`` and ``"bound"``, and
    each ``top`` row an ``"error"``: the true count is in ``[count - error, count]``.
    """

    __slots__ = ("_line",)

    def __init__(self, start_ms: int, end_ms: int, line: str):
        d = json.loads(line)
        d["window_start"] = _utc(start_ms)
        d["window_end"] = _utc(end_ms)
        super().__init__(d)
        self._line = line

    def to_pandas(self):
        """The window's rows as a DataFrame: window_start, window_end (``datetime64[ns,
        UTC]``), rank, hashtag, count, error (int64: the most the count may overstate, 0
        unless the window is approximate), best first."""
        import pandas as pd

        top = self["top"]
        n = len(top)
        return pd.DataFrame(
            {
                "window_start": _times([_ms(self["window_start"])] * n),
                "window_end": _times([_ms(self["window_end"])] * n),
                "rank": pd.Series([r["rank"] for r in top], dtype="int64"),
                "hashtag": pd.Series([r["hashtag"] for r in top], dtype="object"),
                "count": pd.Series([r["count"] for r in top], dtype="int64"),
                "error": pd.Series([r.get("error", 0) for r in top], dtype="int64"),
            }
        )

    def to_json(self) -> str:
        """The window's JSON line, exactly as ``--out`` writes it."""
        return self._line


def _ms(t: _dt.datetime) -> int:
    return (t - _EPOCH) // _dt.timedelta(milliseconds=1)


def _windows_frame(starts, ends, ranks, tags, counts, errors):
    import pandas as pd

    return pd.DataFrame(
        {
            "window_start": _times(starts),
            "window_end": _times(ends),
            "rank": pd.Series(ranks, dtype="int64"),
            "hashtag": pd.Series(tags, dtype="object"),
            "count": pd.Series(counts, dtype="int64"),
            "error": pd.Series(errors, dtype="int64"),
        }
    )


def _trends_frame(starts, ends, ranks, tags, scores, counts, expected, authors):
    import pandas as pd

    return pd.DataFrame(
        {
            "window_start": _times(starts),
            "window_end": _times(ends),
            "rank": pd.Series(ranks, dtype="int64"),
            "hashtag": pd.Series(tags, dtype="object"),
            "score": pd.Series(scores, dtype="float64"),
            "count": pd.Series(counts, dtype="int64"),
            "expected": pd.Series(expected, dtype="float64"),
            # Nullable: <NA> where the input names no authors (posts were scored).
            "authors": pd.Series(authors, dtype="Int64"),
        }
    )


def _finalize(job, tmpdir: Optional[str]) -> None:
    """When a Stream goes away (or at exit): stop its job, then delete its temporary
    database."""
    job.stop()
    try:
        job.wait(30.0)
    except BaseException:  # an interrupt at exit: the job still stops
        pass
    if tmpdir:
        shutil.rmtree(tmpdir, ignore_errors=True)


class Stream:
    """A running ``tagstream run``: the engine on threads of its own.

    Iterate it for each window as it closes (:class:`Window` dicts, from the first window
    still held); read results with :meth:`top`, :meth:`windows`, :meth:`trends` and
    :meth:`sql`; draw them
    with :meth:`show`; end it with :meth:`stop` or wait for a finite source's end with
    :meth:`wait`. As a context manager it is stopped on leaving the block. Ctrl-C while a
    method waits (a notebook's interrupt too) stops the stream cleanly — open windows are
    emitted, outputs flushed — and then raises ``KeyboardInterrupt``.
    """

    def __init__(self, argv: List[str]):
        tmpdir = tempfile.mkdtemp(prefix="tagstream-")
        try:
            self._job = _native.Job(argv, os.path.join(tmpdir, "results.db"))
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        if not (self._job.db or "").startswith(tmpdir):
            shutil.rmtree(tmpdir, ignore_errors=True)
            tmpdir = None
        self.argv = list(argv)
        self._finalizer = weakref.finalize(self, _finalize, self._job, tmpdir)

    def __repr__(self) -> str:
        state = "done" if self._job.done else "running"
        return f"<tagstream.Stream {state}, {self._job.windows_delivered} windows: {' '.join(self.argv[2:])}>"

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True until the stream has ended."""
        return not self._job.done

    @property
    def db(self) -> Optional[str]:
        """The results database's path (``None`` with ``db="none"``)."""
        return self._job.db

    @property
    def summary(self) -> Optional[Dict[str, Any]]:
        """The run's summary (records, rates, skips by reason, …) once it has ended well."""
        s = self._job.summary
        return json.loads(s) if s else None

    @property
    def error(self) -> Optional[str]:
        """Why the stream failed, if it did."""
        return self._job.error

    def wait(self, timeout: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """Waits for the stream to end (a finite source's end, ``duration``, or :meth:`stop`)
        and returns its summary; ``None`` if ``timeout`` seconds pass first. Raises
        ``RuntimeError`` if the engine failed."""
        if not self._job.wait(timeout):
            return None
        if self._job.error:
            raise RuntimeError(f"tagstream: {self._job.error}")
        return self.summary

    def stop(self, wait: bool = True) -> Optional[Dict[str, Any]]:
        """Stops the stream: open windows are emitted and outputs flushed. With ``wait``
        (default) returns the summary once it has ended. Safe from any thread."""
        self._job.stop()
        return self.wait() if wait else None

    def close(self) -> None:
        """Stops the stream and deletes its temporary database (if it has one); results can no
        longer be queried."""
        self._finalizer()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._job.stop()
        if exc_type is None:
            self.wait()
        else:
            try:
                self._job.wait()
            except BaseException:
                pass

    # -- windows ------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Window]:
        """Each window as it closes, from the first still held (see :meth:`windows`), until
        the stream ends. Raises ``RuntimeError`` at the end if the engine failed.

        Ctrl-C while the loop waits for a window stops the stream (cleanly) and raises
        ``KeyboardInterrupt``; one that lands in the loop's own body leaves the stream
        running, as ``break`` does (stop it with :meth:`stop`)."""
        after = -1
        while True:
            try:
                got = self._job.next_window(after)
            except StopIteration:
                if self._job.error:
                    raise RuntimeError(f"tagstream: {self._job.error}") from None
                return
            except KeyboardInterrupt:
                self._interrupted()
                raise
            if got is None:
                continue
            seq, start_ms, end_ms, line = got
            after = seq
            try:
                window = Window(start_ms, end_ms, line)
            except KeyboardInterrupt:
                self._interrupted()
                raise
            yield window

    def _interrupted(self) -> None:
        """A Ctrl-C raised in Python code of ours: stop the stream as the native waits do."""
        self._job.stop()
        try:
            self._job.wait()
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            pass

    def latest(self, timeout: Optional[float] = 0.0) -> Optional[Window]:
        """The newest window, waiting up to ``timeout`` seconds (``None``: until there is one
        or the stream ends) if there is none yet."""
        try:
            got = self._job.next_window(-1, True, timeout)
        except StopIteration:
            return None
        return None if got is None else Window(got[1], got[2], got[3])

    def windows(self, since: Any = None):
        """The history: every row of every window this stream delivered (ending after
        ``since``, if given), oldest first, as a DataFrame with the ``windows`` table's
        columns: window_start, window_end (``datetime64[ns, UTC]``), rank, hashtag, count,
        error (int64; error is 0 unless ``max_tags`` made the window approximate: the true
        count is in [count − error, count]). A window without tags has no rows.

        Kept in memory, with the ``windows`` table's retention: windows that ended more than
        ``retain`` (default 7 days, of the stream's own time) before the newest are dropped.
        Replaying a longer corpus, pass e.g. ``retain="3650d"`` to :func:`run`. Works with
        ``db="none"`` too.
        """
        since_ms = None if since is None else _ms_of(since)
        return _windows_frame(*self._job.history(since_ms))

    def trends(self, since: Any = None):
        """What was rising: the trending rows of every window this stream delivered (ending
        after ``since``, if given), oldest window first and best first within a window, as a
        DataFrame with the ``trends`` table's columns: window_start, window_end
        (``datetime64[ns, UTC]``), rank (int64), hashtag, score (float64), count (int64),
        expected (float64), authors (``Int64``: ``<NA>`` when the input names no authors).

        A tag trends when its distinct authors in the window (its posts, without authors) are
        at least twice its expected level, learned from its own earlier windows (with a floor
        for tags never seen); score = (observed − expected)² / expected. A window where
        nothing rises has no rows. Kept like :meth:`windows` (``retain``), also with
        ``db="none"``.
        """
        since_ms = None if since is None else _ms_of(since)
        return _trends_frame(*self._job.trend_history(since_ms))

    # -- results database ---------------------------------------------------------------------

    def sql(self, statement: str, max_rows: int = 10_000, timeout: float = 5.0):
        """Runs one read-only SQL statement on the results database (``tagstream sql``'s
        rules: tables tweets, counts, windows, window_totals, trends) and returns a DataFrame.
        Columns named window_start or window_end become ``datetime64[ns, UTC]``. A result cut
        at ``max_rows`` gives a warning. Bad or writing SQL raises ``ValueError``."""
        import pandas as pd

        if not self._job.db:
            raise ValueError("no results database: this stream was started with db='none'")
        columns, rows, truncated = _native.sql(self._job.db, statement, max_rows, timeout)
        if truncated:
            warnings.warn(f"SQL result cut at {max_rows} rows (max_rows)", stacklevel=2)
        # Unique column names for the frame's construction; the result keeps SQLite's.
        frame = pd.DataFrame(rows, columns=range(len(columns)))
        frame.columns = columns
        for i, c in enumerate(columns):
            if c in ("window_start", "window_end"):
                col = frame.iloc[:, i]
                if all(isinstance(v, str) for v in col):
                    frame[c] = pd.to_datetime(col, utc=True, format="ISO8601").astype(
                        "datetime64[ns, UTC]"
                    )
        return frame

    def top(self):
        """The ``tweets`` table — the top-K of the latest window, as in the tutorial — as a
        DataFrame with columns hashtag, count, error (int64; error as in :meth:`windows`),
        best first. Empty before the first window. With ``db="none"``, the same from the
        latest window delivered."""
        import pandas as pd

        if self._job.db:
            t = self.sql("SELECT hashtag, count, error FROM tweets ORDER BY count DESC, hashtag")
            return pd.DataFrame(
                {
                    "hashtag": pd.Series(list(t["hashtag"]), dtype="object"),
                    "count": pd.Series(list(t["count"]), dtype="int64"),
                    "error": pd.Series(list(t["error"]), dtype="int64"),
                }
            )
        w = self.latest()
        rows = w["top"] if w else []
        return pd.DataFrame(
            {
                "hashtag": pd.Series([r["hashtag"] for r in rows], dtype="object"),
                "count": pd.Series([r["count"] for r in rows], dtype="int64"),
                "error": pd.Series([r.get("error", 0) for r in rows], dtype="int64"),
            }
        )

    # -- charts -------------------------------------------------------------------------------

    def show(self, path: Union[str, os.PathLike, None] = None, block: bool = False,
             interval: float = 0.5):
        """Draws the latest window's top-K as a bar chart (matplotlib).

        In Jupyter (and without ``path``): displays it and redraws it in place as windows
        close, at most every ``interval`` seconds, from a background thread (``block=True``:
        in this call, until the stream ends); returns the display handle. Elsewhere, or with
        ``path``: writes a PNG (to ``path``, or a new temporary file) and returns its path.
        """
        from . import _chart

        if path is None and _chart.in_jupyter():
            return _chart.live(self, block=block, interval=interval)
        if path is None:
            fd, path = tempfile.mkstemp(prefix="tagstream-top-", suffix=".png")
            os.close(fd)
        path = os.fspath(path)
        with open(path, "wb") as f:
            f.write(_chart.png(self.latest(), title=self._title()))
        return path

    def _title(self) -> str:
        sources = [a.split("=", 1)[1] for a in self.argv[2:] if a.startswith("--source=")]
        return "tagstream — " + ", ".join(sources)

