#include "secrets.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "exit_codes.hpp"
#include "signals.hpp"

namespace tbbpipe::cli {
namespace {

constexpr std::size_t kMaxPassphrase = 4096;

// A terminal with echo turned off for as long as this lives, and turned back on whatever ends
// the prompt: a return, an exception, or Ctrl-C (which, at a prompt, ends the run with 130).
class QuietTerminal {
public:
    explicit QuietTerminal(int tty) : tty_(tty) {
        is_tty_ = ::tcgetattr(tty, &saved_) == 0;
        if (!is_tty_) return;
        termios quiet = saved_;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(tty, TCSANOW, &quiet);  // TCSANOW keeps what was typed ahead
        on_interrupt([this] {
            restore();
            [[maybe_unused]] auto w = ::write(tty_, "\n", 1);
            ::_exit(kExitInterrupted);
        });
    }
    ~QuietTerminal() {
        on_interrupt({});
        restore();
    }
    QuietTerminal(const QuietTerminal&) = delete;
    QuietTerminal& operator=(const QuietTerminal&) = delete;

private:
    void restore() {
        if (is_tty_) ::tcsetattr(tty_, TCSANOW, &saved_);
    }
    int tty_;
    termios saved_{};
    bool is_tty_ = false;
};

std::string prompt(const char* question) {
    const int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (tty < 0) {
        throw UsageError("-p needs a terminal; use --passphrase-file or TBBPIPE_PASSPHRASE");
    }
    std::string line;
    {
        QuietTerminal quiet(tty);
        [[maybe_unused]] auto w = ::write(tty, question, std::strlen(question));
        char c = 0;
        while (line.size() < kMaxPassphrase && ::read(tty, &c, 1) == 1 && c != '\n') line += c;
        w = ::write(tty, "\n", 1);
    }
    ::close(tty);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

// The same passphrase twice, or a usage error; the copies are wiped.
Secret prompt_passphrase(bool confirm) {
    std::string first = prompt("Enter passphrase: ");
    if (confirm) {
        std::string again = prompt("Confirm passphrase: ");
        const bool same = again == first;
        std::fill(again.begin(), again.end(), '\0');
        if (!same) {
            std::fill(first.begin(), first.end(), '\0');
            throw UsageError("passphrases do not match");
        }
    }
    Secret secret = Secret::passphrase(first);
    std::fill(first.begin(), first.end(), '\0');
    return secret;
}

// TBBPIPE_PASSPHRASE as it was at start (take_environment_passphrase), if it was set.
std::optional<Secret>& environment_passphrase() {
    static std::optional<Secret> taken;
    return taken;
}

// Key material from here on: keep it out of core dumps, and out of reach of a debugger of the
// same user (PR_SET_DUMPABLE also makes /proc/PID/mem and /environ root's).
void hold_keys() {
    (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

Secret loaded(Result<Secret> secret) {
    if (!secret.ok()) throw UsageError(secret.status().message());
    return std::move(secret).value();
}

void warn_if_readable(const std::string& path, const char* what, std::string* warning) {
    struct stat st {};
    if (warning && ::stat(path.c_str(), &st) == 0 && (st.st_mode & 077)) {
        *warning = std::string(what) + " " + path + " is readable by others (chmod 600 it)";
    }
}

}  // namespace

Secret load_secret(const CliOptions& options, bool packing, std::string* warning) {
    Secret secret;
    if (options.key_file) {
        secret = loaded(Secret::key_file(*options.key_file));
        warn_if_readable(*options.key_file, "key file", warning);
    } else if (options.passphrase_file) {
        secret = loaded(Secret::passphrase_file(*options.passphrase_file));
        warn_if_readable(*options.passphrase_file, "passphrase file", warning);
    } else if (options.prompt_passphrase) {
        secret = prompt_passphrase(packing);
    } else if (environment_passphrase()) {
        secret = *environment_passphrase();
    } else {
        return secret;
    }
    hold_keys();
    if (Status s = validate(secret); !s.is_ok()) throw UsageError(s.message());
    return secret;
}

void take_environment_passphrase() {
    char* value = std::getenv("TBBPIPE_PASSPHRASE");
    if (!value) return;
    hold_keys();
    environment_passphrase() = Secret::passphrase(value);
    // Overwritten in place (the bytes /proc/PID/environ shows), with a printable byte rather than
    // NUL: a NUL would cut the environment block there for whatever reads it as one (sanitizer
    // runtimes do, and lost every option set after the passphrase).
    for (volatile char* c = value; *c != '\0'; ++c) *c = '*';
    ::unsetenv("TBBPIPE_PASSPHRASE");
}

}  // namespace tbbpipe::cli
