#include "engine/run.hpp"

#include <cassert>
#include <chrono>
#include <thread>

#include "core/no_block.hpp"
#include "core/status_error.hpp"

namespace tbbpipe::engine {
namespace {

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

double seconds_between(std::int64_t from_ns, std::int64_t to_ns) {
    return static_cast<double>(to_ns - from_ns) * 1e-9;
}

// Charges a chunk's buffer growth (first use of a slot) to the memory gauge, so the gauge always
// holds the bytes of the buffers that chunks in flight own.
void recharge(PipelineMetrics& m, Chunk& chunk) {
    const std::size_t now = chunk.buffer_bytes();
    if (now > chunk.charged_bytes) {
        m.memory_bytes.add(static_cast<std::int64_t>(now - chunk.charged_bytes));
        chunk.charged_bytes = now;
    }
}

}  // namespace

Run::Run(ChunkSteps& steps, std::stop_token stop, const PipelineConfig& config, ChunkSlots& slots)
    : steps_(steps),
      stop_(std::move(stop)),
      isolate_(config.isolate_failures),
      slots_(slots),
      m_(config.metrics) {}

void Run::fail(const Status& status) {
    std::lock_guard lock(error_mutex_);
    if (first_error_.is_ok()) first_error_ = status;
    // release pairs with the acquire in should_stop(): a body that sees the flag also sees
    // first_error_ through the mutex if it ever reads it.
    failed_.store(true, std::memory_order_release);
}

bool Run::should_stop() const {
    return failed_.load(std::memory_order_acquire) || cancelled();
}

bool Run::done_issuing() const {
    return exhausted_.load(std::memory_order_acquire) || should_stop();
}

void Run::chunk_failed(Chunk& chunk, const Status& status) {
    chunk.status = status;
    if (!isolate_) fail(status);
}

void Run::lost(const Status& status) {
    lost_.store(true, std::memory_order_release);
    fail(status);
}

void Run::begin_read(ReadResult& r) {
    r.started = true;
    r.start_ns = m_ ? now_ns() : 0;
    if (m_) m_->io_tokens_in_use.add(1);
    read_gauge_.take();
    try {
        bool reused = false;
        r.chunk = slots_.acquire(&reused);
        chunk_gauge_.take();
        if (m_) {
            m_->chunk_tokens_in_use.add(1);
            m_->buffer_acquisitions.add();
            if (reused) m_->buffer_reuse_hits.add();
            r.chunk->charged_bytes = r.chunk->buffer_bytes();
            m_->memory_bytes.add(static_cast<std::int64_t>(r.chunk->charged_bytes));
        }
    } catch (...) {
        fail(status_from_current_exception());
    }
    if (!r.chunk) r.claim_done = r.filled = true;  // nothing to read into
}

// Another arena thread's claim holds the lock for a microsecond or two: worth a short spin, or
// a third of the reads would move to I/O threads for nothing. A claim that keeps it longer
// (an I/O thread's, which may wait on a pipe; a key derivation) is not waited for.
bool Run::try_claim_lock(std::unique_lock<std::mutex>& lock) {
    constexpr int kSpins = 64;
    for (int i = 0; i < kSpins; ++i) {
        if (lock.try_lock()) return true;
        std::this_thread::yield();
    }
    return false;
}

bool Run::claim(ReadResult& r, bool may_block) {
    Chunk* chunk = r.chunk;
    std::unique_lock lock(claim_mutex_, std::defer_lock);
    if (may_block) {
        lock.lock();
    } else if (!try_claim_lock(lock)) {
        return false;  // another claim is running, maybe a slow one: no waiting here
    }
    // relaxed: the only store to exhausted_ is below, under this same mutex.
    if (!exhausted_.load(std::memory_order_relaxed) && !should_stop()) {
        chunk->seq = next_seq_;
        chunk->index = next_seq_;
        try {
            if (may_block) {
                r.claimed = steps_.claim(*chunk);
            } else {
                const NonBlocking scope;
                r.claimed = steps_.claim(*chunk);
            }
        } catch (const WouldBlock&) {
            // Nothing was claimed and no seq spent: the I/O thread claims. Where blocking was
            // allowed WouldBlock is a step's bug, and fails the chunk like any other error.
            if (!may_block) return false;
            r.claimed = true;
            chunk_failed(*chunk, status_from_current_exception());
        } catch (...) {
            // The seq is spent: the chunk travels on, marked failed.
            r.claimed = true;
            chunk_failed(*chunk, status_from_current_exception());
        }
        if (r.claimed) {
            ++next_seq_;
        } else {
            exhausted_.store(true, std::memory_order_release);
        }
    }
    r.claim_done = true;
    if (!r.claimed) r.filled = true;
    return true;
}

bool Run::fill(ReadResult& r, bool may_block) {
    Chunk* chunk = r.chunk;
    if (chunk->status.is_ok()) {
        try {
            if (may_block) {
                steps_.fill(*chunk);
            } else {
                const NonBlocking scope;
                steps_.fill(*chunk);
            }
        } catch (const WouldBlock&) {
            if (!may_block) return false;  // the I/O thread fills it again, from the start
            chunk_failed(*chunk, status_from_current_exception());  // a step's bug: see claim()
        } catch (...) {
            chunk_failed(*chunk, status_from_current_exception());
        }
    }
    r.filled = true;
    return true;
}

void Run::end_read(ReadResult& r) {
    read_gauge_.give();  // before the I/O token goes back, so observed <= budget
    if (m_) {
        m_->io_tokens_in_use.add(-1);
        if (r.chunk) recharge(*m_, *r.chunk);
        if (r.claimed) {
            r.chunk->read_done_ns = now_ns();
            m_->read_seconds.record(seconds_between(r.start_ns, r.chunk->read_done_ns));
            m_->cpu_queue_depth.add(1);
        }
    }
    if (!r.claimed && r.chunk) {
        unclaimed(r.chunk);
        r.chunk = nullptr;
    }
}

bool Run::read_inline(ReadResult& r) {
    if (!steps_.inline_io()) return false;  // all of it on an I/O thread
    begin_read(r);
    if (!r.claim_done && !claim(r, /*may_block=*/false)) return false;
    if (!r.filled && !fill(r, /*may_block=*/false)) return false;
    end_read(r);
    reads_inline_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void Run::abandon_read(ReadResult& r, const Status& why) {
    if (!r.started) begin_read(r);
    if (r.chunk && !r.claim_done) {
        r.claim_done = true;  // never claimed: the chunk goes back below, no seq spent
        r.filled = true;
    }
    if (r.chunk && r.claimed && !r.filled) {
        chunk_failed(*r.chunk, why);  // its seq is spent: it travels on, failed
        r.filled = true;
    }
    if (r.chunk && !r.claimed) fail(why);
    end_read(r);
}

ReadResult Run::read(ReadResult r) {
    if (!r.started) begin_read(r);
    if (!r.claim_done) claim(r, /*may_block=*/true);
    if (!r.filled) fill(r, /*may_block=*/true);
    end_read(r);
    reads_handed_off_.fetch_add(1, std::memory_order_relaxed);
    return r;
}

void Run::unclaimed(Chunk* chunk) {
    if (m_) {
        m_->chunk_tokens_in_use.add(-1);
        m_->memory_bytes.add(-static_cast<std::int64_t>(chunk->charged_bytes));
    }
    slots_.release(chunk);
    chunk_gauge_.give();
}

void Run::transform(Chunk& chunk) {
    const std::int64_t start = m_ ? now_ns() : 0;
    if (m_) {
        m_->cpu_queue_depth.add(-1);
        m_->cpu_tokens_in_use.add(1);
        m_->token_wait_seconds.record(seconds_between(chunk.read_done_ns, start));
    }
    {
        GaugeHold working(transform_gauge_);
        // After a failure or a stop, chunks in flight drain without work so their tokens come
        // back quickly along the normal path.
        if (chunk.status.is_ok() && !chunk.skipped && !should_stop()) {
            try {
                steps_.transform(chunk);
            } catch (...) {
                chunk_failed(chunk, status_from_current_exception());
            }
        }
    }
    if (m_) {
        recharge(*m_, chunk);
        chunk.transformed_ns = now_ns();
        m_->transform_seconds.record(seconds_between(start, chunk.transformed_ns));
        m_->cpu_tokens_in_use.add(-1);
        m_->reorder_queue_depth.add(1);
    }
}

bool Run::write_inline(Chunk* chunk, bool* follow_up) {
    *follow_up = false;
    // acquire: see queued_writes_. Anything queued must go first, and on its thread.
    if (queued_writes_.load(std::memory_order_acquire) != 0) return false;
    if (!steps_.inline_io() || !steps_.write_inline_ok(*chunk)) return false;
    {
        const NonBlocking scope;
        deliver(chunk);
    }
    ++writes_inline_;
    *follow_up = steps_.after_write_pending();
    return true;
}

void Run::after_write() noexcept {
    steps_.after_write();
}

void Run::write(Chunk* chunk) {
    deliver(chunk);
    ++writes_handed_off_;
}

void Run::deliver(Chunk* chunk) {
    // Order is enforced by the sequencer in front of this writer; this checks it.
    assert(chunk->seq == next_delivered_ && "sequencer delivered out of order");
    ++next_delivered_;
    const std::int64_t start = m_ ? now_ns() : 0;
    if (m_) {
        m_->reorder_queue_depth.add(-1);
        m_->queue_wait_seconds.record(seconds_between(chunk->transformed_ns, start));
    }
    if (!should_stop()) {
        if (chunk->status.is_ok() && !chunk->skipped) {
            try {
                steps_.write(*chunk);
                ++written_;
                if (m_) {
                    m_->write_seconds.record(seconds_between(start, now_ns()));
                    m_->chunks.add();
                    m_->input_bytes.add(chunk->input_size);
                    m_->output_bytes.add(chunk->result_size);
                }
            } catch (...) {
                chunk_failed(*chunk, status_from_current_exception());
            }
        }
        if ((!chunk->status.is_ok() || chunk->skipped) && isolate_) {
            steps_.fail(*chunk);
            ++failed_chunks_;
        }
    }
    if (m_) {
        m_->chunk_tokens_in_use.add(-1);
        m_->memory_bytes.add(-static_cast<std::int64_t>(chunk->charged_bytes));
    }
    slots_.release(chunk);
    chunk_gauge_.give();
}

RunReport Run::report(const RunReport& budgets) {
    RunReport report = budgets;
    report.chunks_issued = next_seq_;
    report.chunks_delivered = next_delivered_;
    report.chunks_written = written_;
    report.chunks_failed = failed_chunks_;
    report.reads_inline = reads_inline_.load(std::memory_order_relaxed);
    report.reads_handed_off = reads_handed_off_.load(std::memory_order_relaxed);
    report.writes_inline = writes_inline_;
    report.writes_handed_off = writes_handed_off_;
    report.max_chunks_in_flight = chunk_gauge_.max_held();
    report.max_reads_in_flight = read_gauge_.max_held();
    report.max_transforms_in_flight = transform_gauge_.max_held();
    report.tokens_outstanding = chunk_gauge_.held() + read_gauge_.held() + transform_gauge_.held();
    if (lost_.load(std::memory_order_acquire)) {
        slots_.reclaim_all();  // no message outlives the graph: every slot is ours again
        if (m_) {
            // The chunks dropped with the graph never reached the paths that lower these gauges.
            // Back to rest (this assumes one run at a time per metrics registry, as the job
            // runner does).
            for (Gauge* g :
                 {&m_->cpu_tokens_in_use, &m_->io_tokens_in_use, &m_->chunk_tokens_in_use,
                  &m_->cpu_queue_depth, &m_->reorder_queue_depth, &m_->memory_bytes}) {
                g->set(0);
            }
        }
    }
    {
        std::lock_guard lock(error_mutex_);
        report.status = first_error_;
    }
    if (report.status.is_ok() && cancelled()) {
        report.status = {StatusCode::kCancelled, "interrupted"};
    }
    // wait_for_all() returns normally even when a sequence gap stalled the sequencer: compare.
    if (report.status.is_ok() && report.chunks_delivered != report.chunks_issued) {
        report.status = {StatusCode::kInternal, "sequencer gap: chunks issued and written differ"};
    }
    if (report.status.is_ok() && report.tokens_outstanding != 0) {
        report.status = {StatusCode::kInternal, "tokens not returned after the run"};
    }
    // The graph went idle with work left: a token was lost somewhere. Never report that as done.
    if (report.status.is_ok() && !exhausted_.load(std::memory_order_acquire)) {
        report.status = {StatusCode::kInternal, "the graph stopped before the source was done"};
    }
    return report;
}

}  // namespace tbbpipe::engine
