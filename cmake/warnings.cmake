add_library(tofu_build_flags INTERFACE)
target_compile_options(tofu_build_flags INTERFACE -Wall -Wextra -Wpedantic $<$<BOOL:${TOFU_WERROR}>:-Werror>)
if(TOFU_SANITIZE)
    target_compile_options(tofu_build_flags INTERFACE -fsanitize=${TOFU_SANITIZE} -fno-omit-frame-pointer
                           -fno-sanitize-recover=all)
    target_link_options(tofu_build_flags INTERFACE -fsanitize=${TOFU_SANITIZE})
endif()
