// Comm: the few MPI operations a distributed run needs, over MPI_COMM_WORLD, all from the main
// thread (MPI_THREAD_FUNNELED). Every wait polls with a short sleep instead of MPI's blocking
// calls: Open MPI's blocking calls spin a core, and the engine's threads need every core.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <vector>

namespace tbbpipe::mpi {

using Bytes = std::vector<std::uint8_t>;

/// Message tags of the work-sharing protocol (distributed_run.cpp).
enum Tag : int {
    kTagWant = 1,   ///< worker -> rank 0: results of a finished batch, and whether it wants more
    kTagBatch = 2,  ///< rank 0 -> worker: the next batch (empty: no more work)
};

struct Message {
    int source = 0;
    Bytes data;
};

/// What this rank spent on coordination, for the per-rank table.
struct CommStats {
    std::uint64_t messages_sent = 0;
    std::uint64_t bytes_sent = 0;
    double wait_seconds = 0;  ///< waiting in receives and collectives
};

/// Thread-safety: the main thread only.
class Comm {
public:
    Comm();
    int rank() const { return rank_; }
    int size() const { return size_; }
    bool root() const { return rank_ == 0; }

    /// Sends without waiting for the receiver: the message is kept until MPI is done with it
    /// (progress() checks, flush() waits). A blocking send could deadlock two ranks that send
    /// to each other at once: a message above MPI's eager limit completes only when received.
    void send(int dest, int tag, Bytes data);
    /// Lets go of the sends MPI has finished with.
    void progress();
    /// Waits until every send is finished (before a phase ends).
    void flush();
    /// A message with `tag` from anyone, if one is there now.
    std::optional<Message> try_receive(int tag, int source = MPI_ANY_SOURCE);
    /// Waits (polling) for a message with `tag` from `source`.
    Message receive(int source, int tag);

    /// Collectives: every rank calls them in the same order.
    Bytes broadcast(const Bytes& data);             ///< rank 0's bytes, on every rank
    std::uint64_t exscan_sum(std::uint64_t value);  ///< sum over lower ranks (0 on rank 0)
    std::uint64_t all_sum(std::uint64_t value);
    int all_max(int value);
    /// Every rank's bytes, in rank order, on rank 0 (empty elsewhere).
    std::vector<Bytes> gather(const Bytes& data);
    void barrier();

    const CommStats& stats() const { return stats_; }

private:
    void wait(MPI_Request& request);

    struct Outgoing {
        Bytes data;
        MPI_Request request;
    };
    std::list<Outgoing> outgoing_;  // node-stable: MPI holds each buffer until it is done
    int rank_ = 0;
    int size_ = 1;
    CommStats stats_;
};

/// Byte encoding for messages: little-endian integers, length-prefixed strings.
class Writer {
public:
    void u8(std::uint8_t v) { out_.push_back(v); }
    void u64(std::uint64_t v);
    void f64(double v);
    void str(const std::string& s);
    void raw(const std::uint8_t* data, std::size_t n) { out_.insert(out_.end(), data, data + n); }
    void bytes(const Bytes& b);
    Bytes take() { return std::move(out_); }

private:
    Bytes out_;
};

/// Throws std::runtime_error on a message shorter than it says (a bug: ranks run one program).
class Reader {
public:
    explicit Reader(const Bytes& in) : in_(in) {}
    std::uint8_t u8();
    std::uint64_t u64();
    double f64();
    std::string str();
    void raw(std::uint8_t* data, std::size_t n);
    Bytes bytes();
    bool done() const { return at_ == in_.size(); }

private:
    void need(std::size_t n) const;
    const Bytes& in_;
    std::size_t at_ = 0;
};

}  // namespace tbbpipe::mpi
