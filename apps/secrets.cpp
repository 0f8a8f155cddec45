#include "apps/secrets.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "engine/status.hpp"
#include "nodes/file_io.hpp"

namespace tbbpipe::cli {
namespace {

constexpr std::size_t kMaxPassphrase = 4096;

nodes::SecretBytes read_small_file(const std::string& path, std::size_t limit, const char* what,
                                   std::string* warning) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw UsageError(std::string("cannot open ") + what + " " + path + ": " +
                         std::strerror(errno));
    nodes::FileHandle handle(fd);
    struct stat st {};
    if (::fstat(fd, &st) == 0 && (st.st_mode & 077) && warning) {
        *warning = std::string(what) + " " + path + " is readable by others (chmod 600 it)";
    }
    nodes::SecretBytes buffer(limit + 1);
    const std::size_t got = nodes::read_full(fd, buffer.data(), buffer.size(), nullptr);
    if (got > limit) throw UsageError(std::string(what) + " " + path + " is too large");
    buffer.resize(got);
    return buffer;
}

// One trailing newline (LF or CRLF) belongs to the file, not to the passphrase.
void strip_newline(nodes::SecretBytes& bytes) {
    std::size_t n = bytes.size();
    if (n && bytes[n - 1] == '\n') --n;
    if (n && bytes[n - 1] == '\r') --n;
    bytes.resize(n);
}

nodes::SecretBytes prompt(const char* question) {
    const int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (tty < 0)
        throw UsageError("-p needs a terminal; use --passphrase-file or TBBPIPE_PASSPHRASE");
    nodes::FileHandle handle(tty);
    termios saved{};
    const bool is_tty = ::tcgetattr(tty, &saved) == 0;
    if (is_tty) {
        termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(tty, TCSANOW, &quiet);  // TCSANOW keeps what was typed ahead
    }
    [[maybe_unused]] auto w = ::write(tty, question, std::strlen(question));
    nodes::SecretBytes line(kMaxPassphrase);
    std::size_t n = 0;
    char c = 0;
    while (n < kMaxPassphrase && ::read(tty, &c, 1) == 1 && c != '\n')
        line[n++] = static_cast<std::uint8_t>(c);
    if (is_tty) ::tcsetattr(tty, TCSANOW, &saved);
    w = ::write(tty, "\n", 1);
    line.resize(n);
    strip_newline(line);
    return line;
}

}  // namespace

nodes::UserSecret load_secret(const CliOptions& options, bool packing, std::string* warning) {
    nodes::UserSecret secret;
    if (options.key_file) {
        secret.kind = nodes::KdfId::kKeyFile;
        secret.bytes = read_small_file(*options.key_file, 64, "key file", warning);
        if (secret.bytes.size() != nodes::kFileKeySize) {
            throw UsageError("key file " + *options.key_file +
                             " must hold exactly 32 bytes (see "
                             "tbbpipe keygen)");
        }
        return secret;
    }
    secret.kind = nodes::KdfId::kScrypt;
    if (options.passphrase_file) {
        secret.bytes =
            read_small_file(*options.passphrase_file, kMaxPassphrase, "passphrase file", warning);
        strip_newline(secret.bytes);
    } else if (options.prompt_passphrase) {
        secret.bytes = prompt("Enter passphrase: ");
        if (packing) {
            const nodes::SecretBytes again = prompt("Confirm passphrase: ");
            if (again != secret.bytes) throw UsageError("passphrases do not match");
        }
    } else if (const char* env = std::getenv("TBBPIPE_PASSPHRASE")) {
        secret.bytes.Assign(reinterpret_cast<const std::uint8_t*>(env), std::strlen(env));
    } else {
        return nodes::UserSecret();
    }
    if (secret.bytes.empty()) throw UsageError("empty passphrase");
    return secret;
}

void write_new_key(const std::string& path, bool force) {
    nodes::SecretBytes key(nodes::kFileKeySize);
    nodes::random_bytes(key.data(), key.size());
    if (path == "-") {
        if (::isatty(STDOUT_FILENO)) {
            throw UsageError("refusing to write a binary key to a terminal (use -o FILE)");
        }
        nodes::write_full(STDOUT_FILENO, key.data(), key.size(), "key");
        return;
    }
    nodes::OutputFile out(path, force);  // created 0600 by mkstemp
    out.set_metadata(0600, 0, 0);
    nodes::write_full(out.fd(), key.data(), key.size(), "key");
    out.commit();
}

}  // namespace tbbpipe::cli
