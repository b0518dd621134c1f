# Runs tofu-perf --json --quiet with the given options, fails the test unless
# it exits 0 with exactly `expected` cases and nothing on stderr, and leaves
# the JSON array in `out_var`. Included by the perf_*.cmake tests.
function(run_perf_json out_var expected)
    execute_process(COMMAND ${PERF} --json --quiet ${ARGN}
                    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
    message(STATUS "exit ${code}\nstdout:\n${out}\nstderr:\n${err}")
    if(NOT code EQUAL 0)
        message(FATAL_ERROR "tofu-perf --json exited with ${code}")
    endif()
    if(NOT err STREQUAL "")
        message(FATAL_ERROR "--quiet, yet stderr is not empty")
    endif()
    string(JSON cases LENGTH "${out}")
    if(NOT cases EQUAL expected)
        message(FATAL_ERROR "expected ${expected} cases, got ${cases}")
    endif()
    set(${out_var} "${out}" PARENT_SCOPE)
endfunction()
