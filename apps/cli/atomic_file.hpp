// Small files written whole and renamed into place (the metrics textfile): a reader sees the old
// contents or the new, never a mix.
#pragma once

#include <string>

namespace tbbpipe::cli {

/// Writes `text` to a temporary file beside `path` (mode 0644) and renames it over `path`.
/// Throws std::runtime_error saying what failed; leaves no temporary file behind.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace tbbpipe::cli
