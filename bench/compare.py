#!/usr/bin/env python3
"""tagstream vs the tutorial's Spark pipeline, on the same input and machine, in one run.

Called by bench/compare.sh (which builds the binary first); python3 stdlib only. See
`bench/compare.sh --help` for the options and bench/runs/*-compare*/summary.md for results.

Parts (--only):
  socket        highest sustained socket rate, tagstream 1 and 2 workers (rate ladder)
  latency       tagstream at 10,000 lines/s: peak RSS, start -> ready, window end -> visible
  replay        the 5M-line file (text) and its JSON-lines form, 1 and 2 workers
  spark-socket  the tuned DStream job (dstream_app.py) at a rate ladder, as run_stream.sh
  spark-batch   batch_job.py df and rdd over the 5M-line file, as run_batch.sh
Every socket run, either engine, is fed by ONE line server: `tagstream gen --serve --file`
serving data/tweets_5M.txt (gen.py's file) cyclically from memory at a fixed rate.
"""
import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, free_port, log, metrics, read, show  # noqa: E402

SHARED = os.path.normpath(os.path.join(REPO, "..", "shared"))
BATCH_S = 10  # the tutorial's batch interval: Spark's "keeps up" bound on a batch's processing time
POOL = 2_000_000  # lines of the 5M file the server cycles over (run_stream.sh's --pool)


def wait_for(pred, timeout, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def fmt_int(x):
    return "-" if x is None else f"{x:,.0f}"


# ---------------------------------------------------------------------------------------------
# The line server and the resource monitor


class Server:
    """`tagstream gen --serve --file`: one client, RATE lines/s, status lines in gen.py's format."""

    def __init__(self, h, rate, port, logpath, duration=None, status="1s"):
        self.logpath = logpath
        cmd = [h.bin, "gen", "--serve", f"127.0.0.1:{port}", "--file", h.data, "--pool", str(POOL),
               "--rate", str(int(rate)), "--clients", "1", "--status", status]
        if duration:
            cmd += ["--duration", f"{duration}s"]
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(logpath, "w"))
        # Reaped here only (never by Popen.poll/wait), to get the CPU it used from wait4.
        self.cpu = 0.0
        self.reaper = threading.Thread(target=self._reap, daemon=True)
        self.reaper.start()
        if not wait_for(lambda: "listening on" in read(logpath), 60):
            self.stop()
            raise RuntimeError(f"line server did not start: {read(logpath)}")

    def _reap(self):
        _, status, ru = os.wait4(self.p.pid, 0)
        self.cpu = ru.ru_utime + ru.ru_stime
        self.p.returncode = os.waitstatus_to_exitcode(status)

    def stop(self):
        """Ends the server (it ends by itself after --duration, or once its client is gone)."""
        if self.p.returncode is None:
            try:
                os.kill(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        return self.wait()

    def wait(self):
        """Waits for the server to end; returns the CPU seconds it used."""
        self.reaper.join()
        return self.cpu

    def stats(self):
        """Status lines and the closing line of the server's log."""
        txt = read(self.logpath)
        st = [dict(t=float(m[0]), sent=int(m[1]), rate=float(m[2]), mbps=float(m[3]), backlog=int(m[4]))
              for m in re.findall(r"t=\s*([\d.]+)s sent=(\d+) rate=([\d.]+) lines/s ([\d.]+) MB/s backlog=(\d+)", txt)]
        m = re.search(r"done: (\d+) lines, ([\d.]+) MB in ([\d.]+)s = (\d+) lines/s ([\d.]+) MB/s; max backlog (\d+)", txt)
        done = None
        if m:
            done = dict(sent=int(m[1]), mb=float(m[2]), secs=float(m[3]), rate=int(m[4]), mbps=float(m[5]),
                        max_backlog=int(m[6]))
        return st, done


class Monitor:
    """../shared/bench/procmon.py on a process tree: peak RSS (summed over the tree), CPU, and the
    CPU used by everything else on the machine (other tenants) while it ran."""

    def __init__(self, h, pid, prefix, interval=1.0, extra=()):
        cmd = [sys.executable, os.path.join(h.spark_dir, "procmon.py"), str(pid), prefix, "--interval", str(interval)]
        for e in extra:
            cmd += ["--extra-pid", str(e)]
        self.prefix = prefix
        self.p = subprocess.Popen(cmd)

    def result(self):
        self.p.wait()
        try:
            return json.load(open(self.prefix + ".json"))
        except (OSError, ValueError):
            return {}


class PeakRss:
    """The kernel's high-water mark of a process's resident memory (VmHWM), read every 50 ms
    while it runs. (wait4's ru_maxrss would not do: it keeps the forking Python's own peak.)"""

    def __init__(self, pid):
        self.pid, self.mb, self.stop = pid, 0.0, False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            m = re.search(r"VmHWM:\s+(\d+) kB", read(f"/proc/{self.pid}/status"))
            if m:
                self.mb = max(self.mb, int(m[1]) / 1024)
            time.sleep(0.05)

    def result(self):
        self.stop = True
        self.t.join()
        return self.mb


def wait_rusage(p, peak):
    """Waits for a child; returns (exit status, its peak RSS in MB)."""
    p.wait()
    return p.returncode, peak.result()


def cotenant(mo, own_cpu_s):
    """Cores used by other tenants while procmon ran, less `own_cpu_s` of our own (the line
    server, which procmon can no longer see once it has exited)."""
    if "foreign_cpu_s" not in mo or not mo.get("wall_s"):
        return None
    return round(max(0.0, mo["foreign_cpu_s"] - own_cpu_s) / mo["wall_s"], 2)


def loadavg():
    try:
        return read("/proc/loadavg").split()[:3]
    except Exception:
        return ["?"] * 3


def wait_quiet(h):
    """waitquiet.py of ../shared/bench: wait (at most --wait-quiet s) for the other tenants."""
    if h.args.wait_quiet <= 0:
        return ""
    r = subprocess.run([sys.executable, os.path.join(h.spark_dir, "waitquiet.py"), "15", str(h.args.wait_quiet)],
                       capture_output=True, text=True)
    return r.stdout.strip()


# ---------------------------------------------------------------------------------------------
# tagstream


def histogram(m, name):
    """(count, upper bound of the highest non-empty bucket) of a Prometheus histogram."""
    buckets = sorted(((float("inf") if k.split('le="')[1][:-2] == "+Inf" else float(k.split('le="')[1][:-2]), v)
                      for k, v in m.items() if k.startswith(name + "_bucket{")))
    count = m.get(name + "_count", 0)
    top = None
    prev = 0
    for le, cum in buckets:
        if cum > prev:
            top = le
        prev = cum
    return int(count), top


def summary(path):
    """The run's summary, written by `--summary-json PATH` at its end (keys: records, seconds,
    records_per_s, mb_per_s, windows, ...), with the short names used here; None if absent."""
    try:
        s = json.load(open(path, encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return dict(windows=s["windows"], records=s["records"], mb=round(s["bytes"] / 1e6, 1),
                secs=round(s["seconds"], 2), rps=round(s["records_per_s"]), mbps=round(s["mb_per_s"], 1))


def run_args(h, workers, port, out, db, http):
    return ["run", "--source", f"socket://127.0.0.1:{port}", "--workers", str(workers), "--out", out,
            "--tui", "off", "--db", db, "--http", f"127.0.0.1:{http}",
            "--summary-json", out + ".summary.json"] + h.ts_args


def tag_socket(h, rate, workers, secs, attempt):
    """One rung: the server sends RATE lines/s for SECS s to `tagstream run --source socket://`.

    Keeps up when: the server sent >= 99% of RATE over the run; its backlog (lines due but not
    yet taken by the reader) never exceeded 0.5 s of lines after the first 2 s, and did not grow
    (last <= 2x the largest of the first half, + 0.1 s of lines); every batch closed during the run
    was processed (input moved past it -> dataflow done with it, /metrics histogram) within the
    10 s batch interval; and tagstream counted every line the server sent."""
    name = f"ts_socket_w{workers}_r{int(rate)}_{attempt}"
    L = os.path.join(h.logs, name)
    port, http = free_port(), free_port()
    srv = Server(h, rate, port, L + ".gen.log", duration=secs)
    cmd = [h.bin] + run_args(h, workers, port, L + ".out.jsonl", L + ".db", http)
    ts = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(L + ".ts.log", "w"))
    peak = PeakRss(ts.pid)
    mon = Monitor(h, ts.pid, L + ".mon", 1.0)
    srv_cpu = srv.wait()
    _, done = srv.stats()
    sent = done["sent"] if done else 0
    # Let tagstream drain what is buffered, then read its metrics and stop it.
    last = [-1]

    def drained():
        n = metrics(http).get("tagstream_records_in_total", 0)
        settled = n >= sent or n == last[0]
        last[0] = n
        return settled

    wait_for(drained, 15, 0.5)
    time.sleep(0.3)  # worker 0 notes a batch done on its next turn
    m = metrics(http)
    ts.send_signal(signal.SIGINT)
    _, maxrss = wait_rusage(ts, peak)
    mo = mon.result()
    st, done = srv.stats()
    d = summary(L + ".out.jsonl.summary.json") or {}
    n_batches, batch_top = histogram(m, "tagstream_batch_processing_seconds")
    steady = [s for s in st if s["t"] >= 2.0]
    max_backlog = max((s["backlog"] for s in steady), default=0)
    half = steady[: max(1, len(steady) // 2)]
    growing = bool(steady) and steady[-1]["backlog"] > 2 * max(s["backlog"] for s in half) + rate * 0.1
    achieved = done["rate"] if done else 0
    records = d.get("records", int(m.get("tagstream_records_in_total", 0)))
    checks = dict(
        rate_ok=achieved >= 0.99 * rate,
        backlog_ok=max_backlog <= 0.5 * rate and not growing,
        batches_ok=n_batches >= 1 and batch_top is not None and batch_top <= BATCH_S,
        all_counted=records == sent and sent > 0,
    )
    row = dict(part="socket", engine="tagstream", variant=f"{workers} worker{'s' if workers > 1 else ''}",
               workers=workers, rate_target=int(rate), seconds=secs, attempt=attempt, sent=sent,
               achieved_rate=achieved, mb_per_s=done["mbps"] if done else 0, max_backlog=max_backlog,
               records=records, batches=n_batches, batch_max_s=batch_top, keeps_up=all(checks.values()),
               failed_checks=" ".join(k for k, v in checks.items() if not v),
               peak_rss_mb=round(max(maxrss, mo.get("peak_tree_rss_mb", 0))), cpu_cores=mo.get("tree_cpu_avg_cores"),
               server_cpu_s=round(srv_cpu, 1), cotenant_cores=cotenant(mo, srv_cpu), log=L,
               cmd=show(cmd) + " | server: " + show(srv.cmd))
    log(f"tagstream {workers}w @ {rate:,.0f}/s: sent {achieved:,}/s, backlog max {max_backlog:,}, "
        f"batches {n_batches} (max <= {batch_top}s), counted {records == sent} -> "
        f"{'KEEPS UP' if row['keeps_up'] else 'falls behind (' + row['failed_checks'] + ')'}; "
        f"tagstream {row['cpu_cores']} cores, server {srv_cpu:.1f} s CPU, co-tenants {row['cotenant_cores']} cores")
    return row


def tag_ladder(h):
    rows, best = [], {}
    for w in (1, 2):
        best[w] = 0
        for rate in h.tag_rates:
            ok = False
            for attempt in range(1, h.args.retries + 2):
                wait_quiet(h)
                r = tag_socket(h, rate, w, h.tag_secs, attempt)
                rows.append(r)
                if r["keeps_up"]:
                    ok = True
                    break
            if not ok:
                break
            best[w] = rate
    return rows, best


class Watcher:
    """Times, against the wall clock, when each window's line appears in --out and its row in the
    SQLite store (`window_totals`, written in the same transaction as `tweets`), and when
    tagstream's stderr says 'ready'; all relative to the moment the process was started."""

    def __init__(self, out, db, stderr_pipe, stderr_path, t0):
        self.out, self.db, self.t0 = out, db, t0
        self.stop = False
        self.ready = None
        self.connected = None
        self.first_row = None
        self.lines = {}  # window end (epoch s) -> seconds from end to the --out line
        self.rows = {}  # window end -> seconds from end to the row in the store
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._tail, self._poll_db)]
        self.threads.append(threading.Thread(target=self._stderr, args=(stderr_pipe, stderr_path), daemon=True))
        for t in self.threads:
            t.start()

    def _stderr(self, pipe, path):
        with open(path, "w") as f:
            for raw in pipe:
                now = time.time()
                line = raw.decode(errors="replace")
                f.write(f"{now - self.t0:9.4f} {line}")
                if self.ready is None and "ready:" in line:
                    self.ready = now - self.t0
                if self.connected is None and ": connected" in line:
                    self.connected = now - self.t0

    @staticmethod
    def _end(s):
        return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

    def _tail(self):
        pos, buf = 0, b""
        while not self.stop:
            try:
                with open(self.out, "rb") as f:
                    f.seek(pos)
                    data = f.read()
            except OSError:
                data = b""
            now = time.time()
            if data:
                pos += len(data)
                buf += data
                *full, buf = buf.split(b"\n")
                for line in full:
                    try:
                        end = self._end(json.loads(line)["window_end"])
                        self.lines.setdefault(end, now - end)
                    except (ValueError, KeyError):
                        pass
            time.sleep(0.001)

    def _poll_db(self):
        conn = None
        last = None
        while not self.stop:
            try:
                if conn is None:
                    if not os.path.exists(self.db):
                        time.sleep(0.002)
                        continue
                    conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=0.1)
                r = conn.execute("SELECT (SELECT max(window_end) FROM window_totals), (SELECT count(*) FROM tweets)").fetchone()
                now = time.time()
                if r[0] and r[0] != last:
                    last = r[0]
                    end = self._end(r[0])
                    self.rows.setdefault(end, now - end)
                    if r[1] and self.first_row is None:
                        self.first_row = now - self.t0
            except sqlite3.Error:
                conn = None
            time.sleep(0.002)

    def finish(self):
        self.stop = True
        for t in self.threads[:2]:
            t.join()


def tag_latency(h, workers, secs, extra=()):
    """tagstream at 10,000 lines/s for SECS s: peak RSS (the kernel's, and procmon's tree sum),
    process start -> 'ready' line, window end -> its --out line and its row in the SQLite store."""
    rate = 10_000
    name = f"ts_latency_w{workers}_r{rate}" + "".join(extra).replace("-", "_")
    L = os.path.join(h.logs, name)
    port, http = free_port(), free_port()
    for f in (L + ".db", L + ".db-wal", L + ".db-shm", L + ".out.jsonl"):
        if os.path.exists(f):
            os.remove(f)
    srv = Server(h, rate, port, L + ".gen.log", status="10s")
    cmd = [h.bin] + run_args(h, workers, port, L + ".out.jsonl", L + ".db", http) + list(extra)
    t0 = time.time()
    ts = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = PeakRss(ts.pid)
    w = Watcher(L + ".out.jsonl", L + ".db", ts.stderr, L + ".ts.log", t0)
    mon = Monitor(h, ts.pid, L + ".mon", 1.0, [srv.p.pid])
    time.sleep(secs)
    m = metrics(http)
    ts.send_signal(signal.SIGINT)
    _, maxrss = wait_rusage(ts, peak)
    w.finish()
    srv.stop()
    mo = mon.result()
    # Windows closed while running (not the ones flushed at SIGINT, which close early).
    stop_at = t0 + secs
    ends = sorted(e for e in w.rows if e <= stop_at)
    out_lag = [w.lines[e] * 1000 for e in ends if e in w.lines]
    db_lag = [w.rows[e] * 1000 for e in ends]
    n_lag, lag_top = histogram(m, "tagstream_window_emit_lag_seconds")
    row = dict(part="latency", engine="tagstream",
               variant=f"{workers} worker{'s' if workers > 1 else ''}" + (f", {' '.join(extra)}" if extra else ""),
               workers=workers, rate_target=rate, seconds=secs, attempt=1,
               ready_ms=round(w.ready * 1000, 1) if w.ready is not None else None,
               connected_ms=round(w.connected * 1000, 1) if w.connected is not None else None,
               first_row_s=round(w.first_row, 2) if w.first_row is not None else None,
               windows=len(ends),
               out_lag_ms_median=round(statistics.median(out_lag), 1) if out_lag else None,
               out_lag_ms_max=round(max(out_lag), 1) if out_lag else None,
               db_lag_ms_median=round(statistics.median(db_lag), 1) if db_lag else None,
               db_lag_ms_max=round(max(db_lag), 1) if db_lag else None,
               emit_lag_max_bucket_s=lag_top,
               peak_rss_mb=round(max(maxrss, mo.get("peak_tree_rss_mb", 0))), vmhwm_mb=round(maxrss, 1),
               cpu_cores=mo.get("tree_cpu_avg_cores"), cotenant_cores=cotenant(mo, 0), log=L,
               cmd=show(cmd) + " | server: " + show(srv.cmd))
    log(f"tagstream {workers}w {' '.join(extra)} @ 10,000/s for {secs}s: ready {row['ready_ms']} ms, window end -> row "
        f"{row['db_lag_ms_median']} ms median / {row['db_lag_ms_max']} max ({len(ends)} windows), "
        f"-> --out line {row['out_lag_ms_median']} / {row['out_lag_ms_max']} ms; peak RSS {row['peak_rss_mb']} MB")
    return row


def tag_replay(h, path, fmt, workers, run):
    name = f"ts_replay_{fmt}_w{workers}_{run}"
    L = os.path.join(h.logs, name)
    cmd = [h.bin, "run", "--source", path, "--workers", str(workers), "--out", "/dev/null", "--tui", "off", "--db", "none",
           "--summary-json", L + ".summary.json"]
    if fmt == "jsonl":
        cmd += ["--format", "jsonl", "--text-field", "text"]
    cmd += h.ts_args
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(L + ".ts.log", "w"))
    peak = PeakRss(p.pid)
    mon = Monitor(h, p.pid, L + ".mon", 0.2)
    code, maxrss = wait_rusage(p, peak)
    wall = time.time() - t0
    mo = mon.result()
    d = summary(L + ".summary.json") or {}
    row = dict(part="replay", engine="tagstream", variant=f"{fmt}, {workers} worker{'s' if workers > 1 else ''}",
               workers=workers, attempt=run, records=d.get("records"), seconds=d.get("secs"),
               lines_per_s=d.get("rps"), mb_per_s=d.get("mbps"), process_s=round(wall, 2),
               lines_per_s_process=round(d["records"] / wall) if d.get("records") else None,
               peak_rss_mb=round(maxrss), cotenant_cores=cotenant(mo, 0), exit=code, log=L, cmd=show(cmd))
    log(f"tagstream replay {fmt} {workers}w: {fmt_int(d.get('rps'))} lines/s ({d.get('mbps')} MB/s), "
        f"process {wall:.2f}s, peak RSS {maxrss:.0f} MB")
    return row


# ---------------------------------------------------------------------------------------------
# Spark (../shared/bench, copied to a writable folder)


def spark_env(h):
    py = os.path.join(h.spark_dir, "venv", "bin", "python")
    env = dict(os.environ, PYSPARK_PYTHON=py, PYSPARK_DRIVER_PYTHON=py, SPARK_ZIPIMPORT_FIX="1",
               T0_EPOCH=f"{time.time():.6f}")
    return py, env


def spark_socket(h, rate, secs):
    """run_stream.sh, with tagstream's line server instead of gen.py: the tuned DStream job."""
    name = f"spark_ds_fix_r{int(rate)}"
    L = os.path.join(h.spark_logs, name)
    for f in os.listdir(h.spark_logs):
        if f.startswith(name + "."):
            os.remove(os.path.join(h.spark_logs, f))
    quiet = wait_quiet(h)
    srv = Server(h, rate, 5555, L + ".gen.log", status="10s")
    py, env = spark_env(h)
    cmd = [py, "dstream_app.py", "--duration", str(secs), "--out", L, "--master", "local[2]",
           "--conf", "spark.streaming.blockInterval=1000ms"]
    app = subprocess.Popen(cmd, cwd=h.spark_dir, env=env, stdout=open(L + ".stdout", "w"), stderr=subprocess.STDOUT)
    mon = Monitor(h, app.pid, L + ".mon", 2.0, [srv.p.pid])
    app.wait()
    srv.stop()
    mon.result()
    subprocess.run([sys.executable, "summarize.py", L, str(rate)], cwd=h.spark_dir, capture_output=True)
    try:
        s = json.load(open(L + ".summary.json"))
    except (OSError, ValueError):
        s = {}
    mo = s.get("mon", {})
    b = [x for x in (json.loads(x) for x in read(L + ".batches.jsonl").splitlines() if x.strip()) if "batch_ms" in x]
    t_first = b[0]["batch_ms"] if b else 0
    steady = [x for x in b if x["batch_ms"] - t_first >= 70_000]
    total = [x["total_ms"] for x in steady]
    row = dict(part="socket", engine="spark", variant="DStream, tuned", workers=2, rate_target=int(rate),
               seconds=secs, attempt=1, achieved_rate=s.get("gen_rate_median"), mb_per_s=s.get("gen_MBps_median"),
               max_backlog=s.get("gen_backlog_max"), batches=s.get("n_steady_batches"),
               batch_max_s=round(s["steady_proc_ms_max"] / 1000, 2) if "steady_proc_ms_max" in s else None,
               keeps_up=bool(s.get("KEEPS_UP")), failed_checks="" if s.get("KEEPS_UP") else "KEEPS_UP",
               ready_ms=round(s["ssc_started_s"] * 1000) if "ssc_started_s" in s else None,
               sparkcontext_ready_s=s.get("sparkcontext_ready_s"), first_row_s=s.get("first_nonempty_table_s"),
               db_lag_ms_median=round(statistics.median(total)) if total else None,
               db_lag_ms_max=max(total) if total else None, windows=len(steady),
               peak_rss_mb=mo.get("peak_tree_rss_mb"), peak_pss_mb=mo.get("peak_tree_pss_mb"),
               cpu_cores=mo.get("tree_cpu_avg_cores"), cotenant_cores=cotenant(mo, 0),
               quiet=quiet, log=L, cmd="SPARK_ZIPIMPORT_FIX=1 " + show(cmd) + " | server: " + show(srv.cmd))
    log(f"spark DStream @ {rate:,.0f}/s for {secs}s: {'KEEPS UP' if row['keeps_up'] else 'falls behind'} "
        f"(steady batches {row['batches']}, proc max {row['batch_max_s']} s, delay max {s.get('steady_sched_ms_max')} ms), "
        f"peak RSS {row['peak_rss_mb']} MB, co-tenants {row['cotenant_cores']} cores")
    return row


def spark_batch(h, mode, run):
    """run_batch.sh: one run of batch_job.py MODE over the 5M-line file."""
    name = f"spark_batch_{mode}_{run}"
    L = os.path.join(h.spark_logs, name)
    quiet = wait_quiet(h)
    py, env = spark_env(h)
    cmd = [py, "batch_job.py", mode, "data/tweets_5M.txt", "--master", "local[2]"]
    p = subprocess.Popen(cmd, cwd=h.spark_dir, env=env, stdout=open(L + ".out", "w"), stderr=subprocess.STDOUT)
    mon = Monitor(h, p.pid, L + ".mon", 1.0)
    p.wait()
    mo = mon.result()
    js = [x for x in read(L + ".out").splitlines() if x.startswith("{")]
    d = json.loads(js[-1]) if js else {}
    row = dict(part="batch", engine="spark", variant=f"batch {mode}", workers=2, attempt=run,
               records=5_000_000 if d else None, seconds=d.get("job_s"), lines_per_s=d.get("lines_per_s_job"),
               process_s=d.get("process_s"), lines_per_s_process=d.get("lines_per_s_process"),
               ready_ms=round(d["startup_s"] * 1000) if "startup_s" in d else None,
               peak_rss_mb=mo.get("peak_tree_rss_mb"), peak_pss_mb=mo.get("peak_tree_pss_mb"),
               cotenant_cores=cotenant(mo, 0), exit=p.returncode, quiet=quiet, log=L,
               cmd="SPARK_ZIPIMPORT_FIX=1 " + show(cmd))
    log(f"spark batch {mode}: job {d.get('job_s')} s -> {fmt_int(d.get('lines_per_s_job'))} lines/s "
        f"(process {d.get('process_s')} s), peak RSS {row['peak_rss_mb']} MB")
    return row


# ---------------------------------------------------------------------------------------------
# Inputs


def ensure_inputs(h, need_spark, need_jsonl):
    """A writable copy of ../shared/bench (its venv, data/ and logs/), gen.py's 5M-line file,
    and that file as JSON lines."""
    os.makedirs(h.spark_dir, exist_ok=True)
    for f in os.listdir(os.path.join(SHARED, "bench")):
        src, dst = os.path.join(SHARED, "bench", f), os.path.join(h.spark_dir, f)
        if os.path.isfile(src):  # the scripts, refreshed every run; venv/, data/, logs/ are ours
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o755)
    if need_spark and not shutil.which("java"):
        log("no java: installing Debian's openjdk-17-jre-headless (PySpark 3.5 runs on Java 17)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "openjdk-17-jre-headless"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    os.makedirs(os.path.join(h.spark_dir, "data"), exist_ok=True)
    os.makedirs(h.spark_logs, exist_ok=True)
    venv_py = os.path.join(h.spark_dir, "venv", "bin", "python")
    has_spark = os.path.exists(venv_py) and subprocess.run(
        [venv_py, "-c", "import pyspark"], capture_output=True).returncode == 0
    if need_spark and not has_spark:
        log(f"installing PySpark with {h.spark_dir}/setup.sh (a venv from PyPI, and gen.py's 5M-line file)")
        subprocess.run(["bash", "./setup.sh"], cwd=h.spark_dir, check=True)
    if not os.path.exists(h.data):
        log("writing data/tweets_5M.txt with gen.py (as setup.sh does)")
        subprocess.run([sys.executable, "gen.py", "file", "--n", "5000000", "--out", "data/tweets_5M.txt",
                        "--seed", "42"], cwd=h.spark_dir, check=True)
    if need_jsonl and not os.path.exists(h.jsonl):
        log("writing data/tweets_5M.jsonl: each line of the 5M file as an X-like JSON object (~320 B)")
        to_jsonl(h.data, h.jsonl)


def to_jsonl(src, dst):
    """X v1.1-shaped objects around each line: created_at, id, text, a small user object, lang,
    counts. Deterministic."""
    import random
    rng = random.Random(42)
    tmp = dst + ".tmp"
    with open(src, encoding="utf-8") as f, open(tmp, "w", encoding="utf-8") as out:
        buf = []
        for i, line in enumerate(f):
            t = 1_700_000_000 + i // 1000
            uid = rng.randrange(10 ** 6, 10 ** 10)
            o = {"created_at": time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime(t)),
                 "id": 1_050_118_621_198_921_728 + i, "text": line.rstrip("\n"),
                 "user": {"id": uid, "screen_name": f"user{uid % 100000}", "followers_count": rng.randrange(50000)},
                 "lang": "en", "retweet_count": rng.randrange(100), "favorite_count": rng.randrange(500)}
            buf.append(json.dumps(o, ensure_ascii=False, separators=(",", ":")))
            if len(buf) == 100_000:
                out.write("\n".join(buf) + "\n")
                buf.clear()
        if buf:
            out.write("\n".join(buf) + "\n")
    os.replace(tmp, dst)


# ---------------------------------------------------------------------------------------------
# Summary


def sh(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except Exception:
        return "?"


def machine(h):
    cpu = next((l.split(":", 1)[1].strip() for l in read("/proc/cpuinfo").splitlines() if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) for l in read("/proc/meminfo").splitlines() if l.startswith("MemTotal")), 0)
    venv_py = os.path.join(h.spark_dir, "venv", "bin", "python")
    pyspark = sh([venv_py, "-c", "import pyspark; print(pyspark.__version__)"]) if os.path.exists(venv_py) else "not installed"
    commit = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"])
    return dict(cpu=cpu, cores=os.cpu_count(), mem_gib=round(mem / 2 ** 20, 1), kernel=platform.release(),
                host=platform.node(), rustc=sh(["rustc", "--version"]), java=sh(["java", "-version"]),
                python=platform.python_version(), pyspark=pyspark,
                tagstream=commit + (" (uncommitted changes)" if dirty and dirty != "?" else ""))


def best(rows, key, **match):
    vals = [r[key] for r in rows if r.get(key) is not None and all(r.get(k) == v for k, v in match.items())]
    return max(vals) if vals else None


def ratio(a, b):
    return f"{a / b:.1f}x" if a and b else "-"


def summarize(h, rows, tag_best, started, ended, load0, load1):
    mach = machine(h)
    ts1, ts2 = tag_best.get(1), tag_best.get(2)
    spark_ok = [r["rate_target"] for r in rows if r["engine"] == "spark" and r["part"] == "socket" and r["keeps_up"]]
    spark_sock = max(spark_ok) if spark_ok else None
    spark_tried = any(r["engine"] == "spark" and r["part"] == "socket" for r in rows)
    rp = lambda fmt, w: best(rows, "lines_per_s", part="replay", variant=f"{fmt}, {w} worker{'s' if w > 1 else ''}")
    t1, t2, j1, j2 = rp("text", 1), rp("text", 2), rp("jsonl", 1), rp("jsonl", 2)
    df = best(rows, "lines_per_s", variant="batch df")
    rdd = best(rows, "lines_per_s", variant="batch rdd")
    df_p = best(rows, "lines_per_s_process", variant="batch df")
    rdd_p = best(rows, "lines_per_s_process", variant="batch rdd")
    t1_p = best(rows, "lines_per_s_process", part="replay", variant="text, 1 worker")
    lat = {r["workers"]: r for r in rows if r["part"] == "latency" and "--counts" not in r["variant"]}
    lat0 = next((r for r in rows if r["part"] == "latency" and "--counts" in r["variant"]), {})
    sp10 = next((r for r in rows if r["engine"] == "spark" and r["part"] == "socket" and r["rate_target"] == 10_000), None)
    spark_rss = sp10["peak_rss_mb"] if sp10 else None
    ts_rss = max((r["peak_rss_mb"] for r in lat.values()), default=None)
    ready = max((r["ready_ms"] for r in lat.values() if r.get("ready_ms") is not None), default=None)
    vis = max((r["db_lag_ms_max"] for r in lat.values() if r.get("db_lag_ms_max") is not None), default=None)
    vis_med = max((r["db_lag_ms_median"] for r in lat.values() if r.get("db_lag_ms_median") is not None), default=None)

    def verdict(ok, measured=True):
        return "not measured" if not measured else ("**met**" if ok else "**unmet**")

    # An unbounded ladder result ("kept up at every rate tried") is a lower bound.
    def lb(v, top=h.tag_rates[-1]):
        return f"≥ {fmt_int(v)}" if v and v == top else fmt_int(v)

    def socket_ratio_verdict():
        """A figure that kept up at the top of its ladder is a lower bound: tagstream's makes the
        ratio a lower bound, Spark's an upper one."""
        if not (spark_sock and ts2 is not None):
            return verdict(False, False)
        met = ts2 >= 300 * spark_sock
        if spark_sock == h.spark_rates[-1] and met:
            return "inconclusive (Spark kept up at every rate tried)"
        if ts2 == h.tag_rates[-1] and not met:
            return "inconclusive (tagstream kept up at every rate tried)"
        return verdict(met)

    spark_txt = lb(spark_sock, h.spark_rates[-1]) if spark_sock else ("below the lowest rate tried" if spark_tried else "-")
    figures = [
        ("Sustained socket rate, lines/s (highest rate kept up)", lb(ts1), lb(ts2), spark_txt + " (DStream, tuned)",
         f"{ratio(ts2, spark_sock)} (2 workers / Spark)" if spark_sock else "-"),
        ("File replay, 5M lines, lines/s (best run; Spark: job time)", fmt_int(t1), fmt_int(t2),
         f"df {fmt_int(df)}, rdd {fmt_int(rdd)}", f"1 worker: {ratio(t1, df)} df, {ratio(t1, rdd)} rdd; 2 w / 1 w: {ratio(t2, t1)}"),
        ("File replay, whole process (start → exit), lines/s", fmt_int(t1_p), "", f"df {fmt_int(df_p)}, rdd {fmt_int(rdd_p)}",
         f"{ratio(t1_p, df_p)} df, {ratio(t1_p, rdd_p)} rdd"),
        ("JSON lines replay (~320 B), lines/s", fmt_int(j1), fmt_int(j2), "-", ""),
        ("Peak RSS at 10,000 lines/s, MB", lat.get(1, {}).get("peak_rss_mb", "-"), lat.get(2, {}).get("peak_rss_mb", "-"),
         f"{spark_rss} (process tree)" if spark_rss else "-", f"Spark / tagstream: {ratio(spark_rss, ts_rss)}" if spark_rss else ""),
        ("Process start → ready, ms", lat.get(1, {}).get("ready_ms", "-"), lat.get(2, {}).get("ready_ms", "-"),
         f"SparkContext {sp10['sparkcontext_ready_s']} s, StreamingContext started {sp10['ready_ms'] / 1000 if sp10.get('ready_ms') else '-'} s" if sp10 else "-", ""),
        ("Window end → row in `tweets` visible, ms (median / max)",
         f"{lat.get(1, {}).get('db_lag_ms_median', '-')} / {lat.get(1, {}).get('db_lag_ms_max', '-')}",
         f"{lat.get(2, {}).get('db_lag_ms_median', '-')} / {lat.get(2, {}).get('db_lag_ms_max', '-')}",
         f"{sp10['db_lag_ms_median']} / {sp10['db_lag_ms_max']} (batch total delay)" if sp10 else "-", ""),
        ("Same, with `--counts 0` (only the top 10, as the tutorial), ms", "",
         f"{lat0.get('db_lag_ms_median', '-')} / {lat0.get('db_lag_ms_max', '-')}", "", ""),
        ("Window end → line on --out, ms (median / max)",
         f"{lat.get(1, {}).get('out_lag_ms_median', '-')} / {lat.get(1, {}).get('out_lag_ms_max', '-')}",
         f"{lat.get(2, {}).get('out_lag_ms_median', '-')} / {lat.get(2, {}).get('out_lag_ms_max', '-')}", "-", ""),
        ("Process start → first non-empty `tweets`, s", lat.get(1, {}).get("first_row_s", "-"), lat.get(2, {}).get("first_row_s", "-"),
         sp10["first_row_s"] if sp10 else "-", "tagstream: waits for the first 10 s boundary"),
    ]
    targets = [
        ("Socket, 2 workers ≥ 3 M lines/s", verdict(ts2 and ts2 >= 3e6, ts2 is not None), lb(ts2)),
        ("Socket, 2 workers ≥ 300x the tuned DStream job", socket_ratio_verdict(), ratio(ts2, spark_sock)),
        ("Replay, 1 worker ≥ 5 M lines/s", verdict(t1 and t1 >= 5e6, t1 is not None), fmt_int(t1)),
        ("Replay, 1 worker ≥ 25x Spark DataFrame batch", verdict(t1 and df and t1 >= 25 * df, bool(df) and t1 is not None), ratio(t1, df)),
        ("Replay, 1 worker ≥ 70x Spark RDD batch", verdict(t1 and rdd and t1 >= 70 * rdd, bool(rdd) and t1 is not None), ratio(t1, rdd)),
        ("Replay, 2 workers ≥ 1.7x 1 worker", verdict(t1 and t2 and t2 >= 1.7 * t1, bool(t1 and t2)), ratio(t2, t1)),
        ("JSON lines, 1 worker ≥ 1.5 M lines/s", verdict(j1 and j1 >= 1.5e6, j1 is not None), fmt_int(j1)),
        ("Peak RSS at 10k lines/s ≤ 1/20 of Spark's", verdict(ts_rss and spark_rss and ts_rss * 20 <= spark_rss, bool(ts_rss and spark_rss)),
         f"{ts_rss or '-'} MB vs {spark_rss or '-'} MB"),
        ("Process start → ready ≤ 100 ms", verdict(ready is not None and ready <= 100, ready is not None), f"{'-' if ready is None else ready} ms (worst of 1 and 2 workers)"),
        ("Window end → row visible ≤ 50 ms", verdict(vis is not None and vis <= 50, vis is not None),
         f"defaults: {vis} ms max, {vis_med} ms median; --counts 0: {lat0.get('db_lag_ms_max', '-')} ms max"),
    ]
    co = [r["cotenant_cores"] for r in rows if r.get("cotenant_cores") is not None]
    md = [f"# tagstream vs the tutorial's Spark pipeline{' (quick mode: short runs, not the figures of record)' if h.args.quick else ''}", "",
          f"Run {started} → {ended} UTC with `{h.command}`.", "",
          "## Machine", "",
          f"- {mach['host']}: {mach['cpu']}, {mach['cores']} cores, {mach['mem_gib']} GiB, Linux {mach['kernel']}",
          f"- {mach['rustc']}; tagstream {mach['tagstream']}; {mach['java']}; Python {mach['python']}; PySpark {mach['pyspark']}",
          f"- Load: loadavg {' '.join(load0)} at start, {' '.join(load1)} at the end; CPU used by other tenants during the runs "
          f"(procmon's `foreign_cpu_avg_cores`, out of {mach['cores']}): "
          + (f"min {min(co)}, median {statistics.median(co)}, max {max(co)} cores." if co else "not sampled."),
          "  Every figure below was measured with those co-tenants; read them against that load.", "",
          "## Figures", "",
          "| | tagstream 1 worker | tagstream 2 workers | Spark (local[2]) | ratio |", "|---|---|---|---|---|"]
    md += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in figures]
    md += ["", "## Targets (2-core machine)", "", "| target | verdict | measured |", "|---|---|---|"]
    md += [f"| {a} | {b} | {c} |" for a, b, c in targets]
    md += ["", "A figure marked ≥ kept up at the highest rate tried: a lower bound.", "",
           "## What is measured, and how", "",
           f"- **One line server for both engines**: `tagstream gen --serve 127.0.0.1:PORT --file data/tweets_5M.txt --pool {POOL} "
           "--rate R --clients 1` serves the first 2,000,000 lines of gen.py's 5M-line file (the file and pool of "
           "../shared/bench/run_stream.sh, 123.7 B/line) cyclically from memory, paced by the clock; its status lines "
           "(lines sent, achieved rate, MB/s, backlog = lines due but not yet taken by the client) use gen.py's format, "
           "so ../shared/bench/summarize.py reads them unchanged for the Spark runs.",
           f"- **Sustained socket rate, tagstream**: `tagstream run --source socket://127.0.0.1:PORT --workers W --out FILE "
           f"--tui off --db FILE --http 127.0.0.1:PORT` (10 s batches, 60 s window, top 10, processing time), "
           f"{h.tag_secs} s per rung, rates {', '.join(fmt_int(r) for r in h.tag_rates)} lines/s; the ladder stops at the "
           f"first rung that fails {h.args.retries + 1} time(s) in a row. A rung **keeps up** when (1) the server achieved "
           "≥ 99% of the rate over the run, (2) its backlog stayed ≤ 0.5 s of lines after the first 2 s and did not grow "
           "(tagstream reads through bounded queues, so a pipeline that falls behind shows as backlog at the server), "
           "(3) every batch closed during the run was processed within the 10 s batch interval "
           "(`tagstream_batch_processing_seconds` of /metrics: input past the batch → dataflow done with it), and "
           "(4) tagstream counted every line the server sent (`records` of its closing line). Runs are shorter than "
           "Spark's: per-batch work grows with distinct tags (≤ 50,000, reached within seconds), not with time.",
           f"- **Sustained socket rate, Spark**: ../shared/bench/dstream_app.py with `SPARK_ZIPIMPORT_FIX=1 --master local[2] "
           f"--conf spark.streaming.blockInterval=1000ms`, {h.spark_secs} s per rate ({', '.join(fmt_int(r) for r in h.spark_rates)}; "
           "the ladder stops at the first rate it does not keep up with), "
           "judged by summarize.py's KEEPS_UP (after the window is full, every batch processed in < 10 s, scheduling "
           "delay < 5 s and not growing), as in ../shared/bench/README.md; fed by the same server on 127.0.0.1:5555.",
           "- **File replay**: `tagstream run --source FILE --workers W --out /dev/null --tui off --db none` (`--format jsonl "
           "--text-field text` for JSON lines); lines/s from its `--summary-json` (records ÷ wall time from the engine's "
           "start to the last window written); best of the runs. Spark: `batch_job.py df|rdd data/tweets_5M.txt --master "
           "local[2]` as run_batch.sh; lines/s over the job time (SparkSession up → result collected), best of the runs; "
           "whole-process figures beside them. The JSON-lines file wraps each line of the 5M file in an X v1.1-shaped "
           "object (created_at, id, text, user{id, screen_name, followers_count}, lang, counts).",
           "- **Peak RSS**: procmon.py's peak RSS summed over the process tree (Spark: driver, JVM, Python workers), "
           "sampled every 1–2 s; for tagstream also the kernel's high-water mark (VmHWM, read every 50 ms), the larger is shown. "
           f"tagstream at 10,000 lines/s for {h.lat_secs} s; Spark at 10,000 lines/s from its socket run.",
           "- **Process start → ready**: tagstream: from just before the exec to its stderr line `ready: reading input` "
           "(written when the first worker, its dataflow built and the sources open, asks for input). "
           "Spark: dstream_app.py's `sparkcontext_ready` and `ssc_started` (StreamingContext started) from T0_EPOCH.",
           "- **Window end → visible**: tagstream: a watcher polls the SQLite store every 2 ms (read-only, WAL) for a new "
           "`window_totals` row, written in the same transaction as `tweets`, and tails `--out` every 1 ms; the figure is "
           "(wall clock when seen) − (window end), over the windows that closed during the run (0–2 ms of it is the "
           "polling). Spark: the steady batches' total delay (batch time = window end → the foreachRDD that registers "
           "`tweets` is done), from its StreamingListener; the tutorial then polls the table every 3 s on top of that.",
           "",
           "## Every run", "",
           "| part | engine | variant | rate (lines/s) | figure | keeps up | peak RSS MB | other tenants (cores) |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["part"] == "socket":
            fig = f"sent {fmt_int(r.get('achieved_rate'))}/s, backlog max {fmt_int(r.get('max_backlog'))}"
        elif r["part"] == "latency":
            fig = f"ready {r.get('ready_ms')} ms, end → row {r.get('db_lag_ms_median')} / {r.get('db_lag_ms_max')} ms"
        else:
            fig = f"{fmt_int(r.get('lines_per_s'))} lines/s"
        md.append(f"| {r['part']} | {r['engine']} | {r['variant']} | {fmt_int(r.get('rate_target'))} | {fig} | "
                  f"{'' if 'keeps_up' not in r else ('yes' if r['keeps_up'] else 'no: ' + r.get('failed_checks', ''))} | "
                  f"{r.get('peak_rss_mb', '-')} | {r.get('cotenant_cores', '-')} |")
    md += ["", f"Raw figures: `raw.csv` beside this file (one row per run, its exact command lines in `cmd`); logs of this run were in `{h.logs}` and `{h.spark_logs}`.", ""]
    return md, figures, targets


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the tagstream binary (release)")
    ap.add_argument("--quick", action="store_true", help="short runs and few rungs, for development")
    ap.add_argument("--no-spark", action="store_true", help="skip the Spark side")
    ap.add_argument("--only", default="", help="comma list of: socket, latency, replay, spark-socket, spark-batch")
    ap.add_argument("--tag-rates", default="", help="tagstream socket ladder, lines/s (comma list)")
    ap.add_argument("--spark-rates", default="", help="Spark socket ladder, lines/s (comma list)")
    ap.add_argument("--batch-modes", default="df,rdd", help="Spark batch jobs to run (df, rdd)")
    ap.add_argument("--tag-secs", type=int, default=0, help="seconds per tagstream rung")
    ap.add_argument("--spark-secs", type=int, default=0, help="seconds per Spark rate (280 for a full window)")
    ap.add_argument("--repeat", type=int, default=0, help="runs per replay and batch figure")
    ap.add_argument("--retries", type=int, default=-1, help="extra tries of a failing tagstream rung")
    ap.add_argument("--wait-quiet", type=int, default=-1, help="wait up to N s for a quiet machine before each run")
    ap.add_argument("--ts-args", default="", help="extra flags for every `tagstream run` (e.g. '--counts 0')")
    ap.add_argument("--spark-dir", default=os.environ.get("TAGSTREAM_SPARK_DIR", os.path.expanduser("~/.cache/tagstream-spark")))
    ap.add_argument("--out", default="", help="results folder (default bench/runs/<date>-<machine>-compare[-quick])")
    a = ap.parse_args()

    class H:
        pass
    h = H()
    h.args, h.bin, h.spark_dir = a, a.bin, a.spark_dir
    h.ts_args = a.ts_args.split()
    h.command = "bench/compare.sh " + " ".join(sys.argv[3:])
    h.data = os.path.join(a.spark_dir, "data", "tweets_5M.txt")
    h.jsonl = os.path.join(a.spark_dir, "data", "tweets_5M.jsonl")
    q = a.quick
    h.tag_rates = [int(float(x)) for x in a.tag_rates.split(",") if x] or (
        [1_000_000, 3_000_000, 5_000_000] if q else [m * 1_000_000 for m in range(1, 11)])
    h.spark_rates = [int(float(x)) for x in a.spark_rates.split(",") if x] or ([10_000] if q else [10_000, 15_000, 20_000])
    # At least 12 s, so that every rung crosses a 10 s batch boundary (a batch to judge).
    h.tag_secs = max(12, a.tag_secs or (12 if q else 25))
    h.spark_secs = a.spark_secs or (130 if q else 280)
    h.lat_secs = 25 if q else 75
    repeat = a.repeat or (1 if q else 3)
    a.retries = a.retries if a.retries >= 0 else (0 if q else 1)
    a.wait_quiet = a.wait_quiet if a.wait_quiet >= 0 else (0 if q else 30)
    parts = [p for p in (a.only.split(",") if a.only else ["socket", "latency", "replay", "spark-socket", "spark-batch"])]
    if a.no_spark:
        parts = [p for p in parts if not p.startswith("spark")]
    need_spark = any(p.startswith("spark") for p in parts)
    mach = f"{os.cpu_count()}cpu-{round(int(read('/proc/meminfo').split()[1]) / 2 ** 20)}G"
    date = time.strftime("%Y-%m-%d", time.gmtime())
    out = a.out or os.path.join(REPO, "bench", "runs", f"{date}-{mach}-compare{'-quick' if q else ''}")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    h.logs = os.path.join(REPO, "target", "bench", "compare-" + stamp)
    h.spark_logs = os.path.join(a.spark_dir, "logs", "compare-" + stamp)
    os.makedirs(h.logs, exist_ok=True)

    # Expected duration: every rung of the ladders run (the upper bound), plus start-up costs.
    est = 0
    if "socket" in parts:
        est += 2 * len(h.tag_rates) * (h.tag_secs + 5)
    if "latency" in parts:
        est += 3 * (h.lat_secs + 3)
    if "replay" in parts:
        est += repeat * (2 * 3 + 2 * 6)
    if "spark-socket" in parts:
        est += len(h.spark_rates) * (h.spark_secs + 35)
    if "spark-batch" in parts:
        est += repeat * (45 * ("df" in a.batch_modes) + 95 * ("rdd" in a.batch_modes))
    if not os.path.exists(h.jsonl) and ("replay" in parts):
        est += 150
    if need_spark and not os.path.exists(os.path.join(a.spark_dir, "venv")):
        est += 300
    runs = (2 * len(h.tag_rates) if "socket" in parts else 0) + len(h.spark_rates) * ("spark-socket" in parts) \
        + len(a.batch_modes.split(",")) * repeat * ("spark-batch" in parts)
    log(f"parts: {', '.join(parts)}; expected duration about {est // 60} min {est % 60} s "
        f"(up to {a.wait_quiet} s more per run while other tenants keep the machine busy, {runs} such runs)")
    log(f"results → {out}; logs → {h.logs}")
    ensure_inputs(h, need_spark, "replay" in parts)

    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    load0 = loadavg()
    rows, tag_best = [], {}
    if "socket" in parts:
        r, tag_best = tag_ladder(h)
        rows += r
    if "latency" in parts:
        # The defaults (the `counts` table gets every tag of each window), then the tutorial's
        # own output only (`--counts 0`: the top 10 in `tweets`).
        for w, extra in ((1, ()), (2, ()), (2, ("--counts", "0"))):
            wait_quiet(h)
            rows.append(tag_latency(h, w, h.lat_secs, extra))
    if "replay" in parts:
        for fmt, path in (("text", h.data), ("jsonl", h.jsonl)):
            for w in (1, 2):
                for i in range(1, repeat + 1):
                    rows.append(tag_replay(h, path, fmt, w, i))
    if "spark-socket" in parts:
        for rate in h.spark_rates:  # up the ladder until the first rate it does not keep up with
            rows.append(spark_socket(h, rate, h.spark_secs))
            if not rows[-1]["keeps_up"]:
                break
    if "spark-batch" in parts:
        for mode in a.batch_modes.split(","):
            for i in range(1, repeat + 1):
                rows.append(spark_batch(h, mode, i))
    ended = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    load1 = loadavg()

    os.makedirs(out, exist_ok=True)
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(os.path.join(out, "raw.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=keys)
        wr.writeheader()
        for r in rows:
            wr.writerow({k: (os.path.relpath(v, os.path.expanduser("~")) if k == "log" else v) for k, v in r.items()})
    md, figures, targets = summarize(h, rows, tag_best, started, ended, load0, load1)
    open(os.path.join(out, "summary.md"), "w").write("\n".join(md))
    print()
    w0 = max(len(f[0]) for f in figures)
    print(f"{'':{w0}}  {'tagstream 1w':>14}  {'tagstream 2w':>14}  {'Spark':>24}  ratio")
    for f in figures:
        print(f"{f[0]:{w0}}  {str(f[1]):>14}  {str(f[2]):>14}  {str(f[3]):>24}  {f[4]}")
    print()
    for t in targets:
        print(f"{t[1].replace('*', ''):>12}  {t[0]}  ({t[2]})")
    print(f"\nwrote {os.path.relpath(out, REPO)}/raw.csv and summary.md")


if __name__ == "__main__":
    main()
