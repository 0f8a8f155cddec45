// Version (tbbpipe/version.hpp).
#include "tbbpipe/version.hpp"

#include <cryptopp/config_ver.h>
#include <lz4.h>
#include <oneapi/tbb/version.h>

#include "format/header.hpp"

namespace tbbpipe {

const char* version() {
    return TBBPIPE_VERSION;
}

int format_version() {
    return format::kFormatVersion;
}

std::string version_details() {
    return std::string("tbbpipe ") + version() + " (container format v" +
           std::to_string(format_version()) + "; oneTBB " + std::to_string(TBB_VERSION_MAJOR) +
           "." + std::to_string(TBB_VERSION_MINOR) + ", lz4 " + LZ4_versionString() +
           ", Crypto++ " + std::to_string(CRYPTOPP_MAJOR) + "." + std::to_string(CRYPTOPP_MINOR) +
           ")";
}

}  // namespace tbbpipe
