#!/usr/bin/env bash
# CI stage install: what a consumer of tofu gets. For a static and a shared
# build, each from one fresh configure: install to a temporary prefix, move
# the installed tree elsewhere (nothing may depend on where it was built or
# installed), then build and run tests/install/consumer.cpp twice -- through
# find_package(tofu) and through pkg-config -- each doing a real exchange.
# The shared library must carry a versioned SONAME and export no internals.
source "$(dirname "$0")/common.sh"
bash scripts/deps.sh
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

for kind in static shared; do
    echo "=== install: $kind ==="
    shared=OFF
    [ "$kind" = shared ] && shared=ON
    build="$root/build/install-$kind"
    rm -rf "$build"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=$shared -DTOFU_WERROR=ON \
        -DTOFU_BUILD_TESTS=OFF -DTOFU_BUILD_EXAMPLES=OFF >/dev/null
    cmake --build "$build" -j "$jobs"
    cmake --install "$build" --prefix "$scratch/$kind-installed" >/dev/null
    mv "$scratch/$kind-installed" "$scratch/$kind"
    prefix="$scratch/$kind"
    "$prefix/bin/tofu-echo" --version | grep -qx "tofu-echo $(sed -n 's/^project(tofu VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)" ||
        { echo "install: the installed tofu-echo does not run or names another version" >&2; exit 1; }
    pc=$(find "$prefix" -name tofu.pc)
    if grep -q "$scratch\|$root" "$pc"; then
        echo "install: tofu.pc names an absolute build or install path:" >&2
        cat "$pc" >&2
        exit 1
    fi

    if [ "$kind" = shared ]; then
        library=$(find "$prefix" -name 'libtofu.so.*.*.*')
        soname=$(readelf -d "$library" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
        echo "SONAME: $soname"
        [[ "$soname" =~ ^libtofu\.so\.[0-9]+\.[0-9]+$ ]] || { echo "install: unversioned SONAME '$soname'" >&2; exit 1; }
        # A symbol is internal when its own name (not a parameter type) is in
        # one of the engine's namespaces: "T tofu::net::...", "V vtable for tofu::detail::...".
        internal='^[0-9a-f]+ [A-Za-z] ((typeinfo( name)?|vtable|guard variable) for )?tofu::(detail|net|poller|wire)::'
        internals=$(nm -D --defined-only -C "$library" | grep -cE "$internal" || true)
        exported=$(nm -D --defined-only -C "$library" | grep -c ' tofu::' || true)
        echo "exported tofu symbols: $exported, of them internal: $internals"
        if [ "$internals" != 0 ]; then
            nm -D --defined-only -C "$library" | grep -E "$internal" | head -20 >&2
            echo "install: the shared library exports internals" >&2
            exit 1
        fi
    fi

    echo "--- consumer through find_package(tofu)"
    cmake -S tests/install -B "$scratch/$kind-cmake-consumer" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
    cmake --build "$scratch/$kind-cmake-consumer" -j "$jobs" >/dev/null
    "$scratch/$kind-cmake-consumer/consumer"

    echo "--- consumer through pkg-config"
    static_flag=()
    [ "$kind" = static ] && static_flag=(--static)
    flags=$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config "${static_flag[@]}" --cflags --libs tofu)
    echo "pkg-config: $flags"
    # shellcheck disable=SC2086 # the flags are words
    g++ -std=c++20 -Wall -Wextra -Werror tests/install/consumer.cpp $flags -o "$scratch/$kind-pc-consumer"
    LD_LIBRARY_PATH="$(dirname "$(find "$prefix" -name 'libtofu.*' | head -1)")" "$scratch/$kind-pc-consumer"
done
echo "install: static and shared, CMake and pkg-config consumers passed"
