// The CLI test fixture: runs the real tbbpipe binary through bash in a scratch folder and
// captures exit code, stdout and stderr. Shared by cli_test and governance_test.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_support.hpp"

namespace tbbpipe::testing {

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Result {
    int code = -1;
    std::string out, err;
};

class CliTest : public ::testing::Test {
protected:
    // Runs a shell snippet in the scratch folder; "tbbpipe" in it is the binary under test.
    Result sh(const std::string& script) {
        const std::string cmd = "cd '" + dir_.path() +
                                "' && tbbpipe() { '" TBBPIPE_CLI "' \"$@\"; } && { " + script +
                                "\n} >'" + out_ + "' 2>'" + err_ + "'";
        const int status = std::system(("/bin/bash -c " + quote(cmd)).c_str());
        Result r;
        r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        r.out = slurp(out_);
        r.err = slurp(err_);
        return r;
    }
    static std::string quote(const std::string& s) {
        std::string q = "'";
        for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return q + "'";
    }
    void make(const std::string& name, std::size_t size, std::uint32_t seed = 1) {
        write_file(dir_ / name, make_data(size, DataKind::kMixed, seed));
    }
    std::vector<std::string> files() const { return dir_.list(); }

    ScratchDir dir_;
    ScratchDir logs_;
    std::string out_ = logs_ / "stdout";
    std::string err_ = logs_ / "stderr";
};

}  // namespace tbbpipe::testing
