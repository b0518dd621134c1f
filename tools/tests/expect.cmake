# Runs one command line and checks how it ended:
#   cmake -DEXIT=<code> [-DSTDOUT=<regex>] [-DSTDERR=<regex>] -P expect.cmake -- PROGRAM ARGS...
# The arguments come after `--`, untouched by CMake: addresses hold '|' and
# options start with '-'.
set(command)
set(take OFF)
foreach(i RANGE 1 ${CMAKE_ARGC})
    if(take AND DEFINED CMAKE_ARGV${i})
        list(APPEND command "${CMAKE_ARGV${i}}")
    elseif(CMAKE_ARGV${i} STREQUAL "--")
        set(take ON)
    endif()
endforeach()
execute_process(COMMAND ${command} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
message(STATUS "exit ${code}\nstdout:\n${out}\nstderr:\n${err}")
if(NOT code STREQUAL EXIT)
    message(FATAL_ERROR "expected exit code ${EXIT}, got ${code}")
endif()
if(DEFINED STDOUT AND NOT out MATCHES "${STDOUT}")
    message(FATAL_ERROR "stdout does not match '${STDOUT}'")
endif()
if(DEFINED STDERR AND NOT err MATCHES "${STDERR}")
    message(FATAL_ERROR "stderr does not match '${STDERR}'")
endif()
