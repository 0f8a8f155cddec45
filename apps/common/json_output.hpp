// JSON for programs: the CLI's --json documents and the lab's results.json, built with
// nlohmann::json (Debian's nlohmann-json3-dev) and written by one rule for every string.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace tbbpipe::cli {

/// Keys keep the order they were added in, so documents read in the order docs/JSON.md lists.
using Json = nlohmann::ordered_json;

/// One line of pure ASCII JSON: every non-ASCII character is a \u escape (a hostile name cannot
/// reach a terminal as a control sequence) and a byte that is not valid UTF-8 becomes U+FFFD, so
/// the document is valid for any input. Exact bytes go beside it: see put_name().
std::string json_text(const Json& document);

/// object[key] = name, and when name is not valid UTF-8 also object[key + "_hex"] = its exact
/// bytes as lower-case hex (the rule docs/JSON.md states for every field holding a file name).
void put_name(Json& object, const std::string& key, std::string_view name);

}  // namespace tbbpipe::cli
