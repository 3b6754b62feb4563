#pragma once
// Frames a connection is given while one event is handled leave together: one write per
// connection per event instead of one per frame.
//
// An event source that may produce several frames at once (a curl read that carries
// several SSE events, the end of a response, a client event answered with four events)
// holds a WriteBatch::Scope while it runs. A connection that is handed a frame while a
// scope is open joins the batch instead of writing at once, and is flushed when the
// outermost scope on this thread closes, before control returns to the event loop, so no
// latency is added. Outside any scope a frame is written at once, as before.
//
// Each shard thread has its own batch (thread_local): connections and event sources of
// one shard only ever meet on that shard's thread.
#include <memory>
#include <vector>

namespace voxgate {

class WriteBatch {
public:
    // A connection that can defer its writes to the end of the batch.
    class Writer {
    public:
        // Writes what was queued while the batch was open. Must not throw.
        virtual void flush_batch() noexcept = 0;

    protected:
        ~Writer() = default;
    };

    class Scope {
    public:
        Scope() noexcept { ++state().depth; }
        ~Scope() {
            auto& batch = state();
            if (--batch.depth > 0) return;
            // A flush only starts writes, but keep the scope semantics if one joins anyway.
            ++batch.depth;
            while (!batch.joined.empty()) {
                batch.flushing.swap(batch.joined);
                for (auto& writer : batch.flushing) writer->flush_batch();
                batch.flushing.clear();  // keeps its capacity: no allocation per event
            }
            --batch.depth;
        }
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;
    };

    // True while a scope is open on this thread.
    static bool open() noexcept { return state().depth > 0; }

    // Only while open(); the writer is flushed once, however many times it joins (callers
    // keep a flag so they join once per batch).
    static void join(std::shared_ptr<Writer> writer) { state().joined.push_back(std::move(writer)); }

private:
    struct State {
        int depth = 0;
        std::vector<std::shared_ptr<Writer>> joined;
        std::vector<std::shared_ptr<Writer>> flushing;
    };
    static State& state() noexcept {
        thread_local State batch;
        return batch;
    }
};

}  // namespace voxgate
