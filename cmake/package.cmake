# `cpack -G DEB` in the build folder: two Debian packages, under /usr, from the install components
# of cmake/install.cmake:
#   tbbpipe      the programs (tbbpipe, tbbpipe-lab), their man pages and bash completion; its
#                Depends come from dpkg-shlibdeps on the binaries (libtbb12, liblz4-1,
#                libcrypto++8, libboost-program-options, libxxhash0, libstdc++6, libc6, ...);
#   tbbpipe-dev  libtbbpipe.a, include/tbbpipe/, the CMake package and tbbpipe.pc. A static
#                library's users link its dependencies themselves, so it depends on their -dev
#                packages (what tbbpipe.pc's Requires and tbbpipeConfig.cmake look for).
# Users of the tool get no headers, and a program built on the library needs no CLI.
# Each package carries /usr/share/doc/PACKAGE/copyright and changelog.Debian.gz as Debian policy
# asks (lintian checks it); those are for the packages only, not for a plain `cmake --install`.
# tests/package_check.sh builds both and checks them.
set(TBBPIPE_DEB_MAINTAINER
    "tbbpipe maintainers <maintainers@users.noreply.b-seed-8b3a32f2.example>"
    CACHE STRING "Maintainer field of the Debian packages (Name <email>)")
set(TBBPIPE_DEB_RELEASE 1 CACHE STRING "Debian revision of the packages (VERSION-REVISION)")

# The Debian changelog: one entry for this version, dated now (or SOURCE_DATE_EPOCH), compressed
# without a timestamp (lintian: package-contains-timestamped-gzip).
set(TBBPIPE_DEB_VERSION ${PROJECT_VERSION}-${TBBPIPE_DEB_RELEASE})
string(TIMESTAMP TBBPIPE_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
set(deb_doc ${PROJECT_BINARY_DIR}/debian)
configure_file(cmake/debian/changelog.in ${deb_doc}/changelog.Debian @ONLY)
if(TBBPIPE_GZIP)
    execute_process(COMMAND ${TBBPIPE_GZIP} -9 -n -c ${deb_doc}/changelog.Debian
                    OUTPUT_FILE ${deb_doc}/changelog.Debian.gz RESULT_VARIABLE gzip_result)
endif()
if(NOT TBBPIPE_GZIP OR NOT gzip_result EQUAL 0)
    message(STATUS "tbbpipe: gzip not found or failed: the Debian packages lack their changelog")
    set(deb_changelog "")
else()
    set(deb_changelog ${deb_doc}/changelog.Debian.gz)
endif()
foreach(component_package IN ITEMS runtime:tbbpipe development:tbbpipe-dev)
    string(REPLACE ":" ";" pair ${component_package})
    list(GET pair 0 component)
    list(GET pair 1 package)
    install(FILES cmake/debian/copyright ${deb_changelog}
            DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package}
            COMPONENT ${component} EXCLUDE_FROM_ALL)
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tbbpipe)
set(CPACK_PACKAGE_VENDOR tbbpipe)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${TBBPIPE_DEB_MAINTAINER})
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPack would put it before each component's description,
# whose first line is already that package's synopsis.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # executables only: CMake leaves static libraries unstripped
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime development)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # PACKAGE_VERSION-REVISION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE ${TBBPIPE_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${TBBPIPE_DEB_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: what the binaries link, from dpkg-shlibdeps
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_SOURCE_DIR}/cmake/cpack_project.cmake)  # which it needs

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME tbbpipe)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
    "parallel, bounded, authenticated file compression and encryption
tbbpipe turns files into compressed, encrypted, integrity-checked containers
(.tbp) and back, in parallel in both directions (a oneTBB flow graph), with
every resource bounded: chunk buffers, reads in flight and CPU work.
Containers are lz4 or deflate compressed, authenticated with AES-256-GCM or
ChaCha20-Poly1305 under a key file or a passphrase (scrypt), and checked
chunk by chunk (XXH3-128 or SHA-256).
.
This package holds the tbbpipe command, tbbpipe-lab (throughput sweeps and
comparisons with zstd, pigz, lz4 and age), their manual pages and bash
completion.")

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME tbbpipe-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SHLIBDEPS OFF)  # no ELF files: a static library
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "libtbb-dev, liblz4-dev, libcrypto++-dev, libxxhash-dev, pkgconf | pkg-config")
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION
    "tbbpipe library: parallel, bounded, authenticated pack and unpack
The C++20 library behind tbbpipe: an engine that packs and unpacks many files
at once on its own task arena and budgets, with per-file results, custom
stages and metrics.
.
This package holds the static library libtbbpipe.a, its public headers
(tbbpipe/), a CMake package (find_package(tbbpipe) gives tbbpipe::tbbpipe)
and a pkg-config file.")

include(CPack)
