#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build: $CXX, $CXXFLAGS (sanitizer + coverage flags), $LIB_FUZZING_ENGINE
# and $OUT come from the infrastructure.
cmake -S "$SRC/convt2d" -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCONVT2D_BUILD_TESTS=OFF -DCONVT2D_BUILD_CLI=OFF -DCONVT2D_BUILD_FUZZ=ON -DCONVT2D_FUZZ_OWN_FLAGS=OFF \
  -DCONVT2D_FUZZ_ENGINE="$LIB_FUZZING_ENGINE"
cmake --build build -j"$(nproc)"
for t in differential shape parsers cli_values; do
  cp "build/fuzz/fuzz_$t" "$OUT/"
  (cd "$SRC/convt2d/fuzz/corpus/$t" && zip -q -r "$OUT/fuzz_${t}_seed_corpus.zip" .)
done
cp "$SRC/convt2d/fuzz/dict/parsers.dict" "$OUT/fuzz_parsers.dict"
