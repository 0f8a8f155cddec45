# Writes OUT, a header defining TBBPIPE_LAB_COMMIT: the commit of the source tree at SRC
# ("git rev-parse --short=12 HEAD", "-dirty" when tracked files have uncommitted changes,
# "unknown" without git or outside a checkout). Run at every build by the tbbpipe_lab_commit
# target; OUT is rewritten only when the text changes, so an unchanged commit rebuilds nothing.
# Read-only on the repository: GIT_OPTIONAL_LOCKS=0 keeps `git status` from refreshing the index.
set(commit "unknown")
find_program(git_program git)
if(git_program)
    execute_process(COMMAND ${git_program} -C ${SRC} rev-parse --short=12 HEAD
                    OUTPUT_VARIABLE head OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                    RESULT_VARIABLE head_rc)
    if(head_rc EQUAL 0 AND NOT head STREQUAL "")
        set(commit "${head}")
        set(ENV{GIT_OPTIONAL_LOCKS} 0)
        execute_process(COMMAND ${git_program} -C ${SRC} status --porcelain --untracked-files=no
                        OUTPUT_VARIABLE changes ERROR_QUIET RESULT_VARIABLE status_rc)
        if(status_rc EQUAL 0 AND NOT changes STREQUAL "")
            set(commit "${head}-dirty")
        endif()
    endif()
endif()
set(text "// Written by apps/lab/lab_commit.cmake at build time; do not edit.\n#pragma once\n\n#define TBBPIPE_LAB_COMMIT \"${commit}\"\n")
set(old "")
if(EXISTS ${OUT})
    file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
    file(WRITE ${OUT} "${text}")
endif()
