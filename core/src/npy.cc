// NumPy .npy reading and writing. The header is a Python dict literal; we parse only the subset
// numpy writes ('descr', 'fortran_order', 'shape'), strictly, and never trust a length or a shape
// before checking it against the bytes we actually have.
#include "convt2d/npy.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>
#include <optional>

#include "convt2d/checked.h"
#include "convt2d/error.h"

namespace convt2d {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the .npy code copies little-endian data as is");

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

[[noreturn]] void fail(const std::string& name, const std::string& why) {
  throw Error("npy", fmt::format("{}: {}", name, why));
}

// A cursor over the header dict text.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : s_(text), name_(name) {}

  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n')) ++i_;
  }
  bool eat(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* what) {
    if (!eat(c)) fail(name_, fmt::format("malformed header: expected '{}' {}", c, what));
  }
  std::string quoted() {
    skip_space();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) {
      fail(name_, "malformed header: expected a quoted string");
    }
    const char q = s_[i_++];
    const size_t end = s_.find(q, i_);
    if (end == std::string_view::npos) fail(name_, "malformed header: unterminated string");
    std::string r(s_.substr(i_, end - i_));
    i_ = end + 1;
    return r;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      const size_t n = std::strlen(word);
      if (s_.substr(i_, n) == word) {
        i_ += n;
        return value;
      }
    }
    fail(name_, "malformed header: fortran_order must be True or False");
  }
  int64_t integer() {
    skip_space();
    const size_t begin = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (i_ < s_.size() && s_[i_] == 'L') ++i_;  // Python 2 long suffix
    const std::string_view tok = s_.substr(begin, i_ - begin);
    if (tok.empty() || tok == "-") fail(name_, "malformed header: expected an integer in shape");
    if (tok[0] == '-') fail(name_, fmt::format("negative dimension {} in shape", excerpt(tok)));
    int64_t v = 0;
    for (char c : tok) {
      if (c == 'L') break;
      v = checked_mul(v, 10, name_ + ": shape dimension");
      v = checked_add(v, c - '0', name_ + ": shape dimension");
    }
    return v;
  }
  Shape shape() {
    expect('(', "to open the shape tuple");
    Shape r;
    if (eat(')')) return r;
    while (true) {
      r.push_back(integer());
      if (eat(')')) return r;
      expect(',', "between shape dimensions");
      if (eat(')')) return r;  // "(5,)"
    }
  }
  bool at_end() {
    skip_space();
    return i_ == s_.size();
  }

 private:
  std::string_view s_;
  const std::string& name_;
  size_t i_ = 0;
};

struct Header {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

Header parse_header(std::string_view text, const std::string& name) {
  HeaderParser p(text, name);
  Header h;
  bool have_descr = false, have_order = false, have_shape = false;
  p.expect('{', "at the start of the header dict");
  while (!p.eat('}')) {
    const std::string key = p.quoted();
    p.expect(':', "after a key");
    if (key == "descr") {
      h.descr = p.quoted();
      have_descr = true;
    } else if (key == "fortran_order") {
      h.fortran_order = p.boolean();
      have_order = true;
    } else if (key == "shape") {
      h.shape = p.shape();
      have_shape = true;
    } else {
      fail(name, fmt::format("malformed header: unexpected key '{}'", excerpt(key)));
    }
    if (!p.eat(',')) {
      p.expect('}', "to close the header dict");
      break;
    }
  }
  if (!p.at_end()) fail(name, "malformed header: text after the dict");
  if (!have_descr) fail(name, "malformed header: missing key 'descr'");
  if (!have_order) fail(name, "malformed header: missing key 'fortran_order'");
  if (!have_shape) fail(name, "malformed header: missing key 'shape'");
  return h;
}

template <class T>
AnyTensor copy_data(Shape shape, std::span<const uint8_t> data) {
  Tensor<T> t;
  t.shape = std::move(shape);
  t.data.resize(data.size() / sizeof(T));
  if (!data.empty()) std::memcpy(t.data.data(), data.data(), data.size());
  return t;
}

// bfloat16 has no numpy dtype: its 16 bits are stored as little-endian uint16.
const char* npy_descr(DType t) {
  switch (t) {
    case DType::kFloat32:
      return "<f4";
    case DType::kFloat64:
      return "<f8";
    case DType::kFloat16:
      return "<f2";
    case DType::kBFloat16:
      return "<u2";
  }
  return "?";
}

std::string header_text(const AnyTensor& t) {
  const Shape& s = shape_of(t);
  std::string shape;
  if (s.size() == 1) {
    shape = fmt::format("({},)", s[0]);
  } else {
    shape = fmt::format("({})", fmt::join(s, ", "));
  }
  std::string h = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                              npy_descr(dtype_of(t)), shape);
  // Like numpy, leave room for the first dimension to grow to 21 digits in place.
  if (!s.empty()) h.append(21 - std::min<size_t>(21, std::to_string(s[0]).size()), ' ');
  return h;
}

}  // namespace

AnyTensor parse_npy(std::span<const uint8_t> bytes, const std::string& name, int64_t max_bytes,
                    bool uint16_is_bfloat16) {
  if (bytes.size() < kMagicLen || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0) {
    fail(name, "not a .npy file (bad magic)");
  }
  if (bytes.size() < kMagicLen + 2) fail(name, "truncated: no format version");
  const uint8_t major = bytes[6], minor = bytes[7];
  size_t len_size = 0;
  if (major == 1) {
    len_size = 2;
  } else if (major == 2 || major == 3) {
    len_size = 4;
  } else {
    fail(name, fmt::format("unsupported .npy version {}.{}", major, minor));
  }
  const size_t pre = kMagicLen + 2 + len_size;
  if (bytes.size() < pre) fail(name, "truncated: no header length");
  uint64_t header_len = 0;
  for (size_t i = 0; i < len_size; ++i) header_len |= uint64_t{bytes[8 + i]} << (8 * i);
  if (header_len > bytes.size() - pre) {
    fail(name, fmt::format("truncated: header length {} exceeds the file", header_len));
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + pre), header_len);
  const Header h = parse_header(text, name);
  if (h.fortran_order) fail(name, "fortran_order=True is not supported (need C order)");
  DType dtype = DType::kFloat32;
  if (h.descr == "<f4") {
    dtype = DType::kFloat32;
  } else if (h.descr == "<f8") {
    dtype = DType::kFloat64;
  } else if (h.descr == "<f2") {
    dtype = DType::kFloat16;
  } else if (h.descr == "<u2") {
    if (!uint16_is_bfloat16) {
      fail(name,
           "uint16 data ('<u2') is read only as bfloat16 storage, which must be declared "
           "(\"dtype\": \"bfloat16\" in case.json, or --dtype bfloat16 for a candidate)");
    }
    dtype = DType::kBFloat16;
  } else {
    fail(name, fmt::format("unsupported dtype '{}' (need little-endian float32 '<f4', float64 "
                           "'<f8', float16 '<f2', or bfloat16 stored as uint16 '<u2')",
                           excerpt(h.descr)));
  }
  const int64_t elem_size = dtype_size(dtype);
  int64_t count = 1;
  for (int64_t d : h.shape) count = checked_mul(count, d, name + ": element count");
  const int64_t data_bytes = checked_mul(count, elem_size, name + ": data size");
  if (data_bytes > max_bytes) {
    fail(name,
         fmt::format("data of {} bytes exceeds the limit of {} bytes", data_bytes, max_bytes));
  }
  const uint64_t have = bytes.size() - pre - header_len;
  if (have < static_cast<uint64_t>(data_bytes)) {
    fail(name, fmt::format("truncated: header says {} data bytes, file has {}", data_bytes, have));
  }
  if (have > static_cast<uint64_t>(data_bytes)) {
    fail(name, fmt::format("{} bytes of trailing data after the {} the shape needs",
                           have - static_cast<uint64_t>(data_bytes), data_bytes));
  }
  const auto data = bytes.subspan(pre + header_len);
  switch (dtype) {
    case DType::kFloat32:
      return copy_data<float>(h.shape, data);
    case DType::kFloat64:
      return copy_data<double>(h.shape, data);
    case DType::kFloat16:
      return copy_data<float16>(h.shape, data);
    case DType::kBFloat16:
      return copy_data<bfloat16>(h.shape, data);
  }
  fail(name, "unreachable dtype");
}

AnyTensor read_npy(const std::filesystem::path& path, int64_t max_bytes, bool uint16_is_bfloat16) {
  // Headers are small: anything beyond the data cap plus 1 MiB of header is rejected unread.
  constexpr uint64_t kHeaderAllowance = 1 << 20;
  const std::string bytes = read_regular_file(
      path, static_cast<uint64_t>(std::max<int64_t>(max_bytes, 0)) + kHeaderAllowance);
  return parse_npy(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                   path.string(), max_bytes, uint16_is_bfloat16);
}

std::vector<uint8_t> serialize_npy(const AnyTensor& t) {
  std::string header = header_text(t);
  // numpy pads magic + version + length + header + '\n' to a multiple of 64 bytes.
  const bool v2 = header.size() + 1 + 10 > 65535;
  const size_t pre = kMagicLen + 2 + (v2 ? 4 : 2);
  const size_t total = (pre + header.size() + 1 + 63) / 64 * 64;
  header.append(total - pre - header.size() - 1, ' ');
  header.push_back('\n');
  std::vector<uint8_t> out(kMagic, kMagic + kMagicLen);
  out.push_back(v2 ? 2 : 1);
  out.push_back(0);
  const uint64_t len = header.size();
  for (size_t i = 0; i < (v2 ? 4u : 2u); ++i) out.push_back(static_cast<uint8_t>(len >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  std::visit(
      [&](const auto& tensor) {
        const auto* p = reinterpret_cast<const uint8_t*>(tensor.data.data());
        out.insert(out.end(), p, p + tensor.data.size() * sizeof(tensor.data[0]));
      },
      t);
  return out;
}

void write_npy(const std::filesystem::path& path, const AnyTensor& t) {
  write_bytes_atomically(path, serialize_npy(t));
}

}  // namespace convt2d
