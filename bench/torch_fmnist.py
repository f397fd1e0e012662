#!/usr/bin/python3
"""PyTorch CPU baseline: train small models on Fashion-MNIST (nntrain's copy of the reference
script shared/bench/torch_fmnist.py: the same models, recipes, data and timing; bench/compare.py
runs it side by side with nntrain).

Run with Debian's python: /usr/bin/python3 torch_fmnist.py --model mlp --epochs 5
Data: gzipped IDX files (default /usr/share/datasets/fashion-mnist/), loaded with gzip+numpy.
Timing: 'train_s' covers only the training loop of an epoch (forward, backward, step,
on-the-fly train loss/acc bookkeeping); evaluation on the test set is timed separately.
Added to the reference: --precision bf16 (torch.autocast on the CPU), and the measurements that
compare.py reports for both frameworks: time from process start to the end of the first step,
page faults and (when bench/malloc_count.so is preloaded) heap allocations per steady-state
step, and the first epoch's time against the best later one.
"""
import argparse
import gzip
import os
import struct
import sys
import time

import ctypes
import resource

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def tune_malloc():
    """Stop glibc from handing freed tensor memory back to the kernel after every step
    (otherwise each step re-faults fresh zeroed pages: ~1-3 M minor faults per CNN epoch here).
    Same effect as MALLOC_TRIM_THRESHOLD_/MALLOC_TOP_PAD_/MALLOC_MMAP_THRESHOLD_ env vars."""
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    ok = [libc.mallopt(M_MMAP_THRESHOLD, 32 << 20),  # glibc max; bigger blocks still use mmap
          libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1),
          libc.mallopt(M_TOP_PAD, 256 << 20)]
    return all(ok)


def process_age_s():
    """Seconds since this process was started (from /proc: the same clock nntrain's bench uses)."""
    with open("/proc/self/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / _HZ


def faults():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_minflt + r.ru_majflt


def malloc_counter():
    """The call counter of bench/malloc_count.so when it is preloaded, else None."""
    try:
        f = ctypes.CDLL(None).nnbench_malloc_count
    except AttributeError:
        return None
    f.restype = ctypes.c_long
    return f


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: size mismatch {arr.size} vs {dims}")
    return arr.reshape(dims)


def load_split(root, prefix):
    x = load_idx(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz"))
    y = load_idx(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(x.astype(np.float32) / np.float32(255.0)).unsqueeze(1)  # N,1,28,28 in [0,1]
    y = torch.from_numpy(y.astype(np.int64))
    return x.contiguous(), y


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.reshape(x.shape[0], 784)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def forward_macs(model_name):
    """Multiply-accumulates of one forward pass for one sample (weights only; bias/relu/pool ignored)."""
    if model_name == "mlp":
        return 784 * 256 + 256 * 128 + 128 * 10
    conv1 = 28 * 28 * 32 * (5 * 5 * 1)
    conv2 = 14 * 14 * 64 * (5 * 5 * 32)
    return conv1 + conv2 + 3136 * 128 + 128 * 10


_HZ = os.sysconf("SC_CLK_TCK")


def cpu_snapshot():
    """(machine busy CPU-s, machine steal CPU-s, this process's CPU-s) -- to spot interference."""
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
        busy = (v[0] + v[1] + v[2] + v[5] + v[6]) / _HZ  # user nice system irq softirq
        steal = (v[7] if len(v) > 7 else 0) / _HZ
    except OSError:
        busy = steal = 0.0
    return busy, steal, time.process_time()


def evaluate(model, x, y, bs=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], bs):
            out = model(x[i:i + bs])
            correct += (out.argmax(1) == y[i:i + bs]).sum().item()
    model.train()
    return correct / x.shape[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training samples (0 = all)")
    ap.add_argument("--test-limit", type=int, default=0, help="use only the first N test samples (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-batch", type=int, default=128)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--tag", default="", help="free-form label copied to the RESULT line")
    ap.add_argument("--tuned-malloc", action="store_true",
                    help="mallopt so glibc keeps freed memory (see tune_malloc); default = stock glibc behaviour")
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                    help="bf16: forward under torch.autocast('cpu', dtype=torch.bfloat16)")
    ap.add_argument("--skip-steps", type=int, default=10,
                    help="steps at the start of an epoch left out of the per-step counts")
    args = ap.parse_args()
    count_mallocs = malloc_counter()

    if args.tuned_malloc and not tune_malloc():
        print("# warning: mallopt failed", flush=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "t10k")
    if args.limit > 0:
        x_train, y_train = x_train[:args.limit].contiguous(), y_train[:args.limit].contiguous()
    if args.test_limit > 0:
        x_test, y_test = x_test[:args.test_limit].contiguous(), y_test[:args.test_limit].contiguous()
    n = x_train.shape[0]

    model = MLP() if args.model == "mlp" else CNN()
    if args.model == "mlp":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    flops_per_sample = 3 * 2 * forward_macs(args.model)
    print(f"# torch {torch.__version__} threads={torch.get_num_threads()} model={args.model} "
          f"params={sum(p.numel() for p in model.parameters())} train_n={n} test_n={x_test.shape[0]} "
          f"batch={args.batch} flops_per_train_sample={flops_per_sample} tuned_malloc={int(args.tuned_malloc)} "
          f"precision={args.precision} python={sys.executable}", flush=True)

    gen = torch.Generator().manual_seed(args.seed)
    total_train_s = 0.0
    total_foreign = 0.0
    total_own_cpu = 0.0
    best_sps = 0.0
    test_acc = 0.0
    epoch_s = []
    first_step_s = None
    steady = None  # (steps, faults, mallocs) counted in the last epoch, past its first steps
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")
    for epoch in range(1, args.epochs + 1):
        perm = torch.randperm(n, generator=gen)
        model.train()
        loss_sum = 0.0
        correct = 0
        snap0 = cpu_snapshot()
        t0 = time.perf_counter()
        counted = [0, 0, 0]
        for step, i in enumerate(range(0, n, args.batch)):
            if step == args.skip_steps:
                counted = [-step, -faults(), -(count_mallocs() if count_mallocs else 0)]
            idx = perm[i:i + args.batch]
            xb, yb = x_train[idx], y_train[idx]
            with autocast:
                out = model(xb)
                loss = loss_fn(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * xb.shape[0]
            correct += (out.argmax(1) == yb).sum().item()
            if first_step_s is None:
                first_step_s = process_age_s()
        train_s = time.perf_counter() - t0
        if counted[0] < 0:
            steps = (n + args.batch - 1) // args.batch
            steady = (steps + counted[0], faults() + counted[1],
                      (count_mallocs() + counted[2]) if count_mallocs else None)
        epoch_s.append(train_s)
        snap1 = cpu_snapshot()
        own_cpu = snap1[2] - snap0[2]
        foreign_cpu = max(0.0, (snap1[0] - snap0[0]) - own_cpu)
        steal = snap1[1] - snap0[1]
        total_foreign += foreign_cpu
        total_own_cpu += own_cpu
        t1 = time.perf_counter()
        test_acc = evaluate(model, x_test, y_test, args.eval_batch)
        eval_s = time.perf_counter() - t1
        sps = n / train_s
        total_train_s += train_s
        best_sps = max(best_sps, sps)
        print(f"epoch {epoch} train_loss={loss_sum / n:.4f} train_acc={correct / n:.4f} "
              f"test_acc={test_acc:.4f} train_s={train_s:.2f} eval_s={eval_s:.2f} "
              f"epoch_wall_s={train_s + eval_s:.2f} samples_per_s={sps:.1f} "
              f"gflops={sps * flops_per_sample / 1e9:.2f} own_cpu_s={own_cpu:.2f} "
              f"other_procs_cpu_s={foreign_cpu:.2f} steal_s={steal:.2f}", flush=True)

    sps_all = n * args.epochs / total_train_s
    later = min(epoch_s[1:]) if len(epoch_s) > 1 else float("nan")
    per_step = lambda k: f"{steady[k] / steady[0]:.2f}" if steady and steady[k] is not None else "nan"
    print(f"RESULT model={args.model} epochs={args.epochs} batch={args.batch} threads={args.threads} "
          f"tuned_malloc={int(args.tuned_malloc)} precision={args.precision} "
          f"train_n={n} samples_per_s={sps_all:.1f} best_epoch_samples_per_s={best_sps:.1f} "
          f"gflops={sps_all * flops_per_sample / 1e9:.2f} test_acc={test_acc:.4f} "
          f"train_s_total={total_train_s:.2f} other_procs_cpu_s={total_foreign:.2f} "
          f"cpu_s={total_own_cpu:.2f} first_step_s={first_step_s:.3f} first_epoch_ratio={epoch_s[0] / later:.3f} "
          f"faults_per_step={per_step(1)} mallocs_per_step={per_step(2)} "
          f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} "
          f"tag={args.tag or '-'}", flush=True)


if __name__ == "__main__":
    main()
