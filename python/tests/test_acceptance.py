"""The issue's acceptance: the election corpus replayed in event time gives Stream.windows()
rows equal to the CLI's --out for the same flags, and tagstream.extract agrees with
`tagstream extract` on the twitter-text conformance cases."""

import importlib.util
import json
import subprocess

import pandas as pd

import tagstream

# The parity run of tests/parity.rs and examples/election.toml, with a retention long enough
# to hold all nine months in the history (the CLI's --out does not depend on it).
FLAGS = dict(format="jsonl", text_field="text", time="event", time_field="created_at",
             extract="spark", batch="1h", window="1d", slide="6h", top=10, retain="3650d",
             db="none")


def argv(flags):
    out = []
    for k, v in flags.items():
        out += ["--" + k.replace("_", "-"), str(v)]
    return out


def test_election_windows_equal_the_cli_out(repo, cli, tmp_path):
    corpus = repo / "tests/data/election/election_tweets_2016.jsonl"
    out = tmp_path / "out.jsonl"
    subprocess.run([cli, "run", "--source", str(corpus), *argv(FLAGS), "--tui", "off",
                    "--quiet", "--out", str(out)], check=True)
    lines = out.read_text(encoding="utf-8").splitlines()
    expected_rows = [
        (w["window_start"], w["window_end"], r["rank"], r["hashtag"], r["count"],
         r.get("error", 0))
        for w in map(json.loads, lines) for r in w["top"]
    ]
    expected = pd.DataFrame(expected_rows, columns=["window_start", "window_end", "rank",
                                                    "hashtag", "count", "error"])
    for c in ("window_start", "window_end"):
        expected[c] = pd.to_datetime(expected[c], utc=True).astype("datetime64[ns, UTC]")
    expected = expected.astype({"rank": "int64", "count": "int64", "hashtag": "object",
                                "error": "int64"})

    stream = tagstream.run(source=corpus, quiet=True, **FLAGS)
    summary = stream.wait(timeout=120)
    got = stream.windows()
    assert len(lines) > 1000 and len(got) > 4000
    pd.testing.assert_frame_equal(got, expected)
    # Each window as iterated, totals and empty windows included, is the CLI's line.
    assert [w.to_json() for w in stream] == lines
    assert summary["windows"] == len(lines) and summary["records"] == 6444


def load_conformance(repo):
    d = repo / "crates/hashtag/tests/data/twitter-text"
    spec = importlib.util.spec_from_file_location("check_hashtags", d / "check_hashtags.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, mod.load_cases(str(d / "conformance"), True)


def test_extract_passes_the_conformance_cases(repo):
    _, cases = load_conformance(repo)
    failed = [(c.description, c.text, tagstream.extract(c.text)) for c in cases
              if not c.check(tagstream.extract(c.text))]
    assert len(cases) == 156
    assert failed == []


def test_extract_agrees_with_the_cli(repo, cli):
    mod, cases = load_conformance(repo)
    lines = [mod.encode(c.text, "escape") for c in cases]
    for mode in ("hashtags", "spark"):
        out = subprocess.run([cli, "extract", "--unescape", "--extract", mode],
                             input="".join(l + "\n" for l in lines), capture_output=True,
                             text=True, check=True).stdout.splitlines()
        assert len(out) == len(cases)
        for c, line in zip(cases, out):
            assert tagstream.extract(c.text, mode=mode) == json.loads(line), c.description
