"""Helpers the bench scripts share (python3 stdlib only): logging, reading files and command
output, command lines as they can be read back, free ports, and tagstream's /metrics."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The script's name, for its error lines ("peers: ...").
PROG = os.path.splitext(os.path.basename(sys.argv[0]))[0]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def die(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def out_of(cmd, **kw):
    """What a command prints (stdout, else stderr), stripped; "" if it cannot run."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, **kw)
        return (r.stdout or r.stderr).strip()
    except OSError:
        return ""


def show(cmd):
    """A command line as it can be read back: the binary by name, paths under the repo or ~ short."""
    home = os.path.expanduser("~")
    out = []
    for i, c in enumerate(cmd):
        if i == 0 and c.endswith("/tagstream"):
            c = "tagstream"
        c = c.replace(REPO + "/", "").replace(home, "~")
        out.append(c if re.fullmatch(r"[\w@%+=:,./~\[\]-]+", c) else "'" + c.replace("'", "'\\''") + "'")
    return " ".join(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(port, timeout=5, per_source=True):
    """The /metrics exposition as {name or name{labels}: value}; with per_source=False the
    per-source series lose their labels (one source: its name is not needed)."""
    try:
        txt = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout).read().decode()
    except Exception:
        return {}
    out = {}
    for line in txt.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            if not per_source and k.startswith("tagstream_source_"):
                k = re.sub(r"\{.*\}", "", k)
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def gen_file(binary, n):
    """gen.py's N lines (seed 42) when ../shared/bench/gen.py is there, else `tagstream gen`'s,
    cached under target/bench/data (the peers and soak runs share them): (path, how made)."""
    data = os.path.join(REPO, "target", "bench", "data")
    os.makedirs(data, exist_ok=True)
    gen = os.path.join(REPO, "..", "shared", "bench", "gen.py")
    if os.path.exists(gen):
        path = os.path.join(data, f"gen-{n}-42.txt")
        how = (f"`python3 ../shared/bench/gen.py file --n {n} --seed 42` (gen.py's tweets: 100–140 chars, "
               "0–3 hashtags, Zipf over 50,000 tags, mixed case, 15% with trailing punctuation)")
        cmd = [sys.executable, gen, "file", "--n", str(n), "--seed", "42", "--out", path + ".tmp"]
    else:
        path = os.path.join(data, f"tagstream-gen-{n}-42.txt")
        how = f"`tagstream gen --count {n} --seed 42` (../shared/bench/gen.py is absent here)"
        cmd = [binary, "gen", "--count", str(n), "--seed", "42"]
    if not os.path.exists(path):
        log(f"writing {n} lines: {show(cmd)}")
        if "--out" in cmd:  # gen.py writes the file itself
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        else:
            with open(path + ".tmp", "w") as f:
                subprocess.run(cmd, check=True, stdout=f)
        os.replace(path + ".tmp", path)
    return path, how
