# cmake --install: the programs (tbbpipe, tbbpipe-lab), their man pages and bash completion, the
# library (libtbbpipe.a), the public headers (include/tbbpipe/ and nothing else), a CMake package
# (find_package(tbbpipe) -> tbbpipe::tbbpipe, which carries C++20 and its link dependencies) and
# a relocatable tbbpipe.pc.
#
# Two components, which cmake/package.cmake turns into two Debian packages: "runtime" (the
# programs, man pages, completion) and "development" (library, headers, CMake package, .pc).
# A plain `cmake --install` installs both.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS tbbpipe_lib EXPORT tbbpipeTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development)
install(TARGETS tbbpipe tbbpipe-lab RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
# tbbpipe-mpi links Open MPI: a component of its own, so the Debian packages (runtime,
# development) do not pull MPI in for everybody.
if(TARGET tbbpipe-mpi)
    install(TARGETS tbbpipe-mpi RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT mpi)
endif()
install(DIRECTORY include/tbbpipe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development)

# Man pages: one source, the programs' own --help (and tbbpipe's --version), turned into roff by
# help2man at build time, plus docs/man/PROGRAM.h2m for what the help does not say (exit status
# details, environment, files, see also). Without help2man (or with -DTBBPIPE_HELP2MAN=OFF) the
# build goes on without them. Compressed (gzip -n: no timestamp) as Debian installs man pages.
find_program(TBBPIPE_HELP2MAN help2man)
find_program(TBBPIPE_GZIP gzip)
if(CMAKE_CROSSCOMPILING)
    message(STATUS "tbbpipe: cross-compiling, so the programs cannot run for help2man: "
                   "no man pages")
elseif(TBBPIPE_SANITIZE)
    # Not worth running instrumented programs in the build (TSan may refuse to start at all).
    message(STATUS "tbbpipe: a sanitizer build: no man pages")
elseif(NOT TBBPIPE_HELP2MAN OR NOT TBBPIPE_GZIP)
    message(STATUS "tbbpipe: help2man or gzip not found: the man pages tbbpipe(1) and "
                   "tbbpipe-lab(1) are not built or installed")
else()
    set(man_pages "")
    foreach(program tbbpipe tbbpipe-lab)
        set(page ${PROJECT_BINARY_DIR}/man/${program}.1)
        set(include_file ${PROJECT_SOURCE_DIR}/docs/man/${program}.h2m)
        # The footer names the program and the project's version: tbbpipe's --version line goes
        # on to list the libraries, too long for it, and tbbpipe-lab has no --version.
        set(version_option --source=${program}\ ${PROJECT_VERSION})
        if(program STREQUAL "tbbpipe-lab")
            list(APPEND version_option --version-string=${PROJECT_VERSION})
        endif()
        add_custom_command(
            OUTPUT ${page} ${page}.gz
            COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
            COMMAND ${CMAKE_COMMAND} -E env LC_ALL=C
                    ${TBBPIPE_HELP2MAN} --no-info --section=1 --include=${include_file}
                    ${version_option} --output=${page} $<TARGET_FILE:${program}>
            COMMAND ${TBBPIPE_GZIP} -9 -n -k -f ${page}
            DEPENDS ${program} ${include_file}
            COMMENT "help2man: ${program}(1)"
            VERBATIM)
        list(APPEND man_pages ${page}.gz)
    endforeach()
    add_custom_target(tbbpipe_man_pages ALL DEPENDS ${man_pages})
    install(FILES ${man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
endif()

# Bash completion, one script for both programs (it asks the program being completed for its
# commands and options). bash-completion looks a command's script up by the command's name.
foreach(program tbbpipe tbbpipe-lab)
    install(FILES completions/tbbpipe.bash
            DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME ${program}
            COMPONENT runtime)
endforeach()

set(tbbpipe_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tbbpipe)
install(EXPORT tbbpipeTargets NAMESPACE tbbpipe:: DESTINATION ${tbbpipe_cmake_dir}
        COMPONENT development)
configure_package_config_file(cmake/tbbpipeConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/tbbpipeConfig.cmake
                              INSTALL_DESTINATION ${tbbpipe_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tbbpipeConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tbbpipeConfig.cmake
              ${PROJECT_BINARY_DIR}/tbbpipeConfigVersion.cmake
        DESTINATION ${tbbpipe_cmake_dir} COMPONENT development)
# From <libdir>/pkgconfig back up to the prefix: one ".." per folder (lib/pkgconfig -> ../..).
set(TBBPIPE_PC_UP "..")
string(REPLACE "/" ";" libdir_parts "${CMAKE_INSTALL_LIBDIR}")
foreach(part IN LISTS libdir_parts)
    string(APPEND TBBPIPE_PC_UP "/..")
endforeach()
configure_file(cmake/tbbpipe.pc.in ${PROJECT_BINARY_DIR}/tbbpipe.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tbbpipe.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT development)
