#!/usr/bin/python3
"""torch_ref.py DIR CASE...: for each CASE, builds its PyTorch module with seeded random weights,
runs it on a seeded random input, and writes into DIR/CASE what test_torch_compat.c compares
against (one process for several cases: importing torch is the slow part):
every state-dict tensor, the input, an optional padding mask, the output, a random R, and
the gradients of sum(output * R) with respect to the input and every parameter.
Each tensor is DIR/CASE/NAME.f32 (little-endian float32) and a line of DIR/CASE/manifest.txt:
"NAME NDIM D0 D1 ...". Needs Debian's python3-torch; exits 2 with a message without it."""
import os
import sys

try:
    import torch
except ImportError:
    sys.stderr.write("torch_ref.py: python3-torch is missing (scripts/install-deps.sh --test)\n")
    sys.exit(2)


def cases():
    nn = torch.nn
    c = {}

    def rnn(cls, bidir, layers):
        return lambda: (cls(5, 4, num_layers=layers, bidirectional=bidir, batch_first=True),
                        (3, 6, 5), None)

    c["lstm"] = rnn(nn.LSTM, False, 1)
    c["lstm_bi2"] = rnn(nn.LSTM, True, 2)
    c["gru"] = rnn(nn.GRU, False, 1)
    c["gru_bi2"] = rnn(nn.GRU, True, 2)

    def mha(cross, causal, pad):
        def make():
            m = nn.MultiheadAttention(8, 2, batch_first=True)
            with torch.no_grad():  # PyTorch zeroes the biases: make them count
                m.in_proj_bias.uniform_(-0.5, 0.5)
                m.out_proj.bias.uniform_(-0.5, 0.5)
            return m, (2, 5, 8), (cross, causal, pad)
        return make

    c["mha_self"] = mha(False, False, False)
    c["mha_self_causal_pad"] = mha(False, True, True)
    c["mha_cross_pad"] = mha(True, False, True)

    def tel(norm_first, act, pad):
        def make():
            m = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                           activation=act, batch_first=True,
                                           norm_first=norm_first)
            with torch.no_grad():
                for n in ("self_attn.in_proj_bias", "self_attn.out_proj.bias", "norm1.weight",
                          "norm1.bias", "norm2.weight", "norm2.bias"):
                    m.get_parameter(n).uniform_(0.5 if n.endswith("weight") else -0.5, 1.0)
            return m, (3, 5, 8), (False, False, pad)
        return make

    c["tel_post_relu"] = tel(False, "relu", False)
    c["tel_pre_gelu_pad"] = tel(True, "gelu", True)

    class Patch(nn.Module):  # ViT's patch embedding: a stride-p conv, tokens, class token
        def __init__(self):
            super().__init__()
            self.proj = nn.Conv2d(3, 6, kernel_size=4, stride=4)
            self.cls_token = nn.Parameter(torch.randn(1, 1, 6))

        def forward(self, x):
            t = self.proj(x).flatten(2).transpose(1, 2)
            return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), t], dim=1)

    c["patch"] = lambda: (Patch(), (2, 3, 8, 12), None)
    return c


def export(name, out):
    torch.manual_seed(1234)
    module, shape, attn = cases()[name]()
    module = module.double()
    x = torch.empty(shape, dtype=torch.float64).uniform_(-1, 1).requires_grad_()
    tensors = {}
    pad = None
    if attn is None:
        y = module(x)
        y = y[0] if isinstance(y, tuple) else y
    else:
        cross, causal, with_pad = attn
        n, t = shape[0], shape[1]
        kv = torch.empty(n, 4 if cross else t, shape[2], dtype=torch.float64).uniform_(-1, 1)
        kv.requires_grad_()
        s = kv.shape[1] if cross else t
        if with_pad:  # sample b pads its last b keys
            pad = torch.zeros(n, s, dtype=torch.bool)
            for b in range(n):
                if b:
                    pad[b, s - b:] = True
            tensors["pad"] = pad.double()
        mask = torch.triu(torch.full((t, s), float("-inf"), dtype=torch.float64), 1) \
            if causal else None
        if isinstance(module, torch.nn.MultiheadAttention):
            src = kv if cross else x
            y = module(x, src, src, key_padding_mask=pad, attn_mask=mask, need_weights=False)[0]
            if cross:
                tensors["kv"] = kv
        else:
            y = module(x, src_key_padding_mask=pad)
    r = torch.empty_like(y).uniform_(-1, 1)
    (y * r).sum().backward()
    tensors.update({"input": x, "output": y, "R": r, "grad.input": x.grad})
    if attn is not None and attn[0]:
        tensors["grad.kv"] = kv.grad
    for k, p in module.named_parameters():
        tensors[k] = p
        tensors["grad." + k] = p.grad
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "manifest.txt"), "w") as m:
        for k, v in tensors.items():
            v = v.detach().to(torch.float32).contiguous()
            v.numpy().astype("<f4").tofile(os.path.join(out, k + ".f32"))
            m.write("%s %d %s\n" % (k, v.dim(), " ".join(str(d) for d in v.shape)))


if __name__ == "__main__":
    for case in sys.argv[2:]:
        export(case, os.path.join(sys.argv[1], case))
