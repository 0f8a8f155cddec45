// Names as programs show them: a file name is any byte string, and a hostile one (escape
// sequences, a newline, C1 codes, invalid UTF-8) must neither drive the terminal nor forge a
// line of output, nor break the JSON around it.
#pragma once

#include <string>
#include <string_view>

namespace tbbpipe::cli {

/// For a terminal or a log: valid UTF-8 passes unchanged except the control characters, which
/// become escapes: \n \r \t \e and \\ for a backslash, \xNN for any other C0 byte, DEL and each
/// byte of invalid UTF-8, \u0080..\u009f for the C1 controls. Printable text is unchanged.
std::string printable(std::string_view text);

/// The same for a whole line of output: its content escaped, then one newline.
std::string printable_line(std::string_view text);

/// The text is valid UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool is_utf8(std::string_view text);

}  // namespace tbbpipe::cli
