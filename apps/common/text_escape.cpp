#include "common/text_escape.hpp"

#include <cstdint>
#include <cstdio>

namespace tbbpipe::cli {
namespace {

// Length of the valid UTF-8 sequence at text[i] (1..4), or 0 when the bytes there are not one
// (overlong forms, surrogates and code points above U+10FFFF are not valid).
std::size_t utf8_length(std::string_view text, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<std::uint8_t>(text[i + k]); };
    const std::uint8_t c = b(0);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + n > text.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        if ((b(k) & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (b(k) & 0x3f);
    }
    static constexpr std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

// U+0080..U+009F, encoded C2 80..C2 9F.
bool is_c1(std::string_view text, std::size_t i, std::size_t n) {
    return n == 2 && static_cast<std::uint8_t>(text[i]) == 0xc2 &&
           static_cast<std::uint8_t>(text[i + 1]) <= 0x9f;
}

void append_hex(std::string& out, const char* format, unsigned value) {
    char buf[8];
    std::snprintf(buf, sizeof buf, format, value);
    out += buf;
}

}  // namespace

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<std::uint8_t>(text[i]);
        const std::size_t n = utf8_length(text, i);
        if (n == 0) {
            append_hex(out, "\\x%02x", c);
            ++i;
            continue;
        }
        if (is_c1(text, i, n)) {
            append_hex(out, "\\u%04x", static_cast<std::uint8_t>(text[i + 1]));
        } else if (n > 1) {
            out.append(text.substr(i, n));
        } else if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == 0x1b) {
            out += "\\e";
        } else if (c < 0x20 || c == 0x7f) {
            append_hex(out, "\\x%02x", c);
        } else {
            out += static_cast<char>(c);
        }
        i += n;
    }
    return out;
}

std::string printable_line(std::string_view text) {
    return printable(text) + '\n';
}

bool is_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t n = utf8_length(text, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

}  // namespace tbbpipe::cli
