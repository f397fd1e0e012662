#!/usr/bin/env python3
"""check_logs.py: reads the files the logger plugins wrote for the fake run of fake_run.h with
independent parsers (csv, json, protobuf's own runtime, a bitwise CRC32C) and checks every
value against the run's formulas, restated here. Exit 0 = all good; else prints why.

usage: check_logs.py csv FILE EVERY | jsonl FILE | tb DIR | crc
"""
import csv
import glob
import json
import math
import os
import re
import socket
import struct
import sys
import time
from bisect import bisect_right

EPOCHS, STEPS = 2, 5
CLASSES = ["cat", "dog", "<bird&>"]


def fail(msg):
    print("check_logs.py: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


# ---- the fake run (fake_run.h) ----
def step_values(g):
    return {"loss": 2.0 / (g + 1), "accuracy": g / 20.0,
            "grad_norm": None if g == 3 else 0.25 * g, "elapsed_s": 0.5 * g,
            "samples_per_s": 100.0 + g}


def lr_of(e):
    return 0.1 * 0.5 ** e


def epoch_values(e):
    return {"loss": 1.0 / (e + 1) + 0.05, "accuracy": 0.5 + 0.2 * e,
            "val_loss": 1.2 / (e + 1), "val_accuracy": 0.45 + 0.2 * e}


def confusion(e):
    return [[(5 if i == j else 1) + e for j in range(3)] for i in range(3)]


def tensors(e):
    """float32 values exactly as the C test computes them"""
    w = [f32(f32(f32(0.1) * (i - 2)) * (e + 1)) for i in range(6)]
    b = [0.0, f32(f32(1e-13) * (e + 1)), f32(-1.0 * (e + 1))]
    gw = [f32(f32(-0.01) * i) for i in range(6)]
    gb = [0.5, 0.5, 0.0]
    return {"params/fc.weight": w, "params/fc.bias": b, "grads/fc.weight": gw,
            "grads/fc.bias": gb}


# ---- CSV ----
def check_csv(path, every):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    expect(head == ["kind", "epoch", "step", "global_step", "elapsed_s", "lr", "grad_norm",
                    "samples_per_s", "loss", "accuracy", "val_loss", "val_accuracy"],
           "csv header is %r" % head)
    recs = []
    for i, r in enumerate(rows[1:], 2):
        expect(len(r) == len(head), "csv line %d has %d fields, header %d" % (i, len(r), len(head)))
        recs.append(dict(zip(head, r)))
    want = []
    for e in range(EPOCHS):
        for s in range(STEPS):
            if (s + 1) % every == 0:
                want.append(("step", e, s))
        want.append(("epoch", e, None))
    got = [(r["kind"], int(r["epoch"]), int(r["step"]) if r["step"] else None) for r in recs]
    expect(got == want, "csv rows are %r, expected %r" % (got, want))
    for r in recs:
        e = int(r["epoch"])
        expect(float(r["lr"]) == lr_of(e), "csv lr %s" % r["lr"])
        if r["kind"] == "step":
            g = e * STEPS + int(r["step"]) + 1
            v = step_values(g)
            expect(int(r["global_step"]) == g, "csv global_step")
            for k in ("loss", "accuracy", "elapsed_s", "samples_per_s"):
                expect(float(r[k]) == v[k], "csv step %d %s = %s, expected %r" % (g, k, r[k], v[k]))
            if v["grad_norm"] is None:
                expect(r["grad_norm"] == "", "csv grad_norm at g=3 should be empty")
            else:
                expect(float(r["grad_norm"]) == v["grad_norm"], "csv grad_norm")
            expect(r["val_loss"] == "" and r["val_accuracy"] == "", "csv step row has val_*")
        else:
            v = epoch_values(e)
            expect(int(r["global_step"]) == STEPS * (e + 1), "csv epoch global_step")
            for k, x in v.items():
                expect(float(r[k]) == x, "csv epoch %d %s = %s, expected %r" % (e, k, r[k], x))
    print("csv: %d rows checked" % len(recs))


# ---- JSON lines ----
def check_jsonl(path):
    def no_const(name):
        fail("jsonl contains %s, which strict JSON forbids" % name)

    with open(path) as f:
        recs = [json.loads(line, parse_constant=no_const) for line in f]
    kinds = [r["kind"] for r in recs]
    want = ["train_begin"]
    for e in range(EPOCHS):
        want += ["step"] * STEPS + ["epoch", "checkpoint"]
    want.insert(len(want), "hint")
    want.append("train_end")
    expect(kinds == want, "jsonl kinds %r, expected %r" % (kinds, want))
    fixed = {"kind", "epoch", "step", "global_step", "elapsed_s", "lr", "grad_norm",
             "samples_per_s"}
    for r in recs:
        e = r["epoch"]
        if r["kind"] == "step":
            expect(fixed | {"loss", "accuracy"} == set(r), "jsonl step keys %r" % sorted(r))
            g = r["global_step"]
            expect(g == e * STEPS + r["step"] + 1, "jsonl global_step")
            for k, x in step_values(g).items():
                expect(r[k] == x, "jsonl step %d %s = %r, expected %r" % (g, k, r[k], x))
            expect(r["lr"] == lr_of(e), "jsonl lr")
        elif r["kind"] == "epoch":
            expect(fixed <= set(r), "jsonl epoch keys %r" % sorted(r))
            expect(r["step"] is None and r["grad_norm"] is None, "jsonl epoch step/grad_norm")
            for k, x in epoch_values(e).items():
                expect(r[k] == x, "jsonl epoch %d %s = %r, expected %r" % (e, k, r[k], x))
            expect(r["confusion"] == confusion(e), "jsonl confusion %r" % r["confusion"])
            expect(r["class_names"] == CLASSES, "jsonl class_names %r" % r["class_names"])
        elif r["kind"] == "checkpoint":
            expect(r["path"] == "ckpt/epoch%d.safetensors" % e, "jsonl checkpoint path")
        elif r["kind"] == "hint":
            expect(r["message"] == "validation loss rose: consider\tearly stopping",
                   "jsonl hint message %r" % r["message"])
        elif r["kind"] == "train_end":
            expect(r["message"] == "completed", "jsonl train_end message")
    print("jsonl: %d records checked" % len(recs))


# ---- TensorBoard: a CRC32C written bit by bit, and the protobuf runtime's own decoder ----
def crc32c(data):
    c = 0xFFFFFFFF
    for byte in data:
        c ^= byte
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def check_crc():
    expect(crc32c(b"123456789") == 0xE3069283, "crc32c('123456789')")
    expect(crc32c(bytes(32)) == 0x8A9136AA, "crc32c(32 zeros)")
    expect(crc32c(bytes([0xFF] * 32)) == 0x62A8AB43, "crc32c(32 x 0xff)")
    expect(crc32c(bytes(range(32))) == 0x46DD794E, "crc32c(0..31)")


def event_class():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="tb_check.proto", package="tbcheck",
                                             syntax="proto3")

    def field(msg, name, num, typ, label=F.LABEL_OPTIONAL, type_name=None, oneof=None):
        f = msg.field.add(name=name, number=num, type=typ, label=label)
        if type_name:
            f.type_name = type_name
        if oneof is not None:
            f.oneof_index = oneof

    h = fdp.message_type.add(name="HistogramProto")
    for name, num in (("min", 1), ("max", 2), ("num", 3), ("sum", 4), ("sum_squares", 5)):
        field(h, name, num, F.TYPE_DOUBLE)
    field(h, "bucket_limit", 6, F.TYPE_DOUBLE, F.LABEL_REPEATED)
    field(h, "bucket", 7, F.TYPE_DOUBLE, F.LABEL_REPEATED)
    s = fdp.message_type.add(name="Summary")
    v = s.nested_type.add(name="Value")
    v.oneof_decl.add(name="value")
    field(v, "tag", 1, F.TYPE_STRING)
    field(v, "simple_value", 2, F.TYPE_FLOAT, oneof=0)
    field(v, "histo", 5, F.TYPE_MESSAGE, type_name=".tbcheck.HistogramProto", oneof=0)
    field(s, "value", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".tbcheck.Summary.Value")
    ev = fdp.message_type.add(name="Event")
    ev.oneof_decl.add(name="what")
    field(ev, "wall_time", 1, F.TYPE_DOUBLE)
    field(ev, "step", 2, F.TYPE_INT64)
    field(ev, "file_version", 3, F.TYPE_STRING, oneof=0)
    field(ev, "summary", 5, F.TYPE_MESSAGE, type_name=".tbcheck.Summary", oneof=0)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName("tbcheck.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def read_records(path):
    data = open(path, "rb").read()
    out, at = [], 0
    while at < len(data):
        expect(at + 12 <= len(data), "truncated record header at byte %d" % at)
        head = data[at:at + 8]
        (n,) = struct.unpack("<Q", head)
        (hc,) = struct.unpack("<I", data[at + 8:at + 12])
        expect(hc == masked(head), "bad length CRC at byte %d" % at)
        body = data[at + 12:at + 12 + n]
        expect(len(body) == n and at + 16 + n <= len(data), "truncated record at byte %d" % at)
        (dc,) = struct.unpack("<I", data[at + 12 + n:at + 16 + n])
        expect(dc == masked(body), "bad data CRC at byte %d" % at)
        out.append(body)
        at += 16 + n
    return out


def default_limits():
    """TensorFlow's histogram.cc default buckets"""
    pos, v = [], 1.0e-12
    while v < 1.0e20:
        pos.append(v)
        v *= 1.1
    pos.append(sys.float_info.max)
    return [-x for x in reversed(pos)] + [0.0] + pos


def expected_histogram(values, limits):
    counts = [0.0] * len(limits)
    for x in values:
        counts[min(bisect_right(limits, x), len(limits) - 1)] += 1
    lim, cnt, i = [], [], 0
    while i < len(limits):  # EncodeToProto(preserve_zero_buckets=false)
        end, c, j = limits[i], counts[i], i + 1
        while c <= 0 and j < len(limits) and counts[j] <= 0:
            end, c, j = limits[j], counts[j], j + 1
        lim.append(end)
        cnt.append(c)
        i = j
    return lim, cnt


def check_tb(d):
    check_crc()
    files = glob.glob(os.path.join(d, "events.out.tfevents.*"))
    expect(len(files) == 1, "expected one event file in %s, found %r" % (d, files))
    name = os.path.basename(files[0])
    m = re.fullmatch(r"events\.out\.tfevents\.(\d+)\.(.+)\.(\d+)\.(\d+)", name)
    expect(m is not None, "event file name %s" % name)
    expect(m.group(2) == socket.gethostname(), "host in file name %s" % name)
    expect(abs(int(m.group(1)) - time.time()) < 3600, "seconds in file name %s" % name)
    Event = event_class()
    events = []
    for body in read_records(files[0]):
        e = Event()
        e.ParseFromString(body)
        expect(e.SerializeToString() == body, "record does not re-encode to the same bytes")
        events.append(e)
    first = events[0]
    expect(first.file_version == "brain.Event:2", "first event file_version %r" % first.file_version)
    expect(abs(first.wall_time - time.time()) < 3600, "wall_time %r" % first.wall_time)
    walls = [e.wall_time for e in events]
    expect(walls == sorted(walls), "wall times go backwards")
    scalars, histos = {}, {}
    for e in events[1:]:
        expect(e.WhichOneof("what") == "summary", "event without summary at step %d" % e.step)
        for v in e.summary.value:
            kind = v.WhichOneof("value")
            key = (v.tag, e.step)
            expect(key not in scalars and key not in histos, "duplicate %r" % (key,))
            if kind == "simple_value":
                scalars[key] = v.simple_value
            else:
                expect(kind == "histo", "value %s has no data" % v.tag)
                histos[key] = v.histo
    want = {}
    for e in range(EPOCHS):
        for s in range(STEPS):
            g = e * STEPS + s + 1
            sv = step_values(g)
            want[("batch/loss", g)] = sv["loss"]
            want[("batch/accuracy", g)] = sv["accuracy"]
            want[("batch/lr", g)] = lr_of(e)
            if sv["grad_norm"] is not None:
                want[("batch/grad_norm", g)] = sv["grad_norm"]
        for k, x in epoch_values(e).items():
            want[("epoch/" + k, STEPS * (e + 1))] = x
    expect(set(scalars) == set(want), "scalar tags/steps differ: extra %r, missing %r" % (
        sorted(set(scalars) - set(want)), sorted(set(want) - set(scalars))))
    for k, x in want.items():
        expect(scalars[k] == f32(x), "%s at step %d = %r, expected %r" % (k[0], k[1], scalars[k], f32(x)))
    limits = default_limits()
    nh = 0
    for e in range(EPOCHS):
        for tag, vals in tensors(e).items():
            key = (tag, STEPS * (e + 1))
            expect(key in histos, "histogram %s at step %d missing" % key)
            h = histos[key]
            lim, cnt = expected_histogram(vals, limits)
            expect(list(h.bucket_limit) == lim, "%s step %d bucket_limit %r, expected %r" % (
                tag, key[1], list(h.bucket_limit), lim))
            expect(list(h.bucket) == cnt, "%s bucket %r, expected %r" % (tag, list(h.bucket), cnt))
            expect(h.min == min(vals) and h.max == max(vals) and h.num == len(vals),
                   "%s min/max/num %r %r %r" % (tag, h.min, h.max, h.num))
            expect(math.isclose(h.sum, sum(vals), rel_tol=1e-12, abs_tol=1e-300), "%s sum" % tag)
            expect(math.isclose(h.sum_squares, sum(x * x for x in vals), rel_tol=1e-12),
                   "%s sum_squares" % tag)
            nh += 1
    expect(len(histos) == nh, "unexpected histograms %r" % sorted(histos))
    print("tb: %d events, %d scalars, %d histograms checked" % (len(events), len(scalars), nh))


def check_tb_eval(d):
    """`nntrain eval` of one checkpoint at step 10: the test split, then --split val; each
    split's values under its own tags (eval/, eval_val/), never mixed at the same step"""
    files = glob.glob(os.path.join(d, "events.out.tfevents.*"))
    expect(len(files) == 1, "expected one event file in %s, found %r" % (d, files))
    Event = event_class()
    scalars = {}
    for body in read_records(files[0])[1:]:
        e = Event()
        e.ParseFromString(body)
        for v in e.summary.value:
            key = (v.tag, e.step)
            expect(key not in scalars, "duplicate %r: test and val values mixed" % (key,))
            scalars[key] = v.simple_value
    want = {("eval/loss", 10): 0.5, ("eval/accuracy", 10): 0.75,
            ("eval_val/loss", 10): 0.25, ("eval_val/accuracy", 10): 0.875}
    expect(scalars == want, "eval scalars %r, expected %r" % (scalars, want))
    print("tb_eval: %d scalars checked" % len(scalars))


def main():
    mode = sys.argv[1]
    if mode == "csv":
        check_csv(sys.argv[2], int(sys.argv[3]))
    elif mode == "jsonl":
        check_jsonl(sys.argv[2])
    elif mode == "tb":
        check_tb(sys.argv[2])
    elif mode == "tb_eval":
        check_tb_eval(sys.argv[2])
    elif mode == "crc":
        check_crc()
        print("crc: ok")
    else:
        fail("unknown mode " + mode)


if __name__ == "__main__":
    main()
