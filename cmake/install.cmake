# cmake --install: the library (libtbbpipe.a), the public headers (include/tbbpipe/ and nothing
# else), the CLI, a CMake package (find_package(tbbpipe) -> tbbpipe::tbbpipe, which carries C++20
# and its link dependencies) and a relocatable tbbpipe.pc.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS tbbpipe_lib EXPORT tbbpipeTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS tbbpipe RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/tbbpipe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(tbbpipe_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tbbpipe)
install(EXPORT tbbpipeTargets NAMESPACE tbbpipe:: DESTINATION ${tbbpipe_cmake_dir})
configure_package_config_file(cmake/tbbpipeConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/tbbpipeConfig.cmake
                              INSTALL_DESTINATION ${tbbpipe_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tbbpipeConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tbbpipeConfig.cmake
              ${PROJECT_BINARY_DIR}/tbbpipeConfigVersion.cmake
        DESTINATION ${tbbpipe_cmake_dir})
# From <libdir>/pkgconfig back up to the prefix: one ".." per folder (lib/pkgconfig -> ../..).
set(TBBPIPE_PC_UP "..")
string(REPLACE "/" ";" libdir_parts "${CMAKE_INSTALL_LIBDIR}")
foreach(part IN LISTS libdir_parts)
    string(APPEND TBBPIPE_PC_UP "/..")
endforeach()
configure_file(cmake/tbbpipe.pc.in ${PROJECT_BINARY_DIR}/tbbpipe.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tbbpipe.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
