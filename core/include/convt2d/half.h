#pragma once
/// \file
/// float16 (IEEE 754 binary16) and bfloat16 (the upper half of a binary32) as small value types:
/// 16 bits of storage, exact conversion to float, correctly rounded conversion from float and
/// double (round to nearest, ties to even, with subnormals, overflow to infinity and NaN), and
/// arithmetic that rounds every result once to the format, as hardware with that storage format
/// does (`a + b` and `a * b` are the exact result rounded to nearest even).
///
/// Why our own types instead of `_Float16`: g++ 12 supports `_Float16` on x86-64, but clang 14
/// (the compiler of the fuzz targets) rejects it on this target, and no dependency provides
/// bfloat16 at all (Boost's float16_t exists only where the compiler has a native type). Two
/// explicit types behave identically under every compiler and keep the bits in plain view:
/// `bits()` / `from_bits()`, and a Tensor<float16> is one contiguous array of 16-bit patterns
/// (standard layout, no padding), so vectorized code converts a whole tensor in bulk: F16C
/// `_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t.ptr() + i)))` for float16,
/// a 16-bit shift for bfloat16 (SIMD loads may alias anything; scalar code should use bits() or
/// std::memcpy rather than a uint16_t pointer).
///
/// Conversions go through double: every float16 and bfloat16 is exactly a float (and a double),
/// and rounding from double is done once, on the bits, without the double rounding a detour
/// through float would add for double inputs. NaN stays NaN: the top payload bits are kept and,
/// when they are all zero, the quiet bit is set, so float16 -> float -> float16 (and the same
/// for bfloat16) returns every one of the 65536 bit patterns unchanged.

#include <algorithm>
#include <bit>
#include <concepts>
#include <cstdint>
#include <type_traits>

namespace convt2d {

namespace half_detail {

/// Rounds `v` to the binary format with `kMant` stored significand bits and `kExp` exponent
/// bits (binary16: 10, 5; bfloat16: 7, 8), to nearest with ties to even; returns the bits.
template <int kMant, int kExp>
constexpr uint16_t round_from_double(double v) {
  constexpr int kBias = (1 << (kExp - 1)) - 1;
  constexpr int kEmin = 1 - kBias;  // exponent of the smallest normal number
  constexpr uint64_t kInf = ((uint64_t{1} << kExp) - 1) << kMant;
  const uint64_t u = std::bit_cast<uint64_t>(v);
  const auto sign = static_cast<uint16_t>((u >> 48) & 0x8000u);
  const uint64_t mag = u & 0x7fff'ffff'ffff'ffffu;
  if (mag >= 0x7ff0'0000'0000'0000u) {  // infinity or NaN
    if (mag == 0x7ff0'0000'0000'0000u) return static_cast<uint16_t>(sign | kInf);
    const uint64_t payload = (mag >> (52 - kMant)) & ((uint64_t{1} << kMant) - 1);
    return static_cast<uint16_t>(sign | kInf |
                                 (payload != 0 ? payload : uint64_t{1} << (kMant - 1)));
  }
  // Zero and double subnormals (< 2^-1022) are far below half the smallest subnormal of either
  // format (2^-25, 2^-134): they round to a zero of their sign.
  if (mag < 0x0010'0000'0000'0000u) return sign;
  const int e = static_cast<int>(mag >> 52) - 1023;  // v = sig * 2^(e - 52), sig has 53 bits
  const uint64_t sig = (mag & 0x000f'ffff'ffff'ffffu) | 0x0010'0000'0000'0000u;
  // The format's spacing at this magnitude is 2^(max(e, emin) - kMant); `shift` bits of sig lie
  // below it.
  const int eq = std::max(e, kEmin);
  const int shift = eq - kMant - (e - 52);
  if (shift > 53) return sign;  // |v| < 2^(e+1) <= half the spacing: rounds to zero
  uint64_t r = sig >> shift;
  const uint64_t rem = sig & ((uint64_t{1} << shift) - 1);
  const uint64_t half = uint64_t{1} << (shift - 1);
  if (rem > half || (rem == half && (r & 1) != 0)) ++r;
  // Normal: r in [2^kMant, 2^(kMant+1)]; (eq - emin) << kMant plus r is the biased exponent and
  // the stored significand, a carry out of the significand moving to the next binade. Subnormal
  // (e < emin): r <= 2^kMant is the encoding itself (2^kMant being the smallest normal).
  const uint64_t enc = (static_cast<uint64_t>(eq - kEmin) << kMant) + r;
  return static_cast<uint16_t>(sign | std::min(enc, kInf));
}

/// Keeps a float NaN a NaN in the narrow format: top payload bits, or the quiet bit if they are 0.
template <int kMant>
constexpr uint16_t nan_from_float(uint32_t f) {
  constexpr int kDrop = 23 - kMant;
  const auto sign = static_cast<uint16_t>((f >> 16) & 0x8000u);
  const uint32_t payload = (f >> kDrop) & ((1u << kMant) - 1);
  const uint32_t exp_all_ones = ((1u << (15 - kMant)) - 1) << kMant;
  return static_cast<uint16_t>(sign | exp_all_ones | (payload != 0 ? payload : 1u << (kMant - 1)));
}

constexpr bool is_nan(float f) {
  return (std::bit_cast<uint32_t>(f) & 0x7fff'ffffu) > 0x7f80'0000u;
}

}  // namespace half_detail

/// IEEE 754 binary16: 1 sign, 5 exponent, 10 significand bits; unit roundoff 2^-11, largest
/// finite 65504, smallest subnormal 2^-24. Value-initialized to +0.
class float16 {
 public:
  constexpr float16() = default;
  /// Rounds to nearest even (overflow to infinity, NaN kept, see the file comment).
  constexpr explicit float16(double v) : bits_(half_detail::round_from_double<10, 5>(v)) {}
  constexpr explicit float16(float v)
      : bits_(half_detail::is_nan(v) ? half_detail::nan_from_float<10>(std::bit_cast<uint32_t>(v))
                                     : half_detail::round_from_double<10, 5>(v)) {}
  /// From an integer (exact for |i| <= 2048), via double.
  template <std::integral I>
  constexpr explicit float16(I i) : float16(static_cast<double>(i)) {}

  static constexpr float16 from_bits(uint16_t b) {
    float16 h;
    h.bits_ = b;
    return h;
  }
  constexpr uint16_t bits() const { return bits_; }

  /// The exact value as a float (and from there as any wider floating-point type).
  constexpr float to_float() const {
    const uint32_t sign = static_cast<uint32_t>(bits_ & 0x8000u) << 16;
    const uint32_t exp = (bits_ >> 10) & 0x1fu, man = bits_ & 0x3ffu;
    if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f80'0000u | (man << 13));
    if (exp == 0) {  // zero or subnormal: man * 2^-24, exact in float
      const float m = static_cast<float>(man) * 0x1p-24f;
      return sign != 0 ? -m : m;
    }
    return std::bit_cast<float>(sign | ((exp + 112) << 23) | (man << 13));
  }
  template <std::floating_point F>
  constexpr explicit operator F() const {
    return static_cast<F>(to_float());
  }

  // Each result is the exact one rounded once: sums and products of two binary16 numbers are
  // exact in double (at most 40 and 22 significant bits).
  friend constexpr float16 operator+(float16 a, float16 b) {
    return float16(static_cast<double>(a) + static_cast<double>(b));
  }
  friend constexpr float16 operator-(float16 a, float16 b) {
    return float16(static_cast<double>(a) - static_cast<double>(b));
  }
  friend constexpr float16 operator*(float16 a, float16 b) {
    return float16(static_cast<double>(a) * static_cast<double>(b));
  }
  constexpr float16 operator-() const { return from_bits(static_cast<uint16_t>(bits_ ^ 0x8000u)); }
  constexpr float16& operator+=(float16 o) { return *this = *this + o; }
  constexpr float16& operator*=(float16 o) { return *this = *this * o; }
  /// Numeric equality, as for float: NaN != NaN, +0 == -0.
  friend constexpr bool operator==(float16 a, float16 b) { return a.to_float() == b.to_float(); }

 private:
  uint16_t bits_ = 0;
};

/// bfloat16: the upper 16 bits of a binary32 (1 sign, 8 exponent, 7 significand bits); unit
/// roundoff 2^-8, float32's exponent range (largest finite (2 - 2^-7) * 2^127, smallest
/// subnormal 2^-133). Value-initialized to +0.
class bfloat16 {
 public:
  constexpr bfloat16() = default;
  constexpr explicit bfloat16(double v) : bits_(half_detail::round_from_double<7, 8>(v)) {}
  constexpr explicit bfloat16(float v)
      : bits_(half_detail::is_nan(v) ? half_detail::nan_from_float<7>(std::bit_cast<uint32_t>(v))
                                     : half_detail::round_from_double<7, 8>(v)) {}
  /// From an integer (exact for |i| <= 256), via double.
  template <std::integral I>
  constexpr explicit bfloat16(I i) : bfloat16(static_cast<double>(i)) {}

  static constexpr bfloat16 from_bits(uint16_t b) {
    bfloat16 h;
    h.bits_ = b;
    return h;
  }
  constexpr uint16_t bits() const { return bits_; }

  constexpr float to_float() const {
    return std::bit_cast<float>(static_cast<uint32_t>(bits_) << 16);
  }
  template <std::floating_point F>
  constexpr explicit operator F() const {
    return static_cast<F>(to_float());
  }

  // Products of two bfloat16 numbers are exact in double (16 significant bits, exponents within
  // double's range). A sum is exact in double unless the exponents differ by more than 44; then
  // the smaller operand is below 2^-36 of an ulp of the larger one, and both the exact sum and
  // its double rounding round to the larger operand: the result is correctly rounded either way.
  friend constexpr bfloat16 operator+(bfloat16 a, bfloat16 b) {
    return bfloat16(static_cast<double>(a) + static_cast<double>(b));
  }
  friend constexpr bfloat16 operator-(bfloat16 a, bfloat16 b) {
    return bfloat16(static_cast<double>(a) - static_cast<double>(b));
  }
  friend constexpr bfloat16 operator*(bfloat16 a, bfloat16 b) {
    return bfloat16(static_cast<double>(a) * static_cast<double>(b));
  }
  constexpr bfloat16 operator-() const { return from_bits(static_cast<uint16_t>(bits_ ^ 0x8000u)); }
  constexpr bfloat16& operator+=(bfloat16 o) { return *this = *this + o; }
  constexpr bfloat16& operator*=(bfloat16 o) { return *this = *this * o; }
  friend constexpr bool operator==(bfloat16 a, bfloat16 b) { return a.to_float() == b.to_float(); }

 private:
  uint16_t bits_ = 0;
};

static_assert(sizeof(float16) == 2 && sizeof(bfloat16) == 2, "tensors of them are uint16 arrays");
static_assert(std::is_trivially_copyable_v<float16> && std::is_trivially_copyable_v<bfloat16>);
static_assert(std::is_standard_layout_v<float16> && std::is_standard_layout_v<bfloat16>);

/// True for float16 and bfloat16.
template <class T>
inline constexpr bool is_half_v = std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>;

/// Significand bits (with the implicit bit) of a storage type: 11 float16, 8 bfloat16, 24 float,
/// 53 double.
template <class T>
inline constexpr int significand_bits_v = std::is_same_v<T, float16>    ? 11
                                          : std::is_same_v<T, bfloat16> ? 8
                                          : std::is_same_v<T, float>    ? 24
                                                                        : 53;

}  // namespace convt2d
