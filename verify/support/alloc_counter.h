#pragma once
// The peak heap use of a piece of code, counted by replacing the global operator new and delete
// (alloc_counter.cc, linked into the test executables that include this header): what a test
// holds an implementation's declared working memory against.

#include <cstdint>
#include <functional>

namespace convt2d::testing {

/// Runs `f` on a fresh thread (so that thread-local buffers start empty) and returns the peak,
/// while it ran, of the bytes allocated through operator new on every thread, above the level
/// when it started. Exceptions from `f` are rethrown.
int64_t peak_allocated_bytes(const std::function<void()>& f);

/// The bytes allocated through operator new on every thread and not yet freed.
int64_t live_allocated_bytes();

}  // namespace convt2d::testing
