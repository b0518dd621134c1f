#!/usr/bin/env bash
# Installs what building and testing tofu needs on Debian 12, if missing.
# The Windows cross toolchain and Wine are installed by tools/windows/run-tests.sh.
set -euo pipefail
if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "deps: not a Debian system; install CMake 3.25+, a C++20 compiler and GoogleTest yourself"
    exit 0
fi
packages=(clang-format-14 clang-tidy-14 cmake g++ clang libclang-rt-14-dev make libgtest-dev libgmock-dev libbenchmark-dev pkg-config libcli11-dev procps doxygen)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
