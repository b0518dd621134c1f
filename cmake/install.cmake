# Installs the library, its public headers (with the generated export.hpp and
# version.hpp), a CMake package (find_package(tofu) -> tofu::tofu) and a
# relocatable pkg-config file. Checked by scripts/install-check.sh (CI stage
# install): static and shared, through CMake and through pkg-config.
include(CMakePackageConfigHelpers)

install(TARGETS tofu EXPORT tofuTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/tofu DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} PATTERN "*.in" EXCLUDE)
install(FILES ${TOFU_GENERATED_INCLUDE}/tofu/export.hpp ${TOFU_GENERATED_INCLUDE}/tofu/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tofu)
install(EXPORT tofuTargets NAMESPACE tofu:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tofu)

configure_package_config_file(cmake/tofuConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/tofuConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tofu)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tofuConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tofuConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/tofuConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tofu)

# The prefix as seen from the .pc file's folder, so the file holds no
# absolute path and `cmake --install --prefix` anywhere gives a working one.
file(RELATIVE_PATH TOFU_PC_PREFIX_FROM_PCDIR "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" TOFU_PC_PREFIX_FROM_PCDIR "${TOFU_PC_PREFIX_FROM_PCDIR}")
configure_file(cmake/tofu.pc.in ${CMAKE_CURRENT_BINARY_DIR}/tofu.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tofu.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/tofu)
