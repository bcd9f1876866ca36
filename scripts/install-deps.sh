#!/usr/bin/env bash
# Installs the Debian packages convt2d needs, but only those this machine lacks.
# Idempotent: a second run installs nothing and does not touch the network.
set -euo pipefail

# ocl-icd-opencl-dev: Debian's oneDNN CMake config needs it (libdnnl-dev only recommends it).
packages=(
  cmake ninja-build g++ clang clang-format clang-tidy
  libgtest-dev librapidcheck-dev libboost-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libbenchmark-dev libdnnl-dev ocl-icd-opencl-dev libomp-dev python3
  python3-dev python3-numpy python3-pytest python3-hypothesis pybind11-dev python3-pybind11
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
