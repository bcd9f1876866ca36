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
    const int64_t g = p_.groups, ic = p_.in_channels, oc = p_.out_channels;
    const memory::dims src_dims{pr.mb, ic, pr.ih, pr.iw};
    const memory::dims dst_dims{y_shape_[0], oc, y_shape_[2], y_shape_[3]};
    const int64_t kh = p_.kernel_size.h, kw = p_.kernel_size.w;
    // oneDNN's deconvolution weights are (OC, IC, kh, kw) or (G, OC/G, IC/G, kh, kw); ours hold
    // the IC and OC axes the other way round, which the iohw / giohw tags describe.
    const memory::dims w_dims =
        g == 1 ? memory::dims{oc, ic, kh, kw} : memory::dims{g, oc / g, ic / g, kh, kw};
    const Tag w_tag = g == 1 ? Tag::iohw : Tag::giohw;
    const memory::dims strides{p_.stride.h, p_.stride.w};
    const memory::dims dilates{p_.dilation.h - 1, p_.dilation.w - 1};  // oneDNN counts from 0
    const memory::dims pad_l{p_.padding.h, p_.padding.w};
    // Its output size is (H-1)*s + d*(k-1) + 1 - pad_l - pad_r: output_padding extends the bottom
    // and right edges, i.e. it lowers pad_r.
    const memory::dims pad_r{p_.padding.h - p_.output_padding.h,
                             p_.padding.w - p_.output_padding.w};
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
  if (wt->shape != weight_shape(p)) {
    throw Error("weight", fmt::format("weight: shape {} does not match the parameters, which "
                                      "require {}",
                                      format_shape(wt->shape), format_shape(weight_shape(p))));
  }
  auto d = std::make_shared<Deconv>(name, best, p, *wt, bt, threads);
  Prepared r;
  r.load = [d](const AnyTensor& x) { d->load(x); };
  r.execute = [d] { d->execute(); };
  r.store = [d] { return d->store(); };
  return r;
}

Implementation onednn_impl(const std::string& name, bool best, const std::string& description) {
  Implementation impl;
  impl.name = name;
  impl.description = description;
  impl.input = DType::kFloat32;
  impl.output = DType::kFloat32;
  impl.accumulation = kFloat32Precision;
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

}  // namespace convt2d::bench
