// Pack from a socket-like std::istream (bytes arrive in small pieces, with pauses) into a
// container held in memory, then unpack it through another stream and check the round trip.
#include <tbbpipe/tbbpipe.hpp>

#include <chrono>
#include <iostream>
#include <sstream>
#include <streambuf>
#include <string>
#include <thread>

namespace {

// A stream buffer that hands out at most 1500 bytes per read, pausing now and then, as a
// network socket would.
class TrickleBuffer : public std::streambuf {
public:
    explicit TrickleBuffer(std::string data) : data_(std::move(data)) {}

protected:
    int_type underflow() override {
        if (pos_ >= data_.size()) return traits_type::eof();
        if (++reads_ % 64 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        const std::size_t n = std::min<std::size_t>(1500, data_.size() - pos_);
        char* begin = data_.data() + pos_;
        setg(begin, begin, begin + n);
        pos_ += n;
        return traits_type::to_int_type(*begin);
    }

private:
    std::string data_;
    std::size_t pos_ = 0;
    int reads_ = 0;
};

}  // namespace

int main() {
    std::string message;
    for (int i = 0; i < 100000; ++i) message += "line " + std::to_string(i) + " of a log\n";

    TrickleBuffer socket_like(message);
    std::istream in(&socket_like);
    std::ostringstream container;
    const tbbpipe::Secret key = tbbpipe::Secret::passphrase("correct horse battery staple");
    const auto packed = tbbpipe::pack_stream(in, container, {}, key);
    if (!packed.ok()) {
        std::cerr << "pack: " << packed.status().message() << '\n';
        return 1;
    }
    std::istringstream back_in(container.str());
    std::ostringstream restored;
    const auto unpacked = tbbpipe::unpack_stream(back_in, restored, key);
    if (!unpacked.ok()) {
        std::cerr << "unpack: " << unpacked.status().message() << '\n';
        return 1;
    }
    std::cout << message.size() << " bytes -> " << packed.value() << " byte container -> "
              << restored.str().size() << " bytes\n";
    return restored.str() == message ? 0 : 1;
}
