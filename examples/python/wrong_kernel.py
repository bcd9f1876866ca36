"""A deliberately wrong kernel, caught and shrunk by convt2d's Hypothesis strategies.

numpy_convt.conv_transpose2d(bug=True) places its taps as if the width's dilation were 1. The property test
below is all a user writes; Hypothesis finds a failing layer and shrinks it to the smallest one
(one image, one channel, a 2x2 kernel dilated by 2) and prints it with the oracle's report and the
`convt2d gen` command that writes the same case. The correct kernel passes the same test.

Run: PYTHONPATH=build/python /usr/bin/python3 examples/python/wrong_kernel.py
(exit 0 when the bug was caught and the correct kernel passed).
"""

import os
import sys

from hypothesis import given, settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convt2d  # noqa: E402
import convt2d.strategies as cs  # noqa: E402
from numpy_convt import conv_transpose2d  # noqa: E402

settings.register_profile("example", deadline=None, max_examples=200, derandomize=True,
                          database=None)
settings.load_profile("example")
failures = []


def make_test(bug):
    @given(cs.problems(dtype=["float32", "float64"]))
    def test_kernel(p):
        y = conv_transpose2d(p.x, p.torch_weight(), p.b, bug=bug, **p.layer_kwargs)
        try:
            convt2d.assert_close(y, p)
        except AssertionError:
            failures.append(p)  # the last one is Hypothesis's shrunk example
            raise
    return test_kernel


make_test(bug=False)()  # the correct kernel passes 200 examples
print("correct kernel: passed")
try:
    make_test(bug=True)()
except AssertionError as e:
    p = failures[-1]
    print(f"wrong kernel: caught; shrunk to {p!r}\n{e}")
    # Minimal: the bug needs a kernel wider than 1 and a dilation above 1 along the width;
    # nothing else is needed, and the shrinker removed it.
    prm = p.params
    ok = (prm.kernel_size[1] == 2 and prm.dilation[1] == 2 and p.mb == 1 and
          prm.in_channels == 1 and prm.out_channels == 1 and p.ih == 1 and p.iw == 1)
    print("shrunk to a minimal example" if ok else "NOT minimal")
    sys.exit(0 if ok else 1)
print("wrong kernel: NOT caught")
sys.exit(1)
