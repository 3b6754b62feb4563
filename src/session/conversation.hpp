#pragma once
// Conversation: the state of one realtime session that outlives its connection
// (docs/design.md, "Sessions"): settings, model and item history. It lives in the
// SessionRegistry so a client that reconnects with ?session_id= within
// sessions.resume_ttl gets it back.
//
// Who may touch what
// ------------------
// - `owner` and `detached_at` are guarded by the registry shard lock: read and written only
//   inside SessionRegistry::with() or an erase_if predicate.
// - Everything else belongs to the connection that owns the conversation and is touched
//   only on that connection's shard thread, and only while its Ownership is ready().
//
// Hand-over (resume, takeover)
// ----------------------------
// A connection owns a conversation through an Ownership record. To resume, the new
// connection B swaps its record into `owner` under the registry lock (claim_conversation):
//   - nobody owned it (detached): B is ready at once. The previous owner's writes happened
//     before it detached under the same lock, so B sees them.
//   - connection A still owns it (possibly on another shard): B is not ready yet. B posts to
//     A's executor: A cancels its response (its partial text goes into the history), gets an
//     `error` (session_taken_over) and is closed with 4000; only then A posts back to B's
//     executor and B becomes ready. The post chain orders A's last write before B's first
//     read, so no lock is needed for the history itself.
//   - if A was itself still waiting for its predecessor, A forwards B's confirmation only
//     once its own has arrived: the chain keeps its order whatever the timing.
// A connection that goes away detaches: under the lock, if it is still the owner, `owner`
// is cleared and `detached_at` set; the server's periodic sweep erases conversations
// detached for longer than the TTL (registry.erase_if with `expired`). With resume_ttl 0
// resume and takeover are off and the conversation is erased at once.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/items.hpp"
#include "protocol/session_settings.hpp"
#include "session/session_id.hpp"
#include "upstream/chat.hpp"
#include "voxgate/net.hpp"

namespace voxgate::session {

class SessionRegistry;
class Ownership;

using Clock = std::chrono::steady_clock;

struct Conversation {
    SessionId id;                 // the resume credential: never echoed except in session.created
    std::string conversation_id;  // "conv_" + independent random hex, echoed in every response
    Clock::time_point created_at = Clock::now();
    // The client key it was created under ("" with auth.mode none); set before it enters
    // the registry and never changed, so it is readable under the registry lock. Only a
    // connection with the same key may resume or take it over.
    std::string key_name;

    // Owned by the owning connection's thread.
    std::string model;  // client-visible model name; routes pick the provider
    // Shared with every session that did not change its settings (copy on update).
    std::shared_ptr<const protocol::SessionSettings> settings;
    std::size_t settings_bytes = 0;  // protocol::stored_bytes(*settings), kept when settings change

    // Guarded by the registry lock.
    Clock::time_point detached_at{};  // when the last connection left; meaningful while owner is null
    std::shared_ptr<Ownership> owner;

    // The default conversation, in order. Every change goes through the edits below, so a
    // state change has one place (where a persistent store would hook in).
    const std::vector<protocol::Item>& items() const { return items_; }
    std::optional<std::size_t> index_of(std::string_view item_id) const;
    const protocol::Item* find(std::string_view item_id) const;

    // Item edits. insert: at the end, or right after `previous_item_id` ("root": first;
    // the caller checked that it exists); returns the new item's index.
    std::size_t insert(protocol::Item item, std::optional<std::string_view> previous_item_id = std::nullopt);
    bool erase(std::string_view item_id);  // false: no such item
    // The stored item with item.id becomes `item` (an output item finished streaming);
    // nullopt when it is gone (evicted meanwhile).
    std::optional<std::size_t> replace(const protocol::Item& item);
    // Keeps the first `keep_bytes` of content part `content_index`'s text (truncate).
    void cut_text(std::size_t index, std::size_t content_index, std::size_t keep_bytes);
    // The transcript of a spoken user turn (content 0 of an input_audio item); false if the item is gone.
    bool set_transcript(std::string_view item_id, std::string transcript);

    // The id of the item before items[index]; nullopt if it is the first.
    std::optional<std::string_view> previous_id(std::size_t index) const;
    std::size_t size_chars() const;
    // Everything stored, for limits.max_conversation_bytes: the items' stored_bytes() plus
    // the settings' bytes.
    std::size_t stored_bytes() const;
    // Drops the oldest items, non-system first, never one still streaming (in_progress) nor
    // the last one, until the history holds at most max_items items, max_chars characters
    // and stored_bytes() <= max_bytes. Returns the ids removed.
    std::vector<std::string> evict_oldest(std::size_t max_chars, std::size_t max_bytes, std::size_t max_items);

private:
    std::vector<protocol::Item> items_;
};

// The predicate for the server's TTL sweep: registry.erase_if([&](const Conversation& c) {
// return expired(c, now, ttl); }). Call only under the registry lock (erase_if does).
bool expired(const Conversation& conversation, Clock::time_point now, std::chrono::seconds ttl);

// Implemented by the connection that owns a conversation; called on its shard thread.
class ConversationOwner {
public:
    virtual void on_conversation_ready() = 0;  // the conversation is yours to touch now
    virtual void on_conversation_taken() = 0;  // a newer connection took over: stop touching it and close

protected:
    ~ConversationOwner() = default;
};

// One connection's ownership of one conversation. Shared between the connection, the
// registry record and the hand-over tasks in flight, so it outlives the connection when
// a hand-over still needs it. Every member function runs on executor()'s thread.
class Ownership {
public:
    using Now = Clock::time_point (*)();
    Ownership(executor_type executor, ConversationOwner& owner, SessionRegistry& registry, SessionId id,
              bool erase_on_detach, Now now = &Clock::now);

    executor_type executor() const { return executor_; }  // immutable: readable from any thread
    bool ready() const { return ready_; }

    // The predecessor let go (or there was none): tells the owner, or, if the owner has
    // already gone, passes the conversation on (to a successor, or back to the registry).
    void mark_ready();
    // A successor took over: the owner stops, then `confirm` runs once we are ready.
    void release(std::function<void()> confirm);
    // The owner goes away (connection closed). Detaches now if ready, else when ready.
    void abandon();

private:
    void detach();

    executor_type executor_;
    ConversationOwner* owner_;  // null once abandoned or released
    SessionRegistry& registry_;
    SessionId id_;
    std::function<void()> forward_;  // a successor's confirmation, held until we are ready
    Now now_;                        // stamps detached_at (the same clock the TTL check uses)
    bool erase_on_detach_;
    bool ready_ = false;
    bool released_ = false;
    bool abandoned_ = false;
};

enum class ClaimOutcome : std::uint8_t { not_found, ready, handover };

struct Claim {
    ClaimOutcome outcome = ClaimOutcome::not_found;
    std::shared_ptr<Conversation> conversation;
};

// Makes `successor` the owner of conversation `id` if it exists, has not expired at `now`
// and was created under `key_name` (another key's conversation is not_found, exactly as
// an unknown id, and is left untouched). On `ready` the caller calls successor->mark_ready() itself; on `handover` the
// previous owner is asked to let go and successor->mark_ready() runs on successor's
// executor when it has. An expired conversation is erased and reported not_found.
Claim claim_conversation(SessionRegistry& registry, const SessionId& id, const std::shared_ptr<Ownership>& successor,
                         Clock::time_point now, std::chrono::seconds ttl, std::string_view key_name = {});

// The history as a provider sees it: system/user/assistant messages, function calls as
// assistant tool_calls (consecutive calls in one message), outputs as tool messages.
// Trimmed to max_chars by dropping the oldest non-system items first (then the oldest
// system items); the newest item is always kept. Tool results whose call was dropped,
// and calls that got no result, are left out: providers reject both.
std::vector<upstream::ChatMessage> chat_history(std::span<const protocol::Item> items, std::size_t max_chars);

}  // namespace voxgate::session
