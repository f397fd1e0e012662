#!/usr/bin/python3
"""torch_check.py: PyTorch's side of nntrain's weight round trips (test-only, python3-torch).

  torch_check.py compare STATE.safetensors IMAGES.idx.gz PREDICT.csv TOL
      builds the torch.nn module equivalent to test_export.c's CNN (conv, batch norm, max
      pool, dropout, linear), loads STATE with load_state_dict(strict=True), runs it in eval
      mode on the images of PREDICT.csv's rows and compares its softmax with the p_ columns
      that `nntrain predict` wrote; prints one JSON line and exits 1 beyond TOL.
  torch_check.py save OUT.safetensors SEED
      writes a freshly initialised module's state dict (PyTorch's own init, seeded): weights
      made outside nntrain, for `nntrain train --init-from`.

safetensors is read and written here with json and numpy (Debian has no python3-safetensors):
an independent reader of the format. Exits 2 with a message when torch is missing."""
import gzip
import json
import struct
import sys

try:
    import numpy as np
    import torch
except ImportError as e:
    sys.stderr.write("torch_check.py: %s (python3-torch, scripts/install-deps.sh --test)\n" % e)
    sys.exit(2)

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        lo, hi = v["data_offsets"]
        a = np.frombuffer(b[8 + n + lo:8 + n + hi], dtype=DTYPES[v["dtype"]])
        out[name] = torch.from_numpy(a.reshape(v["shape"]).copy())
    return out


def write_safetensors(path, tensors):
    names = sorted(tensors)
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    codes = {torch.float32: "F32", torch.int64: "I64"}
    for k in names:
        t = tensors[k].detach().contiguous()
        raw = t.numpy().tobytes()
        header[k] = {"dtype": codes[t.dtype], "shape": list(t.shape),
                     "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class CNN(torch.nn.Module):
    """test_export.c's CNN: conv1 (relu) - bn1 - pool - flatten - drop - fc1 (relu) - fc2"""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.drop = torch.nn.Dropout(0.3)
        self.fc1 = torch.nn.Linear(8 * 14 * 14, 16)
        self.fc2 = torch.nn.Linear(16, 10)

    def forward(self, x):
        x = self.bn1(torch.relu(self.conv1(x)))
        x = torch.nn.functional.max_pool2d(x, 2)
        x = self.drop(torch.flatten(x, 1))
        return self.fc2(torch.relu(self.fc1(x)))


def idx_images(path):
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    nd = raw[3]
    dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
    a = np.frombuffer(raw[4 + 4 * nd:], dtype=np.uint8).reshape(dims)
    return a


def compare(state, images, csv, tol):
    m = CNN()
    m.load_state_dict(read_safetensors(state), strict=True)
    m.eval()
    lines = open(csv).read().strip().split("\n")
    head = lines[0].split(",")
    pcol = next(i for i, h in enumerate(head) if h.startswith("p_"))
    rows = [r.split(",") for r in lines[1:]]
    imgs = idx_images(images)
    idx = [int(r[0]) for r in rows]
    x = torch.from_numpy(imgs[idx].astype(np.float32) * np.float32(1 / 255.0)).unsqueeze(1)
    with torch.no_grad():
        p = torch.softmax(m(x), dim=1).numpy()
    want = np.array([[float(v) for v in r[pcol:]] for r in rows], dtype=np.float64)
    diff = float(np.abs(p - want).max())
    print(json.dumps({"rows": len(rows), "max_diff": diff, "torch": torch.__version__}))
    return 0 if diff <= tol else 1


def main(argv):
    if len(argv) == 6 and argv[1] == "compare":
        return compare(argv[2], argv[3], argv[4], float(argv[5]))
    if len(argv) == 4 and argv[1] == "save":
        torch.manual_seed(int(argv[3]))
        m = CNN()
        with torch.no_grad():  # running statistics that are not the defaults: they must load
            m.bn1.running_mean.uniform_(-0.5, 0.5)
            m.bn1.running_var.uniform_(0.5, 2.0)
            m.bn1.weight.uniform_(0.5, 1.5)
            m.bn1.bias.uniform_(-0.5, 0.5)
        write_safetensors(argv[2], m.state_dict())
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
