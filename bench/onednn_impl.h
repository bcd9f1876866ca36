#pragma once
/// \file
/// oneDNN as an outside backend: two registry entries the bench times against `optimized`, and
/// which the correctness test judges like any other implementation.
///
///   onednn-best   src, dst and weights in the layouts oneDNN picks (format_tag::any); load()
///                 reorders x into oneDNN's layout and store() reorders y back, neither timed;
///                 execute() runs only the deconvolution primitive.
///   onednn-nchw   src and dst in plain NCHW, weights in the layout oneDNN picks; execute() is the
///                 primitive on plain NCHW memory, what a framework without layout propagation
///                 gets.
///
/// Both take float32 and accumulate in float32. Our weight (G, IC/G, OC/G, kh, kw) is oneDNN's
/// "giohw" (or "iohw" for G = 1) and is reordered once into the primitive's layout; dilation is
/// passed as d - 1 (oneDNN counts from 0) and padding_r = padding - output_padding, so that
/// oneDNN's output size equals ours. The Prepared interface gives prepare() no input size, so the
/// primitive and the weight reorder are made at the first load() of each input shape (untimed).
///
/// The same two names for bwd_data and bwd_weights: oneDNN's deconvolution_backward_data and
/// deconvolution_backward_weights, made with the forward-training primitive descriptor as the
/// hint, prepared through Implementation::prepare_pass (the operands copied and reordered once,
/// untimed; execute() is the primitive alone). onednn-best: every tensor in oneDNN's layouts.
/// onednn-nchw: dx, x and dy in NCHW, the weight gradient written in plain giohw / iohw, the
/// weights bwd_data reads in oneDNN's layout (reordered once). No bias gradient.

#include <string>

#include "convt2d/registry.h"

namespace convt2d::bench {

/// Adds onednn-best and onednn-nchw to `r`, for the forward, bwd_data and bwd_weights passes.
void add_onednn(Registry& r);

/// "oneDNN 2.6.3 (OpenMP runtime, ISA avx2)": the version and what it runs on this CPU.
std::string onednn_summary();

/// The instruction set oneDNN's kernels use on this CPU: "avx2", "avx512_core", ...
std::string onednn_isa();

/// onednn_isa() as an Implementation::vector_isa: "avx512", "avx2", or "" (older ISAs).
std::string onednn_vector_isa();

}  // namespace convt2d::bench
