#!/usr/bin/env python3
"""docs/backward.md's PyTorch export, run for real: PyTorch's autograd gradients of a grouped,
strided ConvTranspose2d layer become bwd_data, bwd_weights and bwd_bias cases that `convt2d check`
must pass, and the same gradients with one element moved well past its bound must fail.

Usage: torch_export_test.py CONVT2D_BINARY WORK_DIR. Exit 77 (skipped) without numpy or torch.
"""
import json
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
except ImportError as e:  # Debian's python3-torch is optional
    print(f"skipped: {e}")
    sys.exit(77)

binary, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
os.chdir(work)
torch.manual_seed(3)

# The export of docs/backward.md, verbatim in substance.
m = torch.nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
x = torch.randn(2, 8, 5, 5, requires_grad=True); y = m(x); dy = torch.randn_like(y); y.backward(dy)
p = dict(in_channels=8, out_channels=4, kernel_size=3, stride=2, padding=1, output_padding=1, groups=2)
for pas, arrays, grad in [("bwd_data", {"w": m.weight.reshape(2, 4, 2, 3, 3)}, x.grad),
                          ("bwd_weights", {"x": x}, m.weight.grad.reshape(2, 4, 2, 3, 3)),
                          ("bwd_bias", {}, m.bias.grad.reshape(1, 4, 1, 1))]:
    os.makedirs(pas, exist_ok=True); json.dump(dict(p, **{"pass": pas}), open(f"{pas}/case.json", "w"))
    np.save(f"{pas}/dy.npy", dy.numpy())
    for k, v in arrays.items(): np.save(f"{pas}/{k}.npy", v.detach().numpy())
    np.save(f"{pas}.npy", grad.detach().numpy())

failures = 0
for pas in ("bwd_data", "bwd_weights", "bwd_bias"):
    r = subprocess.run([binary, "check", "--case", pas, "--candidate", f"{pas}.npy"],
                       capture_output=True, text=True)
    if r.returncode != 0 or "verdict: PASSED" not in r.stdout:
        print(f"{pas}: PyTorch's gradient was not accepted (exit {r.returncode}):\n{r.stdout}{r.stderr}")
        failures += 1
    g = np.load(f"{pas}.npy")
    g.flat[0] += np.float32(1e-2) * (1 + abs(g.flat[0]))  # far beyond float32's bound here
    np.save(f"{pas}-wrong.npy", g)
    r = subprocess.run([binary, "check", "--case", pas, "--candidate", f"{pas}-wrong.npy"],
                       capture_output=True, text=True)
    if r.returncode != 1 or "elements over the bound: 1\n" not in r.stdout:
        print(f"{pas}: a gradient off by 1e-2 was not rejected (exit {r.returncode}):\n{r.stdout}{r.stderr}")
        failures += 1
print("PyTorch gradients: " + ("all judged right" if failures == 0 else f"{failures} wrong verdict(s)"))
sys.exit(1 if failures else 0)
