#!/usr/bin/python3
"""compare.py: nntrain against PyTorch on the CPU, side by side in one invocation.

Builds a release tree (build-bench/), then runs rounds in which every configuration (model x
threads x precision; "2r" = nntrain with [train] replicas = 2, one thread per replica, against
PyTorch at 2 threads) trains once with nntrain (bench_train: the real trainer) and once with
PyTorch (bench/torch_fmnist.py, Debian's python3-torch with OpenBLAS and --tuned-malloc),
alternating which goes first. Writes the table to bench/RESULTS.md (or --out) with the date,
CPU, oneDNN's ISA line, package versions, the load average around every run and the command.
It measures; it never fails because a figure is poor. Usage: bash bench/run.sh [--quick] ...
"""
import argparse
import datetime
import os
import re
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build-bench")
DATA = "/usr/share/datasets/fashion-mnist"

# model -> (model file, epochs of a full run) as in shared/bench/README.md
MODELS = {"mlp": ("examples/fashion_mnist_mlp.ini", 5), "cnn": ("examples/fashion_mnist_cnn.ini", 2)}
# --quick: (epochs, training samples, test samples); same recipes (accuracy then not comparable)
QUICK = {"mlp": (2, 25600, 2000), "cnn": (2, 3840, 1000)}


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, **kw)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run(cmd, env):
    """Runs cmd; returns (stdout+stderr, peak RSS in MB from wait4, load before, load after)."""
    l0 = loadavg()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return out, ru.ru_maxrss / 1024, l0, loadavg(), p.returncode


def parse_result(out):
    line = [l for l in out.splitlines() if l.startswith("RESULT ")]
    if not line:
        return None
    kv = dict(tok.split("=", 1) for tok in line[-1].split()[1:] if "=" in tok)
    num = {}
    for k, v in kv.items():
        try:
            num[k] = float(v)
        except ValueError:
            num[k] = v
    return num


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for l in f:
            if l.startswith("model name"):
                cpu = l.split(":", 1)[1].strip()
                break
    flags = set()
    with open("/proc/cpuinfo") as f:
        for l in f:
            if l.startswith("flags"):
                flags = set(l.split(":", 1)[1].split())
                break
    isa_flags = " ".join(sorted(f for f in flags if f.startswith(("avx", "amx"))))
    pkgs = {}
    for p in ["libdnnl2", "python3-torch", "libopenblas0-openmp", "gcc", "libc6"]:
        r = sh(["dpkg-query", "-W", "-f=${Version}", p])
        pkgs[p] = r.stdout.strip() if r.returncode == 0 else "not installed"
    commit = sh(["git", "-C", ROOT, "describe", "--always", "--dirty"]).stdout.strip()
    return cpu, isa_flags, pkgs, commit, os.cpu_count()


def build(args):
    if not os.path.exists(os.path.join(BUILD, "build.ninja")):
        r = sh(["meson", "setup", BUILD, "--buildtype=release", "-Dtests=false"], cwd=ROOT)
        if r.returncode:
            sys.exit("compare.py: meson setup failed:\n" + r.stdout + r.stderr)
    r = sh(["ninja", "-C", BUILD])
    if r.returncode:
        sys.exit("compare.py: the build failed:\n" + r.stdout[-4000:] + r.stderr[-4000:])


def devenv():
    """The environment `meson devenv` gives: the build tree's plugins on NNTRAIN_PLUGIN_PATH."""
    r = sh(["meson", "devenv", "-C", BUILD, "--dump"])
    env = dict(os.environ)
    for l in r.stdout.splitlines():
        m = re.match(r'^([A-Za-z_][A-Za-z0-9_]*)="?(.*?)"?$', l)
        if m:
            env[m.group(1)] = m.group(2).replace("$" + m.group(1), env.get(m.group(1), ""))
    return env


def onednn_isa(env):
    e = dict(env, ONEDNN_VERBOSE="1")
    out, *_ = run(nntrain_cmd("mlp", 1, "f32", (1, 256, 128), "isa"), e)
    m = re.search(r"onednn_verbose,info,cpu,isa:(.*)", out)
    return m.group(1).strip() if m else "unknown"


def thread_count(threads):
    """"2" (one step over 2 threads) and "2r" (2 replicas of one thread each) use 2 threads"""
    return int(str(threads).rstrip("r"))


def nntrain_cmd(model, threads, precision, quick, tag):
    path, epochs = MODELS[model]
    cmd = [os.path.join(BUILD, "bench", "bench_train"), os.path.join(ROOT, path),
           "--threads", str(thread_count(threads)), "--plugin-dir", os.path.join(BUILD, "bench"),
           "--run-dir", os.path.join(BUILD, "bench-runs", f"{model}-{threads}-{precision}"),
           "--set", f"data.dir={DATA}", "--tag", tag]
    if str(threads).endswith("r"):
        cmd += ["--set", f"train.replicas={thread_count(threads)}"]
    if precision != "f32":
        cmd += ["--set", f"train.precision={precision}"]
    if quick:
        cmd += ["--set", f"train.epochs={quick[0]}", "--set", f"data.limit={quick[1]}",
                "--set", f"data.test_limit={quick[2]}"]
    else:
        cmd += ["--set", f"train.epochs={epochs}"]
    return cmd


def torch_cmd(model, threads, precision, quick, tag):
    epochs = quick[0] if quick else MODELS[model][1]
    cmd = ["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_fmnist.py"), "--model", model,
           "--epochs", str(epochs), "--threads", str(thread_count(threads)), "--tuned-malloc",
           "--precision", precision, "--data", DATA, "--tag", tag]
    if quick:
        cmd += ["--limit", str(quick[1]), "--test-limit", str(quick[2])]
    return cmd


def label(threads):
    n = thread_count(threads)
    if str(threads).endswith("r"):
        return f"{n} (nntrain: {n} replicas)"
    return f"{n} thread{'s' if n > 1 else ''}"


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def spread(xs, fmt):
    xs = [x for x in xs if x == x]
    if not xs:
        return "n/a"
    return f"{fmt(statistics.median(xs))} ({fmt(min(xs))}–{fmt(max(xs))})"


def k(x):
    return f"{x / 1000:.2f}k" if x >= 1000 else f"{x:.0f}"


def main():
    global BUILD
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="short runs (2 epochs of 25,600 MLP / 3,840 CNN samples, small test sets)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--threads", default="1,2,2r",
                    help="thread counts; Nr = nntrain with [train] replicas = N (N replicas of "
                         "one thread each), against PyTorch at N threads")
    ap.add_argument("--precision", default="auto",
                    help="f32, bf16, or auto: f32, plus bf16 when oneDNN reports a bf16 ISA")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    ap.add_argument("--build-dir", default=BUILD, help="the release tree to build and run")
    ap.add_argument("--no-build", action="store_true", help="use the build tree as it is")
    ap.add_argument("--note", action="append", default=[],
                    help="a line for RESULTS.md about the conditions (e.g. a shared host)")
    args = ap.parse_args()
    BUILD = os.path.abspath(args.build_dir)

    if not args.no_build:
        build(args)
    env = devenv()
    # both frameworks under the same OpenMP settings (nntrain's CLI sets passive waiting, which
    # a shared machine needs: spinning threads collapse when other processes hold the cores)
    env["OMP_WAIT_POLICY"] = "passive"
    torch_env = dict(env, LD_PRELOAD=os.path.join(BUILD, "bench", "malloc_count.so"))
    cpu, flags, pkgs, commit, ncpu = machine()
    isa = onednn_isa(env)
    bf16_hw = "bfloat16" in isa or "AMX" in isa
    precisions = ["f32", "bf16"] if args.precision == "auto" and bf16_hw else \
        ["f32"] if args.precision == "auto" else args.precision.split(",")
    refusal = ""
    if not bf16_hw:
        out, *_ = run(nntrain_cmd("cnn", 1, "bf16", (1, 256, 128), "refusal"), env)
        refusal = " ".join(l for l in out.splitlines() if "bench_train:" in l)

    configs = [(m, t, p) for m in args.models.split(",") for p in precisions
               for t in args.threads.split(",")]
    quick = {m: QUICK[m] for m in MODELS} if args.quick else {m: None for m in MODELS}
    res = {}  # (model, threads, precision, framework) -> list of result dicts per round
    log = []
    started = datetime.datetime.now().astimezone()
    for rnd in range(args.rounds):
        for ci, (m, t, p) in enumerate(configs):
            order = ["nntrain", "torch"] if (rnd + ci) % 2 == 0 else ["torch", "nntrain"]
            for fw in order:
                tag = f"r{rnd + 1}"
                if fw == "nntrain":
                    cmd, e = nntrain_cmd(m, t, p, quick[m], tag), env
                else:
                    cmd, e = torch_cmd(m, t, p, quick[m], tag), torch_env
                t0 = time.time()
                out, rss, l0, l1, rc = run(cmd, e)
                r = parse_result(out) or {}
                r.update(rss=rss, load0=l0, load1=l1, rc=rc, wall=time.time() - t0)
                res.setdefault((m, t, p, fw), []).append(r)
                line = (f"round {rnd + 1} {m} {label(t)} {p} {fw}: best epoch "
                        f"{r.get('best_epoch_samples_per_s', float('nan')):.0f} samples/s, whole run "
                        f"{r.get('samples_per_s', float('nan')):.0f}, test acc "
                        f"{r.get('test_acc', float('nan')):.4f}, peak RSS {rss:.0f} MB, "
                        f"load {l0:.1f} -> {l1:.1f}")
                if rc or not r.get("samples_per_s"):
                    line += f" FAILED (exit {rc}): " + out.strip().splitlines()[-1] if out.strip() else ""
                print(line, flush=True)
                log.append(line)
    write(args, res, configs, log, started, cpu, flags, pkgs, commit, ncpu, isa, refusal)


def write(args, res, configs, log, started, cpu, flags, pkgs, commit, ncpu, isa, refusal):
    L = []
    cmd = "bash bench/run.sh " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    L.append(BEGIN)
    L.append(f"## CPU: nntrain against PyTorch (bench/run.sh)\n")
    L.append(f"- date: {started:%Y-%m-%d %H:%M %Z}; nntrain {commit}; command: `{cmd.strip()}`")
    L.append(f"- CPU: {cpu}, {ncpu} cores; flags: {flags}")
    L.append(f"- oneDNN ISA line: `{isa}`")
    L.append("- packages: " + ", ".join(f"{p} {v}" for p, v in pkgs.items()))
    loads = [r[k] for rs in res.values() for r in rs for k in ("load0", "load1")]
    L.append(f"- load average (1 min) around the runs: median {med(loads):.1f}, "
             f"{min(loads):.1f}–{max(loads):.1f} on {ncpu} cores" if loads else "- no runs")
    L.append(f"- {'quick runs (fewer samples: accuracy not comparable to full runs)' if args.quick else 'full runs'}; "
             f"{args.rounds} rounds, the two frameworks interleaved, alternating which goes first; "
             "both with OMP_WAIT_POLICY=passive; PyTorch with OpenBLAS, --tuned-malloc, and "
             "bench/malloc_count.so preloaded to count its allocations")
    for n in args.note:
        L.append(f"- note: {n}")
    if refusal:
        L.append(f"- bf16 not run: this CPU has no bf16 ISA for oneDNN; nntrain refuses it: `{refusal}`")
    L.append("")
    L.append("Samples/s are medians over the rounds with (min–max); the ratio is taken per round "
             "(the two runs of a round are back to back) and summarised the same way. The CPU-time "
             "ratio (PyTorch's process CPU seconds over nntrain's, for the same training samples) "
             "depends less on what else the machine runs; it is a second view, not the target.\n")
    L.append("| model | threads | precision | nntrain best epoch | PyTorch best epoch | ratio | "
             "nntrain whole run | PyTorch whole run | ratio | ratio of samples per CPU-second | "
             "test acc nntrain / PyTorch |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for m, t, p in configs:
        a, b = res.get((m, t, p, "nntrain"), []), res.get((m, t, p, "torch"), [])
        g = lambda rs, key: [r.get(key, float("nan")) for r in rs]
        ratio = lambda key: [x / y for x, y in zip(g(a, key), g(b, key)) if y == y and y > 0]
        L.append(f"| {m} | {label(t)} | {p} | {spread(g(a, 'best_epoch_samples_per_s'), k)} | "
                 f"{spread(g(b, 'best_epoch_samples_per_s'), k)} | "
                 f"{spread(ratio('best_epoch_samples_per_s'), lambda x: f'{x:.2f}×')} | "
                 f"{spread(g(a, 'samples_per_s'), k)} | {spread(g(b, 'samples_per_s'), k)} | "
                 f"{spread(ratio('samples_per_s'), lambda x: f'{x:.2f}×')} | "
                 f"{spread([y / x for x, y in zip(g(a, 'cpu_s'), g(b, 'cpu_s')) if x == x and x > 0], lambda x: f'{x:.2f}×')} | "
                 f"{med(g(a, 'test_acc')) * 100:.2f}% / {med(g(b, 'test_acc')) * 100:.2f}% |")
    L.append("")
    L.append("Best configuration against best configuration (the median best-epoch samples/s of "
             "each side's fastest configuration; PyTorch's runs at one thread count, paired with "
             "nntrain's threads and with its replicas, pooled):\n")
    for m in dict.fromkeys(c[0] for c in configs):
        for p in dict.fromkeys(c[2] for c in configs):
            best = {}
            for fw in ("nntrain", "torch"):
                # PyTorch runs the same configuration against "2" and "2r": its runs at one
                # thread count are pooled into one median
                key = (lambda t: thread_count(t)) if fw == "torch" else (lambda t: t)
                runs = {}
                for (mm, t, pp) in configs:
                    if mm == m and pp == p:
                        runs.setdefault(key(t), []).extend(res.get((m, t, p, fw), []))
                c = [(med([r.get("best_epoch_samples_per_s", float("nan")) for r in rs]), t)
                     for t, rs in runs.items()]
                c = [x for x in c if x[0] == x[0]]
                best[fw] = max(c) if c else (float("nan"), 0)
            L.append(f"- {m} {p}: nntrain {k(best['nntrain'][0])} ({label(best['nntrain'][1])}), "
                     f"PyTorch {k(best['torch'][0])} ({thread_count(best['torch'][1])} threads): "
                     f"{best['nntrain'][0] / best['torch'][0]:.2f}×")
    L.append("")
    L.append("Memory and steady state (medians over the rounds). Allocations and page faults are "
             "per training step, counted in the last epoch past its first 10 steps (PyTorch: to its "
             "end; nntrain: over 20 steps, since telling its own allocations apart from those "
             "oneDNN 2.6 makes inside dnnl_primitive_execute unwinds each one's stack, which "
             "would slow the epoch it watches), in the whole process (loader threads included). "
             "Time to first step counts from process start (PyTorch's includes importing "
             "torch). First epoch = its training time over the best later epoch's.\n")
    L.append("| model | threads | precision | framework | peak RSS MB | allocations/step | "
             "page faults/step | time to first step s | first epoch / steady |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for m, t, p in configs:
        for fw in ("nntrain", "torch"):
            rs = res.get((m, t, p, fw), [])
            g = lambda key: med([r.get(key, float("nan")) if isinstance(r.get(key), float) else float("nan") for r in rs])
            allocs = (f"{g('mallocs_per_step'):.1f} own + {g('dnnl_mallocs_per_step'):.1f} in oneDNN"
                      if fw == "nntrain" else f"{g('mallocs_per_step'):.1f}")
            L.append(f"| {m} | {label(t)} | {p} | {'PyTorch' if fw == 'torch' else fw} | {g('rss'):.0f} | "
                     f"{allocs} | {g('faults_per_step'):.2f} | {g('first_step_s'):.2f} | "
                     f"{g('first_epoch_ratio'):.3f} |")
    L.append("\n<details><summary>every run</summary>\n\n```")
    L += log
    L.append("```\n</details>\n")
    L.append(END)
    splice(args.out, "\n".join(L) + "\n")
    print(f"compare.py: wrote {args.out}")


BEGIN = "<!-- bench/compare.py writes from here -->"
END = "<!-- bench/compare.py writes up to here -->"


def splice(path, section):
    """RESULTS.md holds other benchmarks' figures too: replaces only this script's section
    (between BEGIN and END), or appends it."""
    text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    a, b = text.find(BEGIN), text.find(END)
    if a >= 0 and b > a:
        text = text[:a] + section.rstrip("\n") + text[b + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
