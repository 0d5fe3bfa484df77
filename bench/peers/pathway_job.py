"""The tutorial's rule as a Pathway user writes it: `python pathway_job.py FILE`; prints the
top 10 as one JSON line.

plaintext.read (static) -> pw.apply with the tutorial's lambda (split on " ", keep the tokens
whose lower-case form starts with "#", lower-cased) -> flatten -> groupby().reduce(count) ->
top 10 (count descending, then tag ascending: tagstream's order).
"""
import json
import sys

import pathway as pw

lines = pw.io.plaintext.read(sys.argv[1], mode="static")
tags = lines.select(
    tag=pw.apply(lambda text: [w.lower() for w in text.split(" ") if w.lower().startswith("#")],
                 pw.this.data)
).flatten(pw.this.tag)
counts = tags.groupby(pw.this.tag).reduce(pw.this.tag, count=pw.reducers.count())
df = pw.debug.table_to_pandas(counts)
top = df.sort_values(["count", "tag"], ascending=[False, True]).head(10)
print(json.dumps({"top": [[t, int(c)] for t, c in zip(top["tag"], top["count"])]}))
