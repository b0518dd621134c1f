# tofu_add_sim_world(NAME): the deterministic simulation's world as a static
# library (docs/design.md §9): the engine's own sources, with the simulated
# kernel's socket layer (tests/sim/sim_socket.cpp) in place of
# net/socket_posix.cpp -- a link seam, no #ifdef in src/ and no virtual call
# on the production path -- and the simulated kernel, pollers and world.
# Used by tests/sim (tofu_sim, the model tests) and fuzz/ (engine_fuzz).
find_package(Threads REQUIRED)

function(tofu_add_sim_world name)
    set(sim "${PROJECT_SOURCE_DIR}/tests/sim")
    get_target_property(tofu_sources tofu SOURCES)
    list(FILTER tofu_sources EXCLUDE REGEX "(socket_posix|kqueue_poller)\\.cpp$")
    list(TRANSFORM tofu_sources PREPEND "${PROJECT_SOURCE_DIR}/src/")
    add_library(${name} STATIC ${tofu_sources} ${sim}/kernel.cpp ${sim}/sim_socket.cpp ${sim}/pollers.cpp
                               ${sim}/world.cpp)
    target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include ${TOFU_GENERATED_INCLUDE}
                                              ${PROJECT_SOURCE_DIR}/src ${sim})
    target_compile_definitions(${name} PUBLIC TOFU_STATIC_DEFINE)
    target_compile_definitions(${name} PRIVATE TOFU_HAVE_EPOLL=1)
    target_compile_features(${name} PUBLIC cxx_std_20)
    target_link_libraries(${name} PUBLIC Threads::Threads tofu_build_flags)
endfunction()
