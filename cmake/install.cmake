# cmake --install: the libraries, every header (public ones under include/tbbpipe/, the engine's
# and nodes' under include/tbbpipe/{engine,nodes}/ so their own includes resolve), the CLI, a
# CMake package (find_package(tbbpipe) -> tbbpipe::engine, tbbpipe::nodes) and tbbpipe.pc.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set_target_properties(tbbpipe_engine PROPERTIES EXPORT_NAME engine)
set_target_properties(tbbpipe_nodes PROPERTIES EXPORT_NAME nodes)
# Linked privately by the static libraries, so the export must name it (it carries no flags to
# consumers: a private link of a static library is link-only).
set_target_properties(tbbpipe_warnings PROPERTIES EXPORT_NAME warnings)

install(TARGETS tbbpipe_engine tbbpipe_nodes tbbpipe_warnings EXPORT tbbpipeTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS tbbpipe RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/tbbpipe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY engine/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tbbpipe/engine
        FILES_MATCHING PATTERN "*.hpp")
install(DIRECTORY nodes/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tbbpipe/nodes
        FILES_MATCHING PATTERN "*.hpp")

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
