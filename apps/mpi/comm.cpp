#include "comm.hpp"

#include <chrono>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <thread>

namespace tbbpipe::mpi {
namespace {

using Clock = std::chrono::steady_clock;

// Between polls: short against a batch (tens of milliseconds of work), long enough that a
// waiting rank costs no measurable CPU.
constexpr auto kPollSleep = std::chrono::microseconds(200);

int count_of(std::size_t n) {
    if (n > static_cast<std::size_t>(INT32_MAX)) throw std::runtime_error("message too large");
    return static_cast<int>(n);
}

}  // namespace

Comm::Comm() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

void Comm::wait(MPI_Request& request) {
    const auto start = Clock::now();
    int done = 0;
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    while (!done) {
        std::this_thread::sleep_for(kPollSleep);
        MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    }
    stats_.wait_seconds += std::chrono::duration<double>(Clock::now() - start).count();
}

void Comm::send(int dest, int tag, Bytes data) {
    ++stats_.messages_sent;
    stats_.bytes_sent += data.size();
    Outgoing& out = outgoing_.emplace_back();
    out.data = std::move(data);
    MPI_Isend(out.data.data(), count_of(out.data.size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD,
              &out.request);
    progress();
}

void Comm::progress() {
    for (auto it = outgoing_.begin(); it != outgoing_.end();) {
        int done = 0;
        MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
        it = done ? outgoing_.erase(it) : std::next(it);
    }
}

void Comm::flush() {
    while (!outgoing_.empty()) {
        wait(outgoing_.front().request);
        outgoing_.pop_front();
    }
}

std::optional<Message> Comm::try_receive(int tag, int source) {
    progress();
    int flag = 0;
    MPI_Status status;
    MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, &status);
    if (!flag) return std::nullopt;
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    Message m;
    m.source = status.MPI_SOURCE;
    m.data.resize(static_cast<std::size_t>(count));
    // The probed message is there: this receive returns at once.
    MPI_Recv(m.data.data(), count, MPI_BYTE, m.source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return m;
}

Message Comm::receive(int source, int tag) {
    const auto start = Clock::now();
    std::optional<Message> m;
    while (!(m = try_receive(tag, source))) std::this_thread::sleep_for(kPollSleep);
    stats_.wait_seconds += std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(*m);
}

Bytes Comm::broadcast(const Bytes& data) {
    std::uint64_t size = data.size();
    MPI_Request request;
    MPI_Ibcast(&size, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD, &request);
    wait(request);
    Bytes out = root() ? data : Bytes(static_cast<std::size_t>(size));
    MPI_Ibcast(out.data(), count_of(out.size()), MPI_BYTE, 0, MPI_COMM_WORLD, &request);
    wait(request);
    return out;
}

std::uint64_t Comm::exscan_sum(std::uint64_t value) {
    std::uint64_t out = 0;
    MPI_Request request;
    MPI_Iexscan(&value, &out, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD, &request);
    wait(request);
    return root() ? 0 : out;  // MPI leaves rank 0's result undefined
}

std::uint64_t Comm::all_sum(std::uint64_t value) {
    std::uint64_t out = 0;
    MPI_Request request;
    MPI_Iallreduce(&value, &out, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD, &request);
    wait(request);
    return out;
}

int Comm::all_max(int value) {
    int out = 0;
    MPI_Request request;
    MPI_Iallreduce(&value, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &request);
    wait(request);
    return out;
}

std::vector<Bytes> Comm::gather(const Bytes& data) {
    const int mine = count_of(data.size());
    std::vector<int> counts(root() ? static_cast<std::size_t>(size_) : 0);
    MPI_Request request;
    MPI_Igather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD, &request);
    wait(request);
    std::vector<int> displs(counts.size());
    std::size_t total = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        displs[i] = count_of(total);
        total += static_cast<std::size_t>(counts[i]);
    }
    Bytes all(total);
    MPI_Igatherv(data.data(), mine, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, 0,
                 MPI_COMM_WORLD, &request);
    wait(request);
    std::vector<Bytes> out;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        const auto* at = all.data() + displs[i];
        out.emplace_back(at, at + counts[i]);
    }
    return out;
}

void Comm::barrier() {
    MPI_Request request;
    MPI_Ibarrier(MPI_COMM_WORLD, &request);
    wait(request);
}

void Writer::u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void Writer::f64(double v) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    u64(bits);
}

void Writer::str(const std::string& s) {
    u64(s.size());
    raw(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

void Writer::bytes(const Bytes& b) {
    u64(b.size());
    raw(b.data(), b.size());
}

void Reader::need(std::size_t n) const {
    if (in_.size() - at_ < n) throw std::runtime_error("malformed message between ranks");
}

std::uint8_t Reader::u8() {
    need(1);
    return in_[at_++];
}

std::uint64_t Reader::u64() {
    need(8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(in_[at_++]) << (8 * i);
    return v;
}

double Reader::f64() {
    const std::uint64_t bits = u64();
    double v = 0;
    std::memcpy(&v, &bits, sizeof v);
    return v;
}

std::string Reader::str() {
    const std::uint64_t n = u64();
    need(n);
    std::string s(reinterpret_cast<const char*>(in_.data() + at_), static_cast<std::size_t>(n));
    at_ += static_cast<std::size_t>(n);
    return s;
}

void Reader::raw(std::uint8_t* data, std::size_t n) {
    need(n);
    std::memcpy(data, in_.data() + at_, n);
    at_ += n;
}

Bytes Reader::bytes() {
    const std::uint64_t n = u64();
    need(n);
    Bytes b(in_.begin() + static_cast<std::ptrdiff_t>(at_),
            in_.begin() + static_cast<std::ptrdiff_t>(at_ + n));
    at_ += static_cast<std::size_t>(n);
    return b;
}

}  // namespace tbbpipe::mpi
