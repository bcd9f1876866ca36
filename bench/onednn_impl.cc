#include "onednn_impl.h"

#include <fmt/format.h>
#include <omp.h>

#include <cstring>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <unordered_map>

#include "convt2d/error.h"

namespace convt2d::bench {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

// The dims of a problem in oneDNN's terms.
struct Geometry {
  memory::dims src, dst, w, strides, dilates, pad_l, pad_r;
  Tag w_tag;
};

Geometry geometry(const Params& p, const Problem& pr) {
  const Shape y = output_shape(pr);
  const int64_t g = p.groups, ic = p.in_channels, oc = p.out_channels;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  Geometry r;
  r.src = {pr.mb, ic, pr.ih, pr.iw};
  r.dst = {y[0], oc, y[2], y[3]};
  // oneDNN's deconvolution weights are (OC, IC, kh, kw) or (G, OC/G, IC/G, kh, kw); ours hold
  // the IC and OC axes the other way round, which the iohw / giohw tags describe.
  r.w = g == 1 ? memory::dims{oc, ic, kh, kw} : memory::dims{g, oc / g, ic / g, kh, kw};
  r.w_tag = g == 1 ? Tag::iohw : Tag::giohw;
  r.strides = {p.stride.h, p.stride.w};
  r.dilates = {p.dilation.h - 1, p.dilation.w - 1};  // oneDNN counts from 0
  r.pad_l = {p.padding.h, p.padding.w};
  // Its output size is (H-1)*s + d*(k-1) + 1 - pad_l - pad_r: output_padding extends the bottom
  // and right edges, i.e. it lowers pad_r.
  r.pad_r = {p.padding.h - p.output_padding.h, p.padding.w - p.output_padding.w};
  return r;
}

// One prepared oneDNN deconvolution. The primitive depends on the input shape, which prepare()
// does not know, so it is built by the first load() of each shape.
class Deconv {
 public:
  Deconv(std::string name, bool best, const Params& p, const Tensor<float>& w,
         const Tensor<float>* b, int threads)
      : name_(std::move(name)), best_(best), p_(p), w_(w), threads_(threads) {
    if (b != nullptr) b_ = *b;
  }

  void load(const AnyTensor& x) {
    const auto* xt = std::get_if<Tensor<float>>(&x);
    if (xt == nullptr) {
      throw Error("input",
                  fmt::format("input: {} takes float32, got {}", name_, to_string(dtype_of(x))));
    }
    if (!built_ || xt->shape != x_shape_) build(xt->shape);
    if (xt->size() > 0) {
      std::memcpy(user_src_.get_data_handle(), xt->ptr(), sizeof(float) * xt->data.size());
    }
    if (src_ != user_src_) {
      dnnl::reorder(user_src_, src_).execute(stream_, user_src_, src_);
      stream_.wait();
    }
  }

  void execute() {
    if (!built_) throw Error(name_, fmt::format("{}: execute() before load()", name_));
    // OpenMP's thread count is per calling thread; oneDNN reads it at each execution.
    if (threads_ > 0) omp_set_num_threads(threads_);
    if (empty_) return;  // N = 0: nothing to compute
    prim_.execute(stream_, args_);
    stream_.wait();
  }

  AnyTensor store() {
    if (!built_) throw Error(name_, fmt::format("{}: store() before load()", name_));
    if (dst_ != user_dst_) {
      dnnl::reorder(dst_, user_dst_).execute(stream_, dst_, user_dst_);
      stream_.wait();
    }
    Tensor<float> y(y_shape_);
    if (y.size() > 0) {
      std::memcpy(y.ptr(), user_dst_.get_data_handle(), sizeof(float) * y.data.size());
    }
    return y;
  }

 private:
  void build(const Shape& x_shape) {
    const Shape* b_shape = b_ ? &b_->shape : nullptr;
    const Problem pr = problem_from_shapes(p_, x_shape, w_.shape, b_shape);
    built_ = false;
    x_shape_ = x_shape;
    y_shape_ = output_shape(pr);
    empty_ = pr.mb == 0;
    const int64_t oc = p_.out_channels;
    const Geometry geo = geometry(p_, pr);
    const memory::dims &src_dims = geo.src, &dst_dims = geo.dst, &w_dims = geo.w;
    const Tag w_tag = geo.w_tag;
    const memory::dims &strides = geo.strides, &dilates = geo.dilates, &pad_l = geo.pad_l,
                       &pad_r = geo.pad_r;
    const auto dt = memory::data_type::f32;
    const memory::desc user_src_md(src_dims, dt, Tag::nchw);
    const memory::desc user_dst_md(dst_dims, dt, Tag::nchw);
    user_src_ = memory(user_src_md, engine_);
    user_dst_ = memory(user_dst_md, engine_);
    if (empty_) {  // oneDNN has nothing to do for N = 0; y is an empty tensor
      src_ = user_src_;
      dst_ = user_dst_;
      built_ = true;
      return;
    }
    const memory::desc src_md(src_dims, dt, best_ ? Tag::any : Tag::nchw);
    const memory::desc dst_md(dst_dims, dt, best_ ? Tag::any : Tag::nchw);
    const memory::desc w_md(w_dims, dt, Tag::any);
    const memory::desc b_md = b_ ? memory::desc({oc}, dt, Tag::x) : memory::desc();
    try {
      // Primitives may size their work split by the thread count at creation: use the same.
      if (threads_ > 0) omp_set_num_threads(threads_);
      const dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                                dnnl::algorithm::deconvolution_direct, src_md, w_md,
                                                b_md, dst_md, strides, dilates, pad_l, pad_r);
      const dnnl::deconvolution_forward::primitive_desc pd(d, engine_);
      prim_ = dnnl::deconvolution_forward(pd);
      src_ = pd.src_desc() == user_src_md ? user_src_ : memory(pd.src_desc(), engine_);
      dst_ = pd.dst_desc() == user_dst_md ? user_dst_ : memory(pd.dst_desc(), engine_);
      // The weights (and bias) are reordered once per primitive, never in execute().
      memory user_w(memory::desc(w_dims, dt, w_tag), engine_, w_.ptr());
      wei_ = memory(pd.weights_desc(), engine_);
      dnnl::reorder(user_w, wei_).execute(stream_, user_w, wei_);
      args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, wei_}, {DNNL_ARG_DST, dst_}};
      if (b_) {
        memory user_b(b_md, engine_, b_->ptr());
        bia_ = memory(pd.bias_desc(), engine_);
        dnnl::reorder(user_b, bia_).execute(stream_, user_b, bia_);
        args_.emplace(DNNL_ARG_BIAS, bia_);
      }
      stream_.wait();
    } catch (const dnnl::error& e) {
      throw Error(name_,
                  fmt::format("{}: oneDNN rejects {}: {}", name_, format_problem(pr), e.what()));
    }
    built_ = true;
  }

  std::string name_;
  bool best_;
  Params p_;
  Tensor<float> w_;
  std::optional<Tensor<float>> b_;
  int threads_;
  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  bool built_ = false, empty_ = false;
  Shape x_shape_, y_shape_;
  dnnl::deconvolution_forward prim_;
  memory user_src_, user_dst_, src_, dst_, wei_, bia_;
  std::unordered_map<int, memory> args_;
};

Prepared prepare_onednn(const std::string& name, bool best, const Params& p, const AnyTensor& w,
                        const AnyTensor* b, int threads) {
  const auto* wt = std::get_if<Tensor<float>>(&w);
  const Tensor<float>* bt = b != nullptr ? std::get_if<Tensor<float>>(b) : nullptr;
  if (wt == nullptr || (b != nullptr && bt == nullptr)) {
    throw Error("weight", fmt::format("weight: {} takes float32 weights and bias", name));
  }
  if ((b != nullptr) != p.bias) {
    throw Error("bias", fmt::format("bias: {} needs a bias exactly when bias={}", name, p.bias));
  }
  check_weight_shape(p, wt->shape);
  auto d = std::make_shared<Deconv>(name, best, p, *wt, bt, threads);
  Prepared r;
  r.load = [d](const AnyTensor& x) { d->load(x); };
  r.execute = [d] { d->execute(); };
  r.store = [d] { return d->store(); };
  return r;
}

const Tensor<float>& float_operand(const std::string& name, const AnyTensor* t, const char* role) {
  const Tensor<float>* f = t != nullptr ? std::get_if<Tensor<float>>(t) : nullptr;
  if (f == nullptr) {
    throw Error(role, fmt::format("{}: {} takes a float32 {}", role, name, role));
  }
  return *f;
}

// One prepared oneDNN deconvolution backward pass (bwd_data or bwd_weights), made from the
// forward training primitive descriptor as the hint. The operands are copied into oneDNN memory
// and reordered into the primitive's layouts once, untimed; execute() runs the primitive alone;
// store() reorders the result back (dx to NCHW, dw to giohw / iohw).
class DeconvBackward {
 public:
  DeconvBackward(std::string name, bool best, Pass pass, const Params& p, const Operands& o,
                 int threads)
      : name_(std::move(name)), threads_(threads) {
    const bool data = pass == Pass::kBwdData;
    const Tensor<float>& dy = float_operand(name_, o.dy, "dy");
    const Problem pr = problem_from_output(p, dy.shape);
    if (!data) {
      const Tensor<float>& x = float_operand(name_, o.x, "input");
      if (x.shape != input_shape(pr)) {
        throw Error("input", fmt::format("input: shape {} does not match dy's {}",
                                         format_shape(x.shape), format_shape(input_shape(pr))));
      }
    }
    result_shape_ = data ? input_shape(pr) : weight_shape(p);
    const Geometry geo = geometry(p, pr);
    const auto dt = memory::data_type::f32;
    const memory::desc user_src_md(geo.src, dt, Tag::nchw), user_dst_md(geo.dst, dt, Tag::nchw);
    const memory::desc user_w_md(geo.w, dt, geo.w_tag);
    user_result_ = memory(data ? user_src_md : user_w_md, engine_);
    if (pr.mb == 0) {  // nothing to compute: an empty dx, or the empty sum's zeros
      empty_ = true;
      return;
    }
    const Tag act = best ? Tag::any : Tag::nchw;
    const memory::desc src_md(geo.src, dt, act), dst_md(geo.dst, dt, act);
    // Weights in oneDNN's layout, reordered once, for bwd_data; the weight gradient in the plain
    // layout for the NCHW entry (what a framework reads), oneDNN's for the best.
    const memory::desc w_md(geo.w, dt, data || best ? Tag::any : geo.w_tag);
    try {
      if (threads_ > 0) omp_set_num_threads(threads_);
      const dnnl::deconvolution_forward::desc fd(
          dnnl::prop_kind::forward_training, dnnl::algorithm::deconvolution_direct, src_md, w_md,
          dst_md, geo.strides, geo.dilates, geo.pad_l, geo.pad_r);
      const dnnl::deconvolution_forward::primitive_desc fpd(fd, engine_);
      memory user_dy(user_dst_md, engine_, const_cast<float*>(dy.ptr()));
      if (data) {
        const dnnl::deconvolution_backward_data::desc bd(dnnl::algorithm::deconvolution_direct,
                                                         src_md, w_md, dst_md, geo.strides,
                                                         geo.dilates, geo.pad_l, geo.pad_r);
        const dnnl::deconvolution_backward_data::primitive_desc pd(bd, engine_, fpd);
        prim_ = dnnl::deconvolution_backward_data(pd);
        memory dy_mem = in_layout(user_dy, pd.diff_dst_desc());
        memory user_w(user_w_md, engine_,
                      const_cast<float*>(float_operand(name_, o.w, "weight").ptr()));
        memory w_mem = in_layout(user_w, pd.weights_desc());
        result_ =
            pd.diff_src_desc() == user_src_md ? user_result_ : memory(pd.diff_src_desc(), engine_);
        args_ = {
            {DNNL_ARG_DIFF_DST, dy_mem}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_DIFF_SRC, result_}};
      } else {
        const dnnl::deconvolution_backward_weights::desc bd(dnnl::algorithm::deconvolution_direct,
                                                            src_md, w_md, dst_md, geo.strides,
                                                            geo.dilates, geo.pad_l, geo.pad_r);
        const dnnl::deconvolution_backward_weights::primitive_desc pd(bd, engine_, fpd);
        prim_ = dnnl::deconvolution_backward_weights(pd);
        memory dy_mem = in_layout(user_dy, pd.diff_dst_desc());
        memory user_x(user_src_md, engine_,
                      const_cast<float*>(float_operand(name_, o.x, "input").ptr()));
        memory x_mem = in_layout(user_x, pd.src_desc());
        result_ = pd.diff_weights_desc() == user_w_md ? user_result_
                                                      : memory(pd.diff_weights_desc(), engine_);
        args_ = {
            {DNNL_ARG_SRC, x_mem}, {DNNL_ARG_DIFF_DST, dy_mem}, {DNNL_ARG_DIFF_WEIGHTS, result_}};
      }
      stream_.wait();
    } catch (const dnnl::error& e) {
      throw Error(name_, fmt::format("{}: oneDNN rejects {} {}: {}", name_, to_string(pass),
                                     format_problem(pr), e.what()));
    }
  }

  void execute() {
    if (threads_ > 0) omp_set_num_threads(threads_);
    if (empty_) return;
    prim_.execute(stream_, args_);
    stream_.wait();
  }

  AnyTensor store() {
    Tensor<float> r(result_shape_);
    if (empty_) return r;
    if (result_ != user_result_) {
      dnnl::reorder(result_, user_result_).execute(stream_, result_, user_result_);
      stream_.wait();
    }
    if (r.size() > 0) {
      std::memcpy(r.ptr(), user_result_.get_data_handle(), sizeof(float) * r.data.size());
    }
    return r;
  }

 private:
  // A copy of `user` (which wraps the caller's tensor) in oneDNN memory of layout `md`.
  memory in_layout(memory user, const memory::desc& md) {
    memory m(md, engine_);
    dnnl::reorder(user, m).execute(stream_, user, m);
    stream_.wait();
    return m;
  }

  std::string name_;
  int threads_;
  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  bool empty_ = false;
  Shape result_shape_;
  dnnl::primitive prim_;
  memory user_result_, result_;
  std::unordered_map<int, memory> args_;
};

Implementation onednn_bwd_impl(const std::string& name, bool best, Pass pass,
                               const std::string& description) {
  Implementation impl;
  impl.name = name;
  impl.description = description + " (" + std::string(to_string(pass)) + ")";
  impl.pass = pass;
  impl.input = impl.output = DType::kFloat32;
  impl.accumulation = kFloat32Precision;
  impl.vector_isa = onednn_vector_isa();
  impl.prepare_pass = [name, best, pass](const Params& p, const Operands& o,
                                         int threads) -> Prepared {
    auto d = std::make_shared<DeconvBackward>(name, best, pass, p, o, threads);
    Prepared r;
    r.execute = [d] { d->execute(); };
    r.store = [d] { return d->store(); };
    return r;
  };
  impl.run_pass = [name, best, pass](const Params& p, const Operands& o) -> AnyTensor {
    DeconvBackward d(name, best, pass, p, o, 0);
    d.execute();
    return d.store();
  };
  return impl;
}

Implementation onednn_impl(const std::string& name, bool best, const std::string& description) {
  Implementation impl;
  impl.name = name;
  impl.description = description;
  impl.input = DType::kFloat32;
  impl.output = DType::kFloat32;
  impl.accumulation = kFloat32Precision;
  impl.vector_isa = onednn_vector_isa();
  impl.prepare = [name, best](const Params& p, const AnyTensor& w, const AnyTensor* b,
                              int threads) { return prepare_onednn(name, best, p, w, b, threads); };
  impl.run = [name, best](const Params& p, const AnyTensor& x, const AnyTensor& w,
                          const AnyTensor* b) -> AnyTensor {
    Prepared pp = prepare_onednn(name, best, p, w, b, 0);
    pp.load(x);
    pp.execute();
    return pp.store();
  };
  return impl;
}

std::string isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return fmt::format("isa {}", static_cast<int>(isa));
  }
}

}  // namespace

void add_onednn(Registry& r) {
  r.add(onednn_impl("onednn-best", true,
                    "oneDNN deconvolution, float32, src/dst/weights in oneDNN's chosen layouts "
                    "(reorders untimed)"));
  r.add(onednn_impl("onednn-nchw", false,
                    "oneDNN deconvolution, float32, plain NCHW src/dst, weights in oneDNN's "
                    "layout"));
  for (Pass pass : {Pass::kBwdData, Pass::kBwdWeights}) {
    r.add(onednn_bwd_impl("onednn-best", true, pass,
                          "oneDNN deconvolution backward, float32, every tensor in oneDNN's "
                          "chosen layout (reorders untimed)"));
    r.add(onednn_bwd_impl("onednn-nchw", false, pass,
                          "oneDNN deconvolution backward, float32, plain NCHW dx/x/dy and "
                          "giohw/iohw dw, the weights of bwd_data in oneDNN's layout"));
  }
}

std::string onednn_summary() {
  const dnnl_version_t* v = dnnl::version();
  const char* runtime = v->cpu_runtime == DNNL_RUNTIME_OMP   ? "OpenMP"
                        : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
                        : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential"
                                                             : "other";
  return fmt::format("oneDNN {}.{}.{} ({} runtime, ISA {})", v->major, v->minor, v->patch, runtime,
                     onednn_isa());
}

std::string onednn_isa() {
  return isa_name(dnnl::get_effective_cpu_isa());
}

std::string onednn_vector_isa() {
  const std::string isa = onednn_isa();
  if (isa.rfind("avx512", 0) == 0) return "avx512";
  if (isa.rfind("avx2", 0) == 0) return "avx2";
  return "";  // SSE4.1 or AVX without FMA: no measured peak of its own
}

}  // namespace convt2d::bench
