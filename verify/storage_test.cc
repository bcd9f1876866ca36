// Storage: a view reads another owner's memory in place and never writes it (copy-on-write).
#include "convt2d/storage.h"

#include <gtest/gtest.h>

#include <vector>

#include "convt2d/tensor.h"

namespace convt2d {
namespace {

TEST(Storage, AViewReadsInPlaceThroughConstAccess) {
  const std::vector<float> src{1, 2, 3};
  const auto copies = storage_view_copies().load();
  Tensor<float> t;
  t.shape = {3};
  t.data = Storage<float>::view(src.data(), src.size());
  const Tensor<float>& ct = t;
  EXPECT_TRUE(ct.data.is_view());
  EXPECT_EQ(ct.data.data(), src.data());
  EXPECT_EQ(ct.data[2], 3.0f);
  float sum = 0;
  for (float v : ct.data) sum += v;
  EXPECT_EQ(sum, 6.0f);
  EXPECT_EQ(storage_view_copies().load(), copies);
}

TEST(Storage, NonConstAccessCopiesFirstAndLeavesTheSourceAlone) {
  const std::vector<float> src{1, 2, 3};
  Storage<float> s = Storage<float>::view(src.data(), src.size());
  const auto copies = storage_view_copies().load();
  s[0] = 7;
  EXPECT_FALSE(s.is_view());
  EXPECT_NE(s.data(), src.data());
  EXPECT_EQ(s.to_vector(), (std::vector<float>{7, 2, 3}));
  EXPECT_EQ(src, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(storage_view_copies().load(), copies + 1);
}

TEST(Storage, SizeChangesAndReleaseOfAViewCopy) {
  const std::vector<int> src{4, 5};
  Storage<int> r = Storage<int>::view(src.data(), src.size());
  r.resize(3);
  EXPECT_EQ(r.to_vector(), (std::vector<int>{4, 5, 0}));
  Storage<int> v = Storage<int>::view(src.data(), src.size());
  std::vector<int> out = std::move(v).release();
  EXPECT_EQ(out, src);
  EXPECT_NE(out.data(), src.data());
  EXPECT_TRUE(v.empty());
  Storage<int> a = Storage<int>::view(src.data(), src.size());
  a.assign(2, 9);  // replaced, not copied: the source stays
  EXPECT_EQ(a.to_vector(), (std::vector<int>{9, 9}));
  EXPECT_EQ(src, (std::vector<int>{4, 5}));
  Storage<int> c = Storage<int>::view(src.data(), src.size());
  const auto copies = storage_view_copies().load();
  c.clear();  // dropped, not copied
  EXPECT_TRUE(c.empty());
  EXPECT_FALSE(c.is_view());
  EXPECT_EQ(storage_view_copies().load(), copies);
}

TEST(Storage, ACopyOwnsAMoveKeepsTheView) {
  const std::vector<double> src{1.5, 2.5};
  Storage<double> v = Storage<double>::view(src.data(), src.size());
  const Storage<double> copy = v;
  EXPECT_FALSE(copy.is_view());
  EXPECT_NE(copy.data(), src.data());
  EXPECT_TRUE(copy == v);
  Storage<double> moved = std::move(v);
  EXPECT_TRUE(moved.is_view());
  EXPECT_EQ(std::as_const(moved).data(), src.data());
  EXPECT_TRUE(v.empty());
  // An owned buffer moves with its address.
  Storage<double> owned(std::vector<double>{3, 4});
  const double* at = std::as_const(owned).data();
  Storage<double> taken = std::move(owned);
  EXPECT_EQ(std::as_const(taken).data(), at);
}

}  // namespace
}  // namespace convt2d
