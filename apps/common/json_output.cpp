#include "common/json_output.hpp"

#include "common/text_escape.hpp"

namespace tbbpipe::cli {

std::string json_text(const Json& document) {
    return document.dump(-1, ' ', /*ensure_ascii=*/true, Json::error_handler_t::replace);
}

void put_name(Json& object, const std::string& key, std::string_view name) {
    object[key] = std::string(name);
    if (is_utf8(name)) return;
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(name.size() * 2);
    for (const char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        hex += kDigits[byte >> 4];
        hex += kDigits[byte & 0xf];
    }
    object[key + "_hex"] = std::move(hex);
}

}  // namespace tbbpipe::cli
