#!/usr/bin/env python3
"""Run twitter-text's hashtag conformance cases through a line-oriented extractor.

usage: check_hashtags.py [options] CMD [ARG ...]
       check_hashtags.py [options] "CMD ARG ..."     (a single argument is run by the shell)

The program under test must:
  * read UTF-8 text on stdin, one case per line (lines are separated by '\\n' only);
  * write, for every input line, exactly one output line: a JSON array of the hashtags
    found in that line, without the '#'/'＃' sign, in order of appearance
    (e.g.  ["hashtag","日本語ハッシュタグ"]  or  [] ).
All cases are sent in one run of the program. If it exits non-zero or prints the wrong
number of lines, every case is re-run one at a time so the failures can be attributed.

Line breaks inside a case's text (the conformance data has one such case,
"Hashtag before newline") are encoded according to --newline:
  escape (default)  every '\\' becomes the two characters '\\\\', every LF becomes the two
                    characters '\\n' and every CR the two characters '\\r'. The program
                    must undo this (e.g. a --unescape flag). No other escapes are used.
  space             every CR/LF is replaced by one U+0020 SPACE and nothing else is changed.
                    For the twitter-text hashtag rules a line break and a space behave
                    identically, so this is lossless for these cases and needs no decoding.

Case sets:
  default   conformance/extract.yml: tests.hashtags, tests.hashtags_from_astral,
            tests.hashtags_with_indices (only the hashtag texts are compared; indices ignored)
  --extra   also cases derived from conformance/autolink.yml (tests.hashtags, and the
            tests.all cases whose text contains a hash sign; expected = the title="#..."
            of every hashtag link, in order) and conformance/validate.yml tests.hashtags
            (expected true  -> output must be exactly [text without its first char];
             expected false -> output must be anything else)

The YAML files are looked up in --dir, $TT_CONFORMANCE_DIR, ./conformance next to this
script, then <repo>/shared/twitter-text/conformance. Needs PyYAML.

Output: one block per failing case, then a final line exactly of the form
    N passed, M failed
Exit status: 0 if M == 0, 1 if any case failed, 2 on a setup error.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def find_dir(explicit):
    if explicit:
        if os.path.exists(os.path.join(explicit, "extract.yml")):
            return os.path.normpath(explicit)
        sys.stderr.write("check_hashtags.py: no extract.yml in %s\n" % explicit)
        sys.exit(2)
    cands = [os.environ.get("TT_CONFORMANCE_DIR"),
             os.path.join(HERE, "conformance"),
             os.path.join(HERE, "..", "..", "shared", "twitter-text", "conformance")]
    for d in cands:
        if d and os.path.exists(os.path.join(d, "extract.yml")):
            return os.path.normpath(d)
    sys.stderr.write("check_hashtags.py: extract.yml not found; use --dir\n")
    sys.exit(2)


def load_yaml(path):
    # The .json beside each .yml is the same data converted once (see LICENSE-NOTE.md), so
    # the suite runs on a machine with python3 alone; PyYAML is used only when no .json is.
    alt = os.path.splitext(path)[0] + ".json"
    if os.path.exists(alt):
        with open(alt, encoding="utf-8") as f:
            return json.load(f)["tests"]
    try:
        import yaml
    except ImportError:
        sys.stderr.write("check_hashtags.py: needs PyYAML (pip install pyyaml) for %s\n" % path)
        sys.exit(2)
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)["tests"]


class Case:
    def __init__(self, source, description, text, expected=None, negate=None):
        self.source = source            # e.g. "extract.yml:hashtags"
        self.description = description
        self.text = text
        self.expected = expected        # list of str (exact match wanted)
        self.negate = negate            # list of str the output must NOT equal (validate false)

    def check(self, got):
        if self.negate is not None:
            return got != self.negate
        return got == self.expected

    def want(self):
        if self.negate is not None:
            return "anything but " + json.dumps(self.negate, ensure_ascii=False)
        return json.dumps(self.expected, ensure_ascii=False)


LINK_RE = re.compile(r'title="[#\uFF03]([^"]*)" class="tweet-url hashtag')


def load_cases(d, extra):
    cases = []
    ex = load_yaml(os.path.join(d, "extract.yml"))
    for sec in ("hashtags", "hashtags_from_astral"):
        for c in ex.get(sec) or []:
            cases.append(Case("extract.yml:" + sec, c["description"], c["text"], list(c["expected"])))
    for c in ex.get("hashtags_with_indices") or []:
        cases.append(Case("extract.yml:hashtags_with_indices", c["description"], c["text"],
                          [e["hashtag"] for e in c["expected"]]))
    if extra:
        al = load_yaml(os.path.join(d, "autolink.yml"))
        for sec in ("hashtags", "all"):
            for c in al.get(sec) or []:
                if sec == "all" and "#" not in c["text"] and "\uFF03" not in c["text"]:
                    continue
                cases.append(Case("autolink.yml:" + sec, c["description"], c["text"],
                                  LINK_RE.findall(c["expected"])))
        va = load_yaml(os.path.join(d, "validate.yml"))
        for c in va.get("hashtags") or []:
            want = [c["text"][1:]]
            if c["expected"]:
                cases.append(Case("validate.yml:hashtags", c["description"], c["text"], want))
            else:
                cases.append(Case("validate.yml:hashtags", c["description"], c["text"], negate=want))
    return cases


def encode(text, mode):
    if mode == "escape":
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def run(cmd, lines, timeout):
    data = "".join(l + "\n" for l in lines).encode("utf-8")
    shell = isinstance(cmd, str)
    try:
        p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           shell=shell, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %ss" % timeout
    except OSError as e:
        return None, "could not start: %s" % e
    out = p.stdout.decode("utf-8", errors="replace").split("\n")
    if out and out[-1] == "":
        out.pop()
    err = p.stderr.decode("utf-8", errors="replace").strip()
    if p.returncode != 0:
        return out, "exit status %d%s" % (p.returncode, (": " + err[-500:]) if err else "")
    return out, None


def parse(line):
    try:
        v = json.loads(line)
    except ValueError as e:
        return None, "output is not JSON (%s): %r" % (e, line[:200])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        return None, "output is not a JSON array of strings: %r" % line[:200]
    return v, None


def main():
    ap = argparse.ArgumentParser(
        description="Run twitter-text hashtag conformance cases through CMD.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__)
    ap.add_argument("--dir", help="folder holding extract.yml (and autolink.yml, validate.yml)")
    ap.add_argument("--newline", choices=("escape", "space"), default="escape",
                    help="how a line break inside a case is encoded (default: escape)")
    ap.add_argument("--extra", action="store_true",
                    help="also run the hashtag cases derived from autolink.yml and validate.yml")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per run (default 60)")
    ap.add_argument("--quiet", action="store_true", help="print only the final line")
    ap.add_argument("--list", action="store_true", help="print the encoded inputs and exit")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="program under test")
    a = ap.parse_args()
    if a.cmd and a.cmd[0] == "--":
        a.cmd = a.cmd[1:]
    d = find_dir(a.dir)
    cases = load_cases(d, a.extra)
    lines = [encode(c.text, a.newline) for c in cases]
    if a.list:
        for c, l in zip(cases, lines):
            print(l)
        return 0
    if not a.cmd:
        ap.error("no program given")
    cmd = a.cmd[0] if len(a.cmd) == 1 else a.cmd

    out, err = run(cmd, lines, a.timeout)
    results = []
    if err is None and out is not None and len(out) == len(cases):
        results = [(o, None) for o in out]
    else:
        why = err or "printed %d lines for %d inputs" % (len(out or []), len(cases))
        sys.stderr.write("note: batch run failed (%s); re-running one case at a time\n" % why)
        for l in lines:
            o, e = run(cmd, [l], a.timeout)
            if e is None and o is not None and len(o) != 1:
                e = "printed %d lines for 1 input" % len(o)
            results.append(((o or [""])[0] if e is None else None, e))

    passed = failed = 0
    for c, (o, e) in zip(cases, results):
        got = None
        if e is None:
            got, e = parse(o)
        if e is None and c.check(got):
            passed += 1
            continue
        failed += 1
        if not a.quiet:
            print("FAIL [%s] %s" % (c.source, c.description))
            print("  text:     %s" % json.dumps(c.text, ensure_ascii=False))
            print("  expected: %s" % c.want())
            print("  got:      %s" % (json.dumps(got, ensure_ascii=False) if e is None else "<" + e + ">"))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
