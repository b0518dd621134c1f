#!/usr/bin/env bash
# Builds tofu for 64-bit Windows with MinGW-w64 and runs every Windows test
# executable under Wine through ctest.
#
#   bash tools/windows/run-tests.sh
#
# Installs what is missing with apt-get (as root). Exits non-zero when the
# build or a test fails. When Wine (or the cross compiler) cannot be
# installed, or Wine cannot start here, it prints one line
#   SKIPPED: windows suite: <reason>
# and exits 0 -- except in CI (CI=true), where it says why and exits 1.
#
# Environment: TOFU_JOBS (default 2), TOFU_WINDOWS_BUILD (default build/mingw).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
jobs=${TOFU_JOBS:-2}
build=${TOFU_WINDOWS_BUILD:-build/mingw}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
toolchain="$root/cmake/mingw-w64-x86_64.cmake"

# On a person's machine a suite that cannot run is skipped; in CI it fails.
skip() {
    if [ "${CI:-}" = true ]; then
        echo "FAILED: windows suite cannot run in CI: $*" >&2
        exit 1
    fi
    echo "SKIPPED: windows suite: $*"
    exit 0
}

echo "=== tofu tests: windows (MinGW-w64 build, run under Wine) ==="

# --- packages ------------------------------------------------------------------
# Debian 12: the -posix thread model compilers (the -win32 ones have no
# std::thread), Wine 8.0 (`wine` runs 64-bit programs through wine64; there is
# no `wine64` command), GoogleTest sources (no MinGW build of it is packaged).
packages=()
command -v x86_64-w64-mingw32-g++-posix >/dev/null || packages+=(g++-mingw-w64-x86-64-posix)
command -v x86_64-w64-mingw32-gcc-posix >/dev/null || packages+=(gcc-mingw-w64-x86-64-posix)
{ command -v wine >/dev/null && command -v wineserver >/dev/null && [ -x /usr/lib/wine/wine64 ]; } ||
    packages+=(wine wine64)
command -v cmake >/dev/null || packages+=(cmake)
command -v make >/dev/null || packages+=(make)
[ -f /usr/src/googletest/CMakeLists.txt ] || packages+=(googletest)
if ((${#packages[@]})); then
    [ "$(id -u)" -eq 0 ] || skip "not root, cannot install ${packages[*]}"
    command -v apt-get >/dev/null || skip "no apt-get to install ${packages[*]}"
    echo "windows: installing ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }
    # Refresh the package lists only when the install cannot proceed without.
    if ! apt_install 2>/dev/null; then
        apt-get update -qq >/dev/null || true
        apt_install || skip "apt-get could not install ${packages[*]}"
    fi
fi
command -v x86_64-w64-mingw32-g++-posix >/dev/null || skip "no MinGW-w64 compiler (x86_64-w64-mingw32-g++-posix)"
command -v wine >/dev/null || skip "wine is not installed"

# --- Wine ----------------------------------------------------------------------
# A prefix of the build's own (never the home folder), no debug chatter, no
# desktop integration, no Mono/Gecko installers.
export WINEPREFIX="$build/wineprefix"
export WINEARCH=win64
export WINEDEBUG=-all
export WINEDLLOVERRIDES="winemenubuilder.exe=d;mscoree=d;mshtml=d"
unset DISPLAY WAYLAND_DISPLAY
mkdir -p "$build"

server_started=0
stop_server() {
    if ((server_started)); then
        wineserver -k >/dev/null 2>&1 || true
        server_started=0
    fi
}
trap stop_server EXIT

start_wine() {
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        echo "windows: creating the Wine prefix $WINEPREFIX"
        timeout 300 wineboot --init >/dev/null 2>&1 || return 1
        # wineboot returns before its server has written the registry
        timeout 60 wineserver -w >/dev/null 2>&1 || true
    fi
    # One persistent server for the whole run: without it every test process
    # pays Wine's start-up. The priming run makes sure it serves before ctest
    # starts many processes at once (a bare `wineserver -p` can hang them).
    # (It fails when a server already runs for this prefix, e.g. one left by
    # an interrupted run: that one serves as well, and the prefix is ours.)
    wineserver -p >/dev/null 2>&1 || true
    server_started=1
    timeout 120 wine cmd /c exit >/dev/null 2>&1 || return 1
}

# --- GoogleTest for MinGW --------------------------------------------------------
# Built once from Debian's sources and installed beside the build, so
# find_package(GTest) finds it like a packaged one (GoogleMock is left out:
# no Windows suite uses it; turn BUILD_GMOCK on when one does).
gtest_prefix="$build/googletest-install"
if [ ! -f "$gtest_prefix/lib/cmake/GTest/GTestConfig.cmake" ]; then
    echo "windows: building GoogleTest for MinGW-w64"
    cmake -S /usr/src/googletest -B "$build/googletest-build" \
        -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_INSTALL_PREFIX="$gtest_prefix" -DBUILD_GMOCK=OFF -DINSTALL_GTEST=ON \
        -Dgtest_force_shared_crt=ON >/dev/null
    cmake --build "$build/googletest-build" -j "$jobs" --target install >/dev/null
fi

# --- configure, build ------------------------------------------------------------
cmake -S . -B "$build" \
    -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTOFU_WERROR=ON \
    -DTOFU_CHECK_INVARIANTS=ON \
    -DTOFU_BUILD_TOOLS=OFF \
    -DTOFU_BUILD_EXAMPLES=OFF \
    -DGTest_DIR="$gtest_prefix/lib/cmake/GTest" >/dev/null
cmake --build "$build" -j "$jobs"

# --- run -------------------------------------------------------------------------
start_wine || skip "Wine is installed but cannot start here (wineboot/wineserver failed)"
status=0
ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 300 || status=$?
stop_server
exit "$status"
