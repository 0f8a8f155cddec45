#include "common/json_writer.hpp"

#include "common/text_escape.hpp"

#include <cmath>
#include <cstdio>

namespace tbbpipe::cli {

void JsonWriter::separate() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!first_.empty()) {
        if (!first_.back()) out_ += ',';
        first_.back() = false;
    }
}

JsonWriter& JsonWriter::begin_object() {
    separate();
    out_ += '{';
    first_.push_back(true);
    return *this;
}
JsonWriter& JsonWriter::end_object() {
    out_ += '}';
    first_.pop_back();
    return *this;
}
JsonWriter& JsonWriter::begin_array() {
    separate();
    out_ += '[';
    first_.push_back(true);
    return *this;
}
JsonWriter& JsonWriter::end_array() {
    out_ += ']';
    first_.pop_back();
    return *this;
}
JsonWriter& JsonWriter::key(const std::string& name) {
    separate();
    out_ += '"' + json_escape(name) + "\":";
    after_key_ = true;
    return *this;
}
JsonWriter& JsonWriter::value(const std::string& text) {
    separate();
    out_ += '"' + json_escape(text) + '"';
    return *this;
}
JsonWriter& JsonWriter::value(std::uint64_t number) {
    separate();
    out_ += std::to_string(number);
    return *this;
}
JsonWriter& JsonWriter::value(std::int64_t number) {
    separate();
    out_ += std::to_string(number);
    return *this;
}
JsonWriter& JsonWriter::value(double number) {
    separate();
    if (!std::isfinite(number)) {
        out_ += "null";
        return *this;
    }
    char buf[40];
    if (number == std::floor(number) && std::fabs(number) < 9007199254740992.0) {
        std::snprintf(buf, sizeof buf, "%.0f", number);  // counts and byte totals stay exact
    } else {
        std::snprintf(buf, sizeof buf, "%.10g", number);
    }
    out_ += buf;
    return *this;
}
JsonWriter& JsonWriter::value(bool flag) {
    separate();
    out_ += flag ? "true" : "false";
    return *this;
}
JsonWriter& JsonWriter::null() {
    separate();
    out_ += "null";
    return *this;
}

}  // namespace tbbpipe::cli
