"""A plain numpy ConvTranspose2d (PyTorch's weight layout), the kind of kernel a user tests.

conv_transpose2d(..., bug=True) has a deliberate bug: it places the kernel taps as if the dilation
along the width were 1 (the output size is still right, the values are not).
"""

import numpy as np


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                     bug=False):
    """x (N, IC, H, W), w (IC, OC/G, kh, kw), b (OC,) or (1, OC, 1, 1) or None; in float64,
    rounded once to x's dtype."""
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = map(pair, (stride, padding, output_padding,
                                                          dilation))
    n, ic, h, wd = x.shape
    _, ocg, kh, kw = w.shape
    icg = ic // groups
    # The whole scattered canvas, then the padding cut away.
    ch = (h - 1) * sh + dh * (kh - 1) + 1 + oph
    cw = (wd - 1) * sw + dw * (kw - 1) + 1 + opw
    canvas = np.zeros((n, groups * ocg, ch, cw))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    for g in range(groups):
        xg = x64[:, g * icg:(g + 1) * icg]
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,cd->ndhw", xg, w64[g * icg:(g + 1) * icg, :, i, j])
                oj = j * (1 if bug else dw)
                canvas[:, g * ocg:(g + 1) * ocg, i * dh:i * dh + (h - 1) * sh + 1:sh,
                       oj:oj + (wd - 1) * sw + 1:sw] += contrib
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    ow = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    y = canvas[:, :, ph:ph + oh, pw:pw + ow]
    if b is not None:
        y = y + np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    return np.ascontiguousarray(y.astype(x.dtype))
