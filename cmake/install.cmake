include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS tofu EXPORT tofuTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/tofu DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT tofuTargets NAMESPACE tofu:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tofu)

configure_package_config_file(cmake/tofuConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/tofuConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tofu)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tofuConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tofuConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/tofuConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tofu)

configure_file(cmake/tofu.pc.in ${CMAKE_CURRENT_BINARY_DIR}/tofu.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tofu.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
