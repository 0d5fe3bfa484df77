"""tagstream in Python: the engine embedded, results as pandas DataFrames.

The tagstream engine (live top-K hashtags over sliding windows, on timely dataflow) runs
inside this process, on threads of its own, with the GIL released::

    import tagstream

    stream = tagstream.run(source="gen://?rate=2000", batch="1s", window="10s")
    for window in stream:             # each window as it closes: a dict
        print(window["window_end"], window["top"][:3])
        break
    stream.top()                      # the `tweets` table: a pandas DataFrame
    stream.sql("SELECT hashtag, SUM(count) AS n FROM windows GROUP BY hashtag ORDER BY n DESC")
    stream.show()                     # a bar chart, updated in place in Jupyter
    stream.stop()

Every flag of ``tagstream run`` is a keyword of :func:`run`, with the same name (``_`` for
``-``) and the same errors, raised as :class:`ValueError`.
"""

from ._native import __version__, extract
from ._stream import Stream, Window, run

__all__ = ["run", "Stream", "Window", "extract", "__version__"]
