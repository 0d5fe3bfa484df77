"""The tutorial's rule as a Bytewax user writes it; prints the top 10 as one JSON line:
`python -m bytewax.run 'bench/peers/bytewax_flow.py:trending("FILE")'` (1 worker).

FileSource -> flat_map with the tutorial's lambda (split on " ", keep the tokens whose
lower-case form starts with "#", lower-cased) -> count_final -> top 10 (count descending,
then tag ascending: tagstream's order, so ties at the cut are cut the same way).
"""
import json

import bytewax.operators as op
from bytewax.connectors.files import FileSource
from bytewax.connectors.stdio import StdOutSink
from bytewax.dataflow import Dataflow


def keep_top(top, tag_count):
    top.append(tag_count)
    if len(top) > 1000:
        top.sort(key=lambda tc: (-tc[1], tc[0]))
        del top[10:]
    return top


def as_json(key_top):
    top = sorted(key_top[1], key=lambda tc: (-tc[1], tc[0]))[:10]
    return json.dumps({"top": top})


def trending(path):
    flow = Dataflow("trending_hashtags")
    lines = op.input("lines", flow, FileSource(path))
    tags = op.flat_map("tags", lines,
                       lambda text: [w.lower() for w in text.split(" ") if w.lower().startswith("#")])
    counts = op.count_final("count", tags, lambda tag: tag)
    everything = op.key_on("all", counts, lambda _tag_count: "all")
    top = op.fold_final("top10", everything, list, keep_top)
    op.output("out", op.map("json", top, as_json), StdOutSink())
    return flow
