#!/usr/bin/env python3
"""Soak (issue 13): the engine fed over a socket for a long time, its line server restarted.

Called by bench/soak.sh (which builds the binary first); python3 stdlib only.

  line server  tagstream gen --serve 127.0.0.1:P --file F --rate R --clients 1 --duration D
               serves F's lines (gen.py's 1M tweets) over and over at R lines/s to one client,
               ends that stream after D (the restart interval) and exits, printing exactly
               how many lines it sent; the next server is started on the same port at once.
  engine       tagstream run --source socket://127.0.0.1:P --http 127.0.0.1:H --out OUT
               --db DB --tui off --summary-json S    (processing time, 10 s / 60 s, top 10)
               reconnects by itself (socket:// retries every 2 s after the server closes).

Every --sample seconds: the engine's RSS and high-water mark (/proc/PID/status), its CPU, its
/metrics (records in, windows, reconnects), and the machine's busy cores. At the end the last
server has ended; the engine drains, gets SIGINT (it emits every open window and exits), and
the run is reconciled: lines the servers sent = the engine's records in = its source counter
= the records of the windows, summed over each set of windows that tiles time (windows of W
sliding by S: every record lies in W/S windows, one of each set of ends equal modulo W).

Writes bench/runs/<date>-<machine>-soak[-trial]/{summary.md, raw.csv, segments.csv, rss.svg}.
"""
import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, die, free_port, gen_file, log, out_of, read, show  # noqa: E402
from common import metrics as all_metrics  # noqa: E402


def metrics(port):
    return all_metrics(port, timeout=3, per_source=False)


HZ = os.sysconf("SC_CLK_TCK")
PROCS = []  # every process this script started, ended on exit whatever happens


# The commit the binary is built from (soak.sh builds it just before): read now, not when the
# report is written 30 minutes later.
BUILT_FROM = out_of(["git", "-C", REPO, "describe", "--always", "--dirty"])


def seconds(text):
    """'90', '90s', '5m', '1h' -> seconds."""
    m = re.fullmatch(r"\s*([\d.]+)\s*(s|m|h|min)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 5m)")
    return float(m[1]) * {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}[m[2]]


def start(cmd, **kw):
    """Starts a child in its own process group (so a terminal's Ctrl-C reaches this script
    only, which ends its children in order) and notes it for the clean-up."""
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    PROCS.append(p)
    return p


def cleanup(*_):
    """Ends every process group this script started that is still running."""
    for p in PROCS:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def on_signal(signum, _frame):
    cleanup()
    die(f"stopped by signal {signum}; its processes were ended")


# ---------------------------------------------------------------------------------------------
# Probes


def machine_busy_ticks():
    v = [int(x) for x in read("/proc/stat").splitlines()[0].split()[1:]]
    return sum(v) - v[3] - v[4]


def proc_cpu_ticks(pid):
    s = read(f"/proc/{pid}/stat")
    if not s:
        return None
    f = s[s.rfind(")") + 2:].split()
    return int(f[11]) + int(f[12])


def proc_mem_mb(pid):
    st = read(f"/proc/{pid}/status")
    rss = re.search(r"VmRSS:\s+(\d+) kB", st)
    hwm = re.search(r"VmHWM:\s+(\d+) kB", st)
    return (int(rss[1]) / 1024 if rss else None), (int(hwm[1]) / 1024 if hwm else None)


# ---------------------------------------------------------------------------------------------
# The line server


class Server:
    """One `tagstream gen --serve` that serves one client for `duration` s, then exits."""

    STATUS = re.compile(r"t=\s*([\d.]+)s sent=(\d+) rate=([\d.]+) lines/s ([\d.]+) MB/s backlog=(\d+)")
    DONE = re.compile(r"([^:;\n]+); done: (\d+) lines, ([\d.]+) MB in ([\d.]+)s = (\d+) lines/s ([\d.]+) MB/s; max backlog (\d+)")

    def __init__(self, h, n, duration):
        self.n, self.duration = n, duration
        self.logpath = os.path.join(h.logs, f"server-{n}.log")
        self.cmd = [h.bin, "gen", "--serve", f"127.0.0.1:{h.port}", "--file", h.data, "--rate", str(int(h.args.rate)),
                    "--clients", "1", "--duration", f"{duration:.0f}s", "--status", "1s"]
        self.started = time.time()
        self.p = start(self.cmd, stdout=subprocess.DEVNULL, stderr=open(self.logpath, "w"))
        self.connected_at = None
        self.ended_at = None
        end = time.time() + 60
        while "listening on" not in read(self.logpath):
            if self.p.poll() is not None or time.time() > end:
                die(f"line server {n} did not start: {read(self.logpath).strip()[-300:]}")
            time.sleep(0.02)

    def poll(self):
        """Notes when its client connected and when it ended; True once it has exited."""
        if self.connected_at is None and "client connected" in read(self.logpath):
            self.connected_at = time.time()
        if self.ended_at is None and self.p.poll() is not None:
            self.ended_at = time.time()
        return self.ended_at is not None

    def sent_now(self):
        """Lines sent so far: the done line's exact total, else the last status line's."""
        txt = read(self.logpath)
        d = self.DONE.search(txt)
        if d:
            return int(d[2])
        st = self.STATUS.findall(txt)
        return int(st[-1][1]) if st else 0

    def backlog_now(self):
        st = self.STATUS.findall(read(self.logpath))
        return int(st[-1][4]) if st else 0

    def result(self):
        d = self.DONE.search(read(self.logpath))
        row = dict(segment=self.n, started=round(self.started - self.t0, 1),
                   connected=None if self.connected_at is None else round(self.connected_at - self.t0, 1),
                   ended=None if self.ended_at is None else round(self.ended_at - self.t0, 1),
                   duration_s=round(self.duration, 1), exit=self.p.returncode)
        if d:
            row.update(end_reason=d[1].strip(), sent=int(d[2]), mb=float(d[3]), secs=float(d[4]),
                       achieved_rate=int(d[5]), max_backlog=int(d[7]))
        else:
            row.update(end_reason="no done line", sent=None)
        return row


# ---------------------------------------------------------------------------------------------
# The plot (SVG, by hand: no plotting library to install)


def svg_plot(samples, restarts, rate, title, path):
    W, H, L, R = 960, 560, 70, 20
    panels = [("RSS (MB)", [(s["t_s"] / 60, s["rss_mb"]) for s in samples if s["rss_mb"] is not None], "#1f77b4",
               [(s["t_s"] / 60, s["hwm_mb"]) for s in samples if s["hwm_mb"] is not None], 60, 280),
              ("lines/s received (millions)", [(s["t_s"] / 60, s["records_per_s"] / 1e6) for s in samples
                                               if s["records_per_s"] is not None], "#2ca02c", None, 340, 500)]
    tmax = max([s["t_s"] / 60 for s in samples] + [0.1])
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">', f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="15">{title}</text>']

    def nice(v):
        """The smallest of 1, 2, 2.5, 5 × 10^k that is at least v (a tick step)."""
        e = 10 ** int(f"{v:e}".split("e")[1])
        return next(m * e for m in (1, 2, 2.5, 5, 10) if m * e >= v)

    for label, pts, colour, pts2, top, bottom in panels:
        ys = [y for _, y in pts] + ([y for _, y in pts2] if pts2 else [])
        if label.startswith("lines"):
            ys.append(rate / 1e6)
        ymax = max(ys + [1e-9]) * 1.1
        ystep = nice(ymax / 5)
        xstep = nice(tmax / 8)

        def X(t):
            return L + (W - L - R) * t / tmax

        def Y(v):
            return bottom - (bottom - top) * v / ymax
        out.append(f'<rect x="{L}" y="{top}" width="{W - L - R}" height="{bottom - top}" fill="none" stroke="#999"/>')
        v = 0.0
        while v <= ymax:
            out.append(f'<line x1="{L}" x2="{W - R}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#eee"/>')
            out.append(f'<text x="{L - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
            v += ystep
        t = 0.0
        while t <= tmax:
            out.append(f'<text x="{X(t):.1f}" y="{bottom + 16}" text-anchor="middle">{t:g}</text>')
            t += xstep
        for r in restarts:
            out.append(f'<line x1="{X(r / 60):.1f}" x2="{X(r / 60):.1f}" y1="{top}" y2="{bottom}" stroke="#d62728" '
                       'stroke-dasharray="4,3"/>')
        if label.startswith("lines"):
            out.append(f'<line x1="{L}" x2="{W - R}" y1="{Y(rate / 1e6):.1f}" y2="{Y(rate / 1e6):.1f}" '
                       'stroke="#888" stroke-dasharray="6,4"/>')
        if pts2:
            out.append('<polyline fill="none" stroke="#ff7f0e" stroke-width="1.5" stroke-dasharray="3,2" points="'
                       + " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in pts2) + '"/>')
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="'
                   + " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in pts) + '"/>')
        out.append(f'<text x="{L + 8}" y="{top + 16}" fill="{colour}">{label}</text>')
    out.append(f'<text x="{W / 2}" y="{H - 12}" text-anchor="middle">minutes since the engine started; '
               'red dashes: a line server ended (restart)</text>')
    out.append(f'<text x="{W - R - 8}" y="{60 + 16}" text-anchor="end" fill="#ff7f0e">dashed: high-water mark (VmHWM)</text>')
    out.append(f'<text x="{W - R - 8}" y="{340 + 16}" text-anchor="end" fill="#888">dashed: the servers\' rate</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# ---------------------------------------------------------------------------------------------


def ensure_data(h, n):
    """The input, shared with bench/peers.py (`common.gen_file`)."""
    return gen_file(h.bin, n)


def slope_mb_per_h(pts):
    """Least-squares slope of (t s, MB) in MB per hour."""
    if len(pts) < 3:
        return None
    mt = statistics.fmean(t for t, _ in pts)
    mv = statistics.fmean(v for _, v in pts)
    den = sum((t - mt) ** 2 for t, _ in pts)
    return None if den == 0 else sum((t - mt) * (v - mv) for t, v in pts) / den * 3600


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the tagstream binary (release)")
    ap.add_argument("--minutes", type=float, default=30, help="length of the soak (default 30)")
    ap.add_argument("--rate", type=float, default=1_000_000, help="lines/s the line server sends (default 1,000,000)")
    ap.add_argument("--restart-every", type=seconds, default=300, help="line server restart interval (default 5m)")
    ap.add_argument("--sample", type=seconds, default=5, help="sampling interval (default 5s)")
    ap.add_argument("--workers", type=int, default=1, help="engine worker threads (default 1)")
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines in the served file (default 1,000,000)")
    ap.add_argument("--engine-args", default="", help="extra flags for `tagstream run` (e.g. '--db none')")
    ap.add_argument("--out", default="", help="results folder (default bench/runs/<date>-<machine>-soak[-trial])")
    a = ap.parse_args()
    if a.minutes <= 0 or a.rate <= 0 or a.restart_every < 5 or a.sample <= 0:
        die("--minutes and --rate must be positive, --restart-every at least 5s, --sample positive")
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    class H:
        pass
    h = H()
    h.args, h.bin = a, a.bin
    trial = a.minutes < 30
    cores = os.cpu_count()
    mem = int(read("/proc/meminfo").split()[1]) / 2 ** 20
    mtag = f"{cores}cpu-{round(mem)}G"
    date = time.strftime("%Y-%m-%d", time.gmtime())
    out = a.out or os.path.join(REPO, "bench", "runs", f"{date}-{mtag}-soak" + (f"-trial-{a.minutes:g}min" if trial else ""))
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    h.logs = os.path.join(REPO, "target", "bench", "soak", stamp)
    os.makedirs(h.logs, exist_ok=True)
    h.data, data_how = ensure_data(h, a.lines)
    h.port, http = free_port(), free_port()
    outfile, db, sumfile = (os.path.join(h.logs, x) for x in ("windows.jsonl", "tagstream.db", "summary.json"))
    engine_cmd = [h.bin, "run", "--source", f"socket://127.0.0.1:{h.port}", "--http", f"127.0.0.1:{http}",
                  "--workers", str(a.workers), "--out", outfile, "--db", db, "--tui", "off",
                  "--summary-json", sumfile] + a.engine_args.split()
    total = a.minutes * 60
    log(f"soak: {a.minutes:g} min at {a.rate:,.0f} lines/s, line server restarted every {a.restart_every:g} s; "
        f"logs -> {h.logs}; results -> {os.path.relpath(out, REPO)}")

    load0 = " ".join(read("/proc/loadavg").split()[:3])
    busiest = [" ".join(l.split()) for l in out_of(["ps", "-eo", "pcpu,etime,comm", "--sort=-pcpu"]).splitlines()[1:6]]
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    servers = [Server(h, 1, min(a.restart_every, total))]
    t0 = time.time()
    servers[0].t0 = t0
    engine = start(engine_cmd, stdout=open(os.path.join(h.logs, "engine.stdout"), "w"),
                   stderr=open(os.path.join(h.logs, "engine.stderr"), "w"))
    try:
        samples, restarts = run_soak(h, a, engine, servers, http, t0, total)
        final = drain_and_stop(h, engine, servers, http)
    finally:
        cleanup()
    ended = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    load1 = " ".join(read("/proc/loadavg").split()[:3])
    report(h, a, out, trial, engine_cmd, servers, samples, restarts, final, outfile, sumfile, data_how,
           dict(started=started, ended=ended, load0=load0, load1=load1, busiest=busiest, mtag=mtag,
                cpu=next((l.split(":", 1)[1].strip() for l in read("/proc/cpuinfo").splitlines()
                          if l.startswith("model name")), "?"), cores=cores, mem=round(mem, 1)))


def run_soak(h, a, engine, servers, http, t0, total):
    """Samples every --sample s; restarts the line server each time one ends, until `total`."""
    samples, restarts = [], []
    last = dict(t=t0, records=0, cpu=proc_cpu_ticks(engine.pid) or 0, busy=machine_busy_ticks(),
                srv_cpu=0)
    next_sample = t0
    deadline = t0 + total
    while True:
        now = time.time()
        if engine.poll() is not None:
            die(f"the engine exited ({engine.returncode}) during the soak: "
                + read(os.path.join(h.logs, "engine.stderr")).strip()[-400:])
        cur = servers[-1]
        if cur.poll():
            restarts.append(cur.ended_at - t0)
            left = deadline - time.time()
            if cur.result()["sent"] is None:
                die(f"line server {cur.n} ended without its done line: {read(cur.logpath).strip()[-300:]}")
            if left >= 5:
                log(f"line server {cur.n} ended (sent {cur.sent_now():,}); starting server {cur.n + 1}")
                s = Server(h, cur.n + 1, min(a.restart_every, left))
                s.t0 = t0
                servers.append(s)
            else:
                restarts.pop()  # the last end is the end of the soak, not a restart
                break
        if now >= next_sample:
            next_sample += a.sample
            m = metrics(http)
            rss, hwm = proc_mem_mb(engine.pid)
            cpu = proc_cpu_ticks(engine.pid) or last["cpu"]
            busy = machine_busy_ticks()
            srv_cpu = sum(proc_cpu_ticks(s.p.pid) or 0 for s in servers if s.p.poll() is None)
            recs = int(m.get("tagstream_records_in_total", last["records"]))
            dtt = max(1e-6, now - last["t"])
            sent = sum(s.sent_now() for s in servers)
            eng_cores = (cpu - last["cpu"]) / HZ / dtt
            mach = (busy - last["busy"]) / HZ / dtt
            row = dict(t_s=round(now - t0, 1), segment=servers[-1].n, server_sent=sent, records_in=recs,
                       records_per_s=round((recs - last["records"]) / dtt) if samples or recs else 0,
                       server_backlog=servers[-1].backlog_now(), rss_mb=None if rss is None else round(rss, 1),
                       hwm_mb=None if hwm is None else round(hwm, 1),
                       metrics_rss_mb=round(m["tagstream_process_resident_memory_bytes"] / 2 ** 20, 1)
                       if "tagstream_process_resident_memory_bytes" in m else None,
                       windows=int(m.get("tagstream_windows_emitted_total", 0)),
                       connected=int(m.get("tagstream_source_connected", 0)),
                       reconnects=int(m.get("tagstream_source_reconnects_total", 0)),
                       distinct_tags=int(m.get("tagstream_window_distinct_tags", 0)),
                       engine_cores=round(eng_cores, 2), machine_busy_cores=round(mach, 2),
                       others_cores=round(max(0.0, mach - eng_cores - max(0, srv_cpu - last["srv_cpu"]) / HZ / dtt), 2),
                       loadavg1=read("/proc/loadavg").split()[0])
            last = dict(t=now, records=recs, cpu=cpu, busy=busy, srv_cpu=srv_cpu)
            samples.append(row)
            if len(samples) % max(1, int(60 / a.sample)) == 1:
                log(f"t={row['t_s']:.0f}s: RSS {row['rss_mb']} MB (peak {row['hwm_mb']}), records in "
                    f"{recs:,} ({row['records_per_s']:,}/s), sent {sent:,}, windows {row['windows']}, "
                    f"reconnects {row['reconnects']}, others {row['others_cores']} cores")
        time.sleep(0.2)
    return samples, restarts


def drain_and_stop(h, engine, servers, http):
    """Waits until the engine has counted every line sent (or its count stops moving for 10 s),
    then SIGINT: it emits every open window and writes its summary."""
    sent = sum(s.result()["sent"] or 0 for s in servers)
    last, still = -1, time.time()
    end = time.time() + 120
    while time.time() < end:
        n = int(metrics(http).get("tagstream_records_in_total", -1))
        if n >= sent:
            break
        if n != last:
            last, still = n, time.time()
        elif time.time() - still > 10:
            break
        time.sleep(0.5)
    m = metrics(http)
    t_stop = time.time()
    engine.send_signal(signal.SIGINT)
    try:
        engine.wait(timeout=120)
    except subprocess.TimeoutExpired:
        engine.kill()
        engine.wait()
    return dict(metrics=m, rc=engine.returncode, stop_s=round(time.time() - t_stop, 2))


def report(h, a, out, trial, engine_cmd, servers, samples, restarts, final, outfile, sumfile, data_how, env):
    segs = [s.result() for s in servers]
    sent = sum(s["sent"] or 0 for s in segs)
    m = final["metrics"]
    records_metrics = int(m.get("tagstream_records_in_total", -1))
    try:
        summ = json.load(open(sumfile))
    except (OSError, ValueError):
        summ = {}
    src = next(iter(summ.get("sources", {}).values()), {})
    windows = [json.loads(l) for l in read(outfile).splitlines() if l.strip()]

    def ts(x):
        return dt.datetime.fromisoformat(x.replace("Z", "+00:00")).timestamp()
    classes, per, w_len = {}, None, 60
    if windows:
        w_len = ts(windows[0]["window_end"]) - ts(windows[0]["window_start"])
        ends = sorted({ts(w["window_end"]) for w in windows})
        slide = min((b - a_ for a_, b in zip(ends, ends[1:])), default=w_len)
        per = round(w_len / slide)
        for w in windows:
            k = int(ts(w["window_end"]) % w_len)
            classes[k] = classes.get(k, 0) + w["records"]
    win_sum = sum(w["records"] for w in windows)
    skipped = summ.get("skipped", {}).get("total")
    late = summ.get("late")
    checks = [
        ("lines sent by the servers (their done lines, summed)", f"{sent:,}", True),
        ("engine records in (/metrics after draining)", f"{records_metrics:,}", records_metrics == sent),
        ("engine records (--summary-json, at exit)", f"{summ.get('records', -1):,}", summ.get("records") == sent),
        ("source counter records (socket://…)", f"{src.get('records', -1):,}", src.get("records") == sent),
        ("skipped, late", f"{skipped}, {late}", skipped == 0 and late == 0),
        (f"windows emitted ({len(windows)}); Σ records over all ÷ {per} (each record is in {per})",
         f"{win_sum / per:,.0f}" if per else "—", bool(per) and win_sum == per * sent),
    ]
    for k in sorted(classes):
        checks.append((f"Σ records of the windows ending at :{k // 60:02d}:{k % 60:02d} past every "
                       f"{int(w_len // 60)} min (a tiling of time)", f"{classes[k]:,}", classes[k] == sent))
    checks.append(("reconnects (= line server restarts)", f"{src.get('reconnects', '—')} (restarts {len(restarts)})",
                   src.get("reconnects") == len(restarts)))
    checks.append(("engine exit status after SIGINT", f"{final['rc']} (stopped in {final['stop_s']} s)", final["rc"] == 0))
    ok = all(c[2] for c in checks)

    # Past the first window (60 s) and a little more, window state is as full as it gets.
    warmup = min(120, a.minutes * 60 / 3)
    warm = [s for s in samples if s["t_s"] >= warmup and s["rss_mb"] is not None]
    rss = [s["rss_mb"] for s in warm]
    slope = slope_mb_per_h([(s["t_s"], s["rss_mb"]) for s in warm])
    rates = [s["records_per_s"] for s in samples[1:] if s["records_per_s"] is not None]
    others = [s["others_cores"] for s in samples[1:]]
    gaps = [round(n["connected"] - p["ended"], 1) for p, n in zip(segs, segs[1:])
            if n.get("connected") is not None and p.get("ended") is not None]
    secs_sent = sum(s.get("secs") or 0 for s in segs)

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "raw.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(samples[0]))
        w.writeheader()
        w.writerows(samples)
    with open(os.path.join(out, "segments.csv"), "w", newline="") as f:
        keys = []
        for s in segs:
            keys += [k for k in s if k not in keys]
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(segs)
    every = f"{a.restart_every:g} s" if a.restart_every < 60 else f"{a.restart_every / 60:g} min"
    title = (f"tagstream soak{' (TRIAL, ' + f'{a.minutes:g} min)' if trial else ''}: socket at {a.rate:,.0f} lines/s, "
             f"line server restarted every {every} — {env['started']} UTC, {env['mtag']}")
    svg_plot(samples, restarts, a.rate, title, os.path.join(out, "rss.svg"))

    def f1(x):
        return "—" if x is None else f"{x:,.1f}"
    md = [f"# Soak: {a.minutes:g} min over a socket at {a.rate:,.0f} lines/s, the line server restarted every {every}"
          + (" — TRIAL RUN (short), not the run of record" if trial else ""), "",
          f"Run {env['started']} → {env['ended']} UTC with `bench/soak.sh {' '.join(sys.argv[3:])}`.", "",
          f"**Reconciliation: {'every count agrees' if ok else 'FAILED (see below)'}.** "
          f"RSS after the first {warmup:g} s: {f1(min(rss) if rss else None)}–{f1(max(rss) if rss else None)} MB "
          f"(median {f1(statistics.median(rss) if rss else None)}), trend {f1(slope)} MB/hour; "
          f"peak (VmHWM) {f1(max((s['hwm_mb'] or 0) for s in samples))} MB.", "",
          "![RSS and lines/s over time](rss.svg)", "",
          "## Machine and load", "",
          f"- {platform.node()}: {env['cpu']}, {env['cores']} cores, {env['mem']} GiB, Linux {platform.release()}; "
          f"tagstream {BUILT_FROM}, {out_of(['rustc', '--version'])}.",
          f"- Load average {env['load0']} at the start, {env['load1']} at the end. Cores used by other tenants "
          f"(machine busy less the engine and the line server), per sample: "
          + (f"median {statistics.median(others)}, max {max(others)} of {env['cores']}." if others else "—"),
          "  Busiest processes at the start: " + "; ".join(f"`{p}`" for p in env["busiest"]) + ".",
          "  The line server runs on the same 2 cores as the engine (at 1M lines/s it copies ~124 MB/s into the socket).", "",
          "## Commands", "",
          f"- Engine: `{show(engine_cmd)}` (processing time, 10 s batches, 60 s window, top 10, results store on).",
          f"- Line servers, one after another on the same port: `{show(servers[0].cmd[:-4])} --duration D --status 1s`, "
          f"D = {a.restart_every:g} s (the last one: what is left of the {a.minutes:g} min).",
          f"- Served file: {a.lines:,} lines from {data_how}, sent over and over.",
          f"- Sampled every {a.sample:g} s: the engine's VmRSS/VmHWM (/proc/PID/status), CPU (/proc/PID/stat), "
          "/metrics (records in, windows, reconnects, distinct tags) and the machine's busy time (/proc/stat).", "",
          "## Reconciliation", "",
          "| count | value | agrees |", "|---|---|---|"]
    md += [f"| {n} | {v} | {'yes' if good else '**NO**'} |" for n, v, good in checks]
    md += ["",
           "How restarts are accounted: each line server ends its client's stream itself after D (`--duration`), "
           "writes what it has sent (`done: N lines`, exact: only whole lines are written) and exits; the next one "
           "starts on the same port at once, and the engine, having read to the end of the stream, reconnects on "
           "its 2 s retry. Nothing is in flight across a restart, so no line is lost between a server and the "
           "engine: `records in` must equal the servers' sum exactly. What a restart costs is lines never sent: "
           "while no server has a client (the engine's retry wait, "
           + (f"{min(gaps)}–{max(gaps)} s per restart here" if gaps else "none here") + "), nothing is paced, and "
           "each new server starts pacing from zero; those lines are the server's (never generated), not a loss. "
           f"Over the run the servers sent for {secs_sent:,.0f} s of the {a.minutes * 60:,.0f} s.", "",
           "## Line servers", "",
           "| # | started (s) | client connected (s) | ended (s) | sent | achieved lines/s | max backlog (lines) | end |",
           "|---|---|---|---|---|---|---|---|"]
    for s in segs:
        md.append(f"| {s['segment']} | {s['started']} | {s.get('connected')} | {s.get('ended')} | "
                  f"{(s.get('sent') or 0):,} | {(s.get('achieved_rate') or 0):,} | {(s.get('max_backlog') or 0):,} | "
                  f"{s.get('end_reason')} |")
    md += ["", "Backlog: lines due at the rate but not yet written because the engine had not read the "
           "previous ones (TCP back-pressure): a growing backlog means the engine fell behind the rate.", "",
           "## Over time", "",
           f"- Lines/s received between samples: median {statistics.median(rates):,.0f}, min {min(rates):,}, "
           f"max {max(rates):,}." if rates else "- No rate samples.",
           f"- RSS (VmRSS) samples: first {f1(samples[0]['rss_mb'])} MB, last {f1(samples[-1]['rss_mb'])} MB; "
           f"after {warmup:g} s min {f1(min(rss) if rss else None)}, max {f1(max(rss) if rss else None)} MB; "
           f"least-squares trend after {warmup:g} s {f1(slope)} MB/hour.",
           f"- Windows emitted: {len(windows)}; distinct tags in the latest window (last sample): "
           f"{samples[-1]['distinct_tags']:,}.", "",
           f"Raw samples: `raw.csv` (every {a.sample:g} s), line servers: `segments.csv`, plot: `rss.svg`. "
           f"Logs (not committed): `{os.path.relpath(h.logs, REPO)}`.", ""]
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(md))
    print()
    for n, v, good in checks:
        print(f"{'ok ' if good else 'NO '} {n}: {v}")
    print(f"RSS after {warmup:g} s: {f1(min(rss) if rss else None)}–{f1(max(rss) if rss else None)} MB, trend {f1(slope)} MB/h")
    print(f"\nwrote {os.path.relpath(out, REPO)}/summary.md, raw.csv, segments.csv, rss.svg")
    if not ok:
        die("reconciliation failed: see summary.md")


if __name__ == "__main__":
    main()
