# tofu-perf --json: a JSON array with one object per case, each with the
# figures of its mode.
#   cmake -DPERF=<tofu-perf> -P perf_json.cmake
include(${CMAKE_CURRENT_LIST_DIR}/perf_json_run.cmake)
run_perf_json(out 2 --mode throughput,latency --count 1000 --warmup 10)
foreach(index mode figure IN ZIP_LISTS "0;1" "throughput;latency" "msgs_per_s;median_us")
    string(JSON ok GET "${out}" ${index} ok)
    string(JSON actual_mode GET "${out}" ${index} mode)
    string(JSON value GET "${out}" ${index} ${figure})
    if(NOT ok OR NOT actual_mode STREQUAL mode OR NOT value GREATER 0)
        message(FATAL_ERROR "case ${index}: ok=${ok} mode=${actual_mode} ${figure}=${value}")
    endif()
endforeach()
