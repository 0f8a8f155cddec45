// The library's version and what it was built with.
#pragma once

#include <string>

namespace tbbpipe {

/// "0.1.0".
const char* version();
/// The container format version this library writes (it reads every earlier one too).
int format_version();
/// One line: the version, the format, and the versions of oneTBB, lz4 and Crypto++ inside.
std::string version_details();

}  // namespace tbbpipe
