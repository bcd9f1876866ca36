# ctest driver: install the build tree into a scratch prefix, then configure, build and run the
# consumer project against it; with PYTHON set (the Python package was built), import the installed
# package from PYTHON_DIR under the prefix, outside the build tree, and compute with it.
# Variables: BUILD_DIR, SOURCE_DIR, WORK_DIR, GENERATOR, PYTHON, PYTHON_DIR.
file(REMOVE_RECURSE "${WORK_DIR}")
function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()
step(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
step(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
     -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
step(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
step("${WORK_DIR}/build/consumer")
if(PYTHON)
  set(pkg "${WORK_DIR}/prefix/${PYTHON_DIR}")
  if(IS_ABSOLUTE "${PYTHON_DIR}")
    set(pkg "${PYTHON_DIR}")
  endif()
  # The installed module, not build/python: its file must lie under the prefix; the adjoint check
  # of an exact reference result must pass and a wrong result must fail.
  step(${CMAKE_COMMAND} -E env "PYTHONPATH=${pkg}" PYTHONDONTWRITEBYTECODE=1 "${PYTHON}" -c [[
import sys, numpy as np, convt2d
assert convt2d.__file__.startswith(sys.argv[1]), convt2d.__file__
x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4) % 5
w = np.arange(36, dtype=np.float32).reshape(2, 2, 3, 3) % 3
y = convt2d.reference(x, w, stride=2, padding=1, impl="reference-f32")
convt2d.assert_close(y, x, w, stride=2, padding=1)
bad = y.copy()
bad.flat[3] += 1
try:
    convt2d.assert_close(bad, x, w, stride=2, padding=1)
except AssertionError:
    print("installed convt2d at", convt2d.__file__, "PASSED and FAILED as expected")
else:
    raise SystemExit("a wrong result passed")
]] "${pkg}")
endif()
