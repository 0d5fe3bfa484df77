"""`Stream.show()`: the latest window's top-K as a bar chart (matplotlib, no pyplot, no
browser code): redrawn in place in Jupyter through a display handle, a PNG file elsewhere."""

from __future__ import annotations

import atexit
import io
import threading
from typing import Optional

from ._stream import Window

WAITING = "waiting for the first window…"

# Redraw threads are daemons (a live stream must not keep the interpreter alive), but one
# still running while the interpreter finalizes would be cut off inside native code (the
# engine's wait or matplotlib's renderer) and abort the process: at exit they are told to
# end, and joined, before finalization starts.
_closing = threading.Event()
_threads = set()


@atexit.register
def _end_redraws() -> None:
    _closing.set()
    for t in list(_threads):
        t.join(timeout=5)


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (where display handles update in place)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def png(window: Optional[Window], title: str = "tagstream", size=(8.0, 4.5), dpi: int = 100) -> bytes:
    """The window's top-K as a horizontal bar chart, best at the top, as PNG bytes. Without
    a window (or tags) the chart says so: there is always an image."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("Stream.show() draws with matplotlib: pip install matplotlib") from None

    fig = Figure(figsize=size, dpi=dpi)
    ax = fig.subplots()
    rows = window["top"] if window else []
    if rows:
        tags = [r["hashtag"] for r in rows][::-1]
        counts = [r["count"] for r in rows][::-1]
        bars = ax.barh(range(len(tags)), counts, color="#3b7dd8")
        ax.set_yticks(range(len(tags)))
        ax.set_yticklabels(tags)
        ax.bar_label(bars, padding=3)
        ax.set_xlabel("count")
        ax.margins(x=0.12)
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, WAITING if window is None else "no tags in this window",
                ha="center", va="center", fontsize=14, color="#666666")
    if window is not None:
        end = window["window_end"].strftime("%Y-%m-%d %H:%M:%S UTC")
        ax.set_title(
            f"top {len(rows)} of the window ending {end}\n"
            f"{window['records']:,} records, {window['distinct']:,} distinct tags",
            fontsize=10,
        )
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def live(stream, block: bool = False, interval: float = 0.5):
    """Displays the chart in Jupyter and redraws it as windows close (the newest each time,
    at most every `interval` seconds) until the stream ends."""
    from IPython.display import Image, display

    job, title = stream._job, stream._title()
    after = -1
    try:
        got = job.next_window(-1, True, 0.0)
    except StopIteration:
        got = None
    first = None
    if got is not None:
        after = got[0]
        first = Window(got[1], got[2], got[3])
    handle = display(Image(data=png(first, title)), display_id=True)

    def redraw(after: int) -> None:
        # Only the job is held here, so a Stream nobody holds can still be collected (which
        # stops the job and so ends this loop).
        try:
            while not _closing.is_set():
                try:
                    got = job.next_window(after, True, 0.25)
                except StopIteration:
                    return
                if got is None:
                    continue
                after = got[0]
                handle.update(Image(data=png(Window(got[1], got[2], got[3]), title)))
                _closing.wait(interval)
        finally:
            _threads.discard(threading.current_thread())

    if block:
        redraw(after)
    else:
        t = threading.Thread(target=redraw, args=(after,), name="tagstream-chart", daemon=True)
        _threads.add(t)
        t.start()
    return handle
