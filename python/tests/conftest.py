"""Shared helpers of the Python tests: the CLI they compare with, case directories."""

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = os.environ.get("CONVT2D_CLI", str(ROOT / "build" / "cli" / "convt2d"))

PARAM_KEYS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
              "dilation", "groups", "bias", "conv_mode", "compute_mode", "output_padding_rule")


def run_cli(*args, check_rc=None):
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=120)
    if check_rc is not None:
        assert r.returncode == check_rc, (args, r.returncode, r.stdout, r.stderr)
    return r


def load_case(case_dir):
    """case.json's parameters as keyword arguments, and the arrays the case holds."""
    case_dir = pathlib.Path(case_dir)
    spec = json.loads((case_dir / "case.json").read_text())
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in spec.items() if k in PARAM_KEYS}
    kw["pass_"] = spec.get("pass", "forward")
    arrays = {}
    for name in ("x", "w", "b", "dy"):
        f = case_dir / f"{name}.npy"
        arrays[name] = np.load(f) if f.exists() else None
    return kw, arrays


def gen_cases(out, *args):
    """Runs `convt2d gen ... --out out` and returns the case directories it wrote."""
    run_cli("gen", *args, "--out", out, check_rc=0)
    manifest = json.loads((pathlib.Path(out) / "manifest.json").read_text())
    return [pathlib.Path(out) / c["name"] for c in manifest["cases"]]


@pytest.fixture(scope="session")
def cli():
    assert os.path.exists(CLI), f"the convt2d CLI is not built at {CLI}"
    return run_cli
