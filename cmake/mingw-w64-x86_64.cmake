# Cross build for 64-bit Windows with MinGW-w64 (Debian: g++-mingw-w64-x86-64-posix).
#
#   cmake -S . -B build/mingw -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake
#
# The `-posix` thread-model compilers are required: the `-win32` ones (GCC 12)
# have no std::thread / std::mutex / std::condition_variable, and GoogleTest
# does not build with them. Everything is linked statically (libgcc,
# libstdc++, winpthread) so the test executables need no DLL beside them.
# ctest runs the .exe files through Wine (tools/windows/run-tests.sh sets up
# the prefix and a persistent wineserver).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_VERSION 10.0)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(TOFU_MINGW_TRIPLE x86_64-w64-mingw32)
find_program(TOFU_MINGW_CXX NAMES ${TOFU_MINGW_TRIPLE}-g++-posix REQUIRED)
find_program(TOFU_MINGW_CC NAMES ${TOFU_MINGW_TRIPLE}-gcc-posix REQUIRED)
find_program(TOFU_MINGW_RC NAMES ${TOFU_MINGW_TRIPLE}-windres)
set(CMAKE_CXX_COMPILER ${TOFU_MINGW_CXX})
set(CMAKE_C_COMPILER ${TOFU_MINGW_CC})
if(TOFU_MINGW_RC)
    set(CMAKE_RC_COMPILER ${TOFU_MINGW_RC})
endif()

set(CMAKE_FIND_ROOT_PATH /usr/${TOFU_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# No libgcc / libstdc++ / libwinpthread DLLs at run time.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc -static-libstdc++")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "-static-libgcc -static-libstdc++")

# add_test() and gtest_discover_tests() prefix every Windows executable with
# this, so ctest runs the suites under Wine. Debian 12 ships `wine` (which
# picks the 64-bit loader for a PE32+ file), not a `wine64` command.
find_program(TOFU_WINE NAMES wine wine64)
if(TOFU_WINE)
    # wine-run.sh starts a program again only when Wine failed to start it.
    set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/../tools/windows/wine-run.sh ${TOFU_WINE})
endif()

# Listing a suite's tests means running its .exe under Wine: do that when
# ctest runs, not as a build step, for every gtest_discover_tests() call.
set(CMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE PRE_TEST)
