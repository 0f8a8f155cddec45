// tbbpipe_rss_probe: runs a command and writes its peak resident set (KiB) and exit code to a file.
//
// Why a separate, tiny program: on Linux a child's ru_maxrss starts from the memory of the process
// it was forked from (exec records the old mm's high-water mark), so a child spawned straight from
// the benchmark would report at least the benchmark's own peak. Forked from this small program,
// the floor is this program's few hundred KiB.
//
//   tbbpipe_rss_probe RESULT_FILE COMMAND [ARG...]     # RESULT_FILE gets "<maxrss_kib> <exit>"
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: tbbpipe_rss_probe RESULT_FILE COMMAND [ARG...]\n");
        return 2;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        std::fprintf(stderr, "tbbpipe_rss_probe: fork: %s\n", std::strerror(errno));
        return 1;
    }
    if (pid == 0) {
        ::execvp(argv[2], argv + 2);
        std::fprintf(stderr, "tbbpipe_rss_probe: cannot run %s: %s\n", argv[2],
                     std::strerror(errno));
        ::_exit(127);
    }
    int status = 0;
    rusage usage{};
    while (::wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            std::fprintf(stderr, "tbbpipe_rss_probe: wait4: %s\n", std::strerror(errno));
            return 1;
        }
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::FILE* out = std::fopen(argv[1], "w");
    if (!out) {
        std::fprintf(stderr, "tbbpipe_rss_probe: cannot write %s\n", argv[1]);
        return 1;
    }
    std::fprintf(out, "%ld %d\n", usage.ru_maxrss, code);
    return std::fclose(out) == 0 ? code : 1;
}
