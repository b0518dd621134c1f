# tofu-perf --json: a JSON array with one object per case, each with the
# figures of its mode.
#   cmake -DPERF=<tofu-perf> -P perf_json.cmake
execute_process(COMMAND ${PERF} --json --quiet --mode throughput,latency --count 1000 --warmup 10
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
message(STATUS "exit ${code}\nstdout:\n${out}\nstderr:\n${err}")
if(NOT code EQUAL 0)
    message(FATAL_ERROR "tofu-perf --json exited with ${code}")
endif()
string(JSON cases LENGTH "${out}")
if(NOT cases EQUAL 2)
    message(FATAL_ERROR "expected 2 cases, got ${cases}")
endif()
foreach(index mode figure IN ZIP_LISTS "0;1" "throughput;latency" "msgs_per_s;median_us")
    string(JSON ok GET "${out}" ${index} ok)
    string(JSON actual_mode GET "${out}" ${index} mode)
    string(JSON value GET "${out}" ${index} ${figure})
    if(NOT ok OR NOT actual_mode STREQUAL mode OR NOT value GREATER 0)
        message(FATAL_ERROR "case ${index}: ok=${ok} mode=${actual_mode} ${figure}=${value}")
    endif()
endforeach()
if(NOT err STREQUAL "")
    message(FATAL_ERROR "--quiet, yet stderr is not empty")
endif()
