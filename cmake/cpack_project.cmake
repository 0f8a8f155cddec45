# Read by cpack when it runs (CPACK_PROJECT_CONFIG_FILE, cmake/package.cmake). Without
# dpkg-shlibdeps CPack would build a .deb that declares no dependencies at all, which installs
# "fine" and then fails to start: refuse instead.
if(CPACK_GENERATOR STREQUAL "DEB" AND CPACK_DEBIAN_PACKAGE_SHLIBDEPS)
    find_program(TBBPIPE_DPKG_SHLIBDEPS dpkg-shlibdeps)
    if(NOT TBBPIPE_DPKG_SHLIBDEPS)
        message(FATAL_ERROR "cpack -G DEB: dpkg-shlibdeps not found, so the package could not "
                            "declare its dependencies (apt-get install dpkg-dev)")
    endif()
endif()
