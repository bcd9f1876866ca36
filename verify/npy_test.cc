// .npy round trips, the exact header numpy writes, and every class of malformed file.
#include "convt2d/npy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "convt2d/error.h"

namespace convt2d {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::vector<uint8_t> Bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

// A v1.0 file with the given header dict (padded like numpy) followed by `data`.
std::vector<uint8_t> Npy(const std::string& dict, std::vector<uint8_t> data, uint8_t major = 1) {
  const size_t len_size = major == 1 ? 2 : 4;
  std::string header = dict;
  const size_t pre = 8 + len_size;
  header.append((pre + header.size() + 1 + 63) / 64 * 64 - pre - header.size() - 1, ' ');
  header += '\n';
  std::vector<uint8_t> out = Bytes("\x93NUMPY");
  out.push_back(major);
  out.push_back(0);
  for (size_t i = 0; i < len_size; ++i)
    out.push_back(static_cast<uint8_t>(header.size() >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<uint8_t> FloatBytes(std::vector<float> v) {
  std::vector<uint8_t> r(v.size() * 4);
  std::memcpy(r.data(), v.data(), r.size());
  return r;
}

void ExpectBad(const std::vector<uint8_t>& bytes, const std::string& fragment,
               int64_t max_bytes = std::numeric_limits<int64_t>::max()) {
  try {
    parse_npy(bytes, "x.npy", max_bytes);
    ADD_FAILURE() << "accepted; expected: " << fragment;
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("x.npy: "));
    EXPECT_THAT(e.what(), HasSubstr(fragment));
  }
}

TEST(Npy, RoundTripsEveryRankAndDtype) {
  const AnyTensor cases[] = {
      Tensor<float>(Shape{}, {2.5f}),
      Tensor<float>(Shape{3}, {1, -2, 3.25f}),
      Tensor<double>(Shape{2, 1, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0.1}),
      Tensor<double>(Shape{0, 4}, {}),
      Tensor<float>(Shape{2, 3, 1, 1, 2}, std::vector<float>(12, -0.0f)),
      Tensor<float16>(Shape{2, 2}, {float16(1.0), float16(0.1), float16(-7.0), float16(65504.0)}),
      Tensor<bfloat16>(Shape{1, 3}, {bfloat16(1.0), bfloat16(3e38), bfloat16(-1e-38)}),
  };
  for (const AnyTensor& t : cases) {
    const auto bytes = serialize_npy(t);
    EXPECT_EQ(bytes.size() % 64,
              (dtype_size(dtype_of(t)) *
               std::visit([](auto& v) { return static_cast<int64_t>(v.data.size()); }, t)) %
                  64);
    const AnyTensor back = parse_npy(bytes, "t", INT64_MAX, /*uint16_is_bfloat16=*/true);
    EXPECT_EQ(back, t);
  }
}

TEST(Npy, HeaderIsWhatNumpyWrites) {
  // numpy.save(f, np.zeros((2, 3), '<f4')) writes: magic, version 1.0, header length 118, the dict,
  // 20 spaces of room for the first dimension to grow to 21 digits, padding spaces to a 128-byte
  // preamble, '\n', then 24 data bytes.
  const auto bytes = serialize_npy(Tensor<float>(Shape{2, 3}, std::vector<float>(6)));
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict;
  expected.append(127 - expected.size(), ' ');
  expected += '\n';
  ASSERT_EQ(bytes.size(), 128u + 24u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 128), expected);
  // 1-D shapes keep the trailing comma of a Python 1-tuple; 0-D is "()".
  const auto one = serialize_npy(Tensor<double>(Shape{5}, std::vector<double>(5)));
  EXPECT_NE(std::string(one.begin(), one.end()).find("'shape': (5,), }"), std::string::npos);
  const auto zero = serialize_npy(Tensor<double>(Shape{}, {1.0}));
  EXPECT_NE(std::string(zero.begin(), zero.end()).find("'shape': (), }"), std::string::npos);
}

TEST(Npy, AcceptsVersions2And3AndKeyOrderAndSpacing) {
  for (uint8_t major : {1, 2, 3}) {
    const auto t = parse_npy(Npy("{ \"shape\" :(1 ,2 ),'fortran_order':False ,  'descr' : '<f4' }",
                                 FloatBytes({1.5f, -2}), major),
                             "v");
    EXPECT_EQ(t, AnyTensor(Tensor<float>(Shape{1, 2}, {1.5f, -2})));
  }
}

TEST(Npy, RejectsMalformedFiles) {
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const auto data = FloatBytes({1, 2});
  ExpectBad(Bytes("PK\x03\x04 not numpy at all"), "bad magic");
  ExpectBad(Bytes("\x93NUM"), "bad magic");
  ExpectBad(Bytes("\x93NUMPY\x01"), "no format version");
  ExpectBad(Bytes(std::string("\x93NUMPY\x01\x00\x10", 9)), "no header length");
  ExpectBad(Bytes(std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 17)),
            "header length 255 exceeds the file");
  ExpectBad(Bytes(std::string("\x93NUMPY\x04\x00", 8)), "unsupported .npy version 4.0");
  ExpectBad(Npy("['descr', '<f4']", data), "expected '{'");
  ExpectBad(Npy("{'descr': '<f4', 'shape': (2,), }", data), "missing key 'fortran_order'");
  ExpectBad(Npy("{'descr': '<f4', 'fortran_order': False}", data), "missing key 'shape'");
  ExpectBad(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", data),
            "text after the dict");
  ExpectBad(Npy("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", data), "expected");
  ExpectBad(Npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", data),
            "unsupported dtype '>f4'");
  ExpectBad(Npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", data),
            "unsupported dtype '<i4'");
  ExpectBad(Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", data),
            "fortran_order=True is not supported");
  ExpectBad(Npy("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", data),
            "True or False");
  ExpectBad(Npy(ok, FloatBytes({1})), "truncated: header says 8 data bytes, file has 4");
  ExpectBad(Npy(ok, FloatBytes({1, 2, 3})), "4 bytes of trailing data");
  ExpectBad(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", data),
            "negative dimension -2");
  ExpectBad(
      Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", data),
      "overflows int64");
  ExpectBad(
      Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", data),
      "overflows int64");
  ExpectBad(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", data),
            "expected an integer");
  ExpectBad(Npy(ok, data), "exceeds the limit of 7 bytes", 7);
}

std::vector<uint8_t> U16Bytes(std::vector<uint16_t> v) {
  std::vector<uint8_t> r(v.size() * 2);
  std::memcpy(r.data(), v.data(), r.size());
  return r;
}

TEST(Npy, Float16IsF2AndBFloat16IsDeclaredUint16) {
  // float16 is numpy's '<f2'; its bits round-trip, NaN payloads and signed zeros included.
  const Tensor<float16> h(Shape{2, 3}, {float16(1.0), float16(-2.5), float16::from_bits(0x7bff),
                                        float16::from_bits(0x7c00), float16::from_bits(0x7e01),
                                        float16::from_bits(0x8000)});
  const auto hb = serialize_npy(h);
  EXPECT_NE(std::string(hb.begin(), hb.end()).find("'descr': '<f2'"), std::string::npos);
  EXPECT_EQ(serialize_npy(parse_npy(hb, "h")), hb);
  EXPECT_EQ(dtype_of(parse_npy(hb, "h")), DType::kFloat16);
  // numpy's own bytes for np.array([1, -2], '<f2').
  const AnyTensor f2 = parse_npy(
      Npy("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", U16Bytes({0x3c00, 0xc000})),
      "f2");
  EXPECT_EQ(std::get<Tensor<float16>>(f2).data[1].to_float(), -2.0f);
  // bfloat16 is stored as uint16 ('<u2') and read as bfloat16 only when the caller says so.
  const Tensor<bfloat16> b(Shape{3}, {bfloat16(1.0), bfloat16(-0.5), bfloat16::from_bits(0x7fc1)});
  const auto bb = serialize_npy(b);
  EXPECT_NE(std::string(bb.begin(), bb.end()).find("'descr': '<u2'"), std::string::npos);
  const AnyTensor back = parse_npy(bb, "b", INT64_MAX, /*uint16_is_bfloat16=*/true);
  ASSERT_EQ(dtype_of(back), DType::kBFloat16);
  EXPECT_EQ(serialize_npy(back), bb);
  EXPECT_EQ(std::get<Tensor<bfloat16>>(back).data[1].to_float(), -0.5f);
  ExpectBad(bb, "uint16 data ('<u2') is read only as bfloat16 storage");
  // Sizes count 2 bytes per element.
  ExpectBad(Npy("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", U16Bytes({1})),
            "truncated: header says 4 data bytes, file has 2");
  ExpectBad(Npy("{'descr': '>f2', 'fortran_order': False, 'shape': (1,), }", U16Bytes({1})),
            "unsupported dtype '>f2'");
}

TEST(Npy, FileRoundTripLeavesNoTemporaryBehind) {
  const fs::path dir = fs::temp_directory_path() /
                       fs::path("convt2d_npy_test_" +
                                std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const AnyTensor t = Tensor<double>(Shape{2, 2}, {1, 2, 3, 4});
  write_npy(dir / "a.npy", t);
  write_npy(dir / "a.npy", t);  // overwrite in place
  EXPECT_EQ(read_npy(dir / "a.npy"), t);
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
  try {
    read_npy(dir / "missing.npy");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing.npy: no such file"));
  }
  EXPECT_THROW(write_npy(dir / "no_such_dir" / "b.npy", t), Error);
  try {
    read_npy(dir / "a.npy", 8);  // 32 bytes of data, limit 8
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("exceeds the limit of 8 bytes"));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace convt2d
