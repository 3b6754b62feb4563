#include "session/conversation.hpp"

#include <algorithm>
#include <utility>
#include <unordered_set>

#include <boost/asio/post.hpp>

#include "session/session_registry.hpp"

namespace voxgate::session {

using protocol::Item;
using protocol::ItemType;

std::optional<std::size_t> Conversation::index_of(std::string_view item_id) const {
    for (std::size_t i = 0; i < items_.size(); ++i)
        if (items_[i].id == item_id) return i;
    return std::nullopt;
}

const Item* Conversation::find(std::string_view item_id) const {
    auto index = index_of(item_id);
    return index ? &items_[*index] : nullptr;
}

std::size_t Conversation::insert(Item item, std::optional<std::string_view> previous_item_id) {
    std::size_t index = items_.size();
    if (previous_item_id) {
        if (*previous_item_id == "root") index = 0;
        else if (auto previous = index_of(*previous_item_id)) index = *previous + 1;
    }
    items_.insert(items_.begin() + static_cast<std::ptrdiff_t>(index), std::move(item));
    return index;
}

bool Conversation::erase(std::string_view item_id) {
    auto index = index_of(item_id);
    if (!index) return false;
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(*index));
    return true;
}

std::optional<std::size_t> Conversation::replace(const Item& item) {
    auto index = index_of(item.id);
    if (index) items_[*index] = item;
    return index;
}

void Conversation::cut_text(std::size_t index, std::size_t content_index, std::size_t keep_bytes) {
    std::string& text = items_.at(index).content.at(content_index).text;
    if (keep_bytes < text.size()) text.resize(keep_bytes);
}

bool Conversation::set_transcript(std::string_view item_id, std::string transcript) {
    auto index = index_of(item_id);
    if (!index || items_[*index].content.empty()) return false;
    items_[*index].content.front().text = std::move(transcript);
    return true;
}

std::optional<std::string_view> Conversation::previous_id(std::size_t index) const {
    if (index == 0 || index > items_.size()) return std::nullopt;
    return items_[index - 1].id;
}

std::size_t Conversation::size_chars() const {
    std::size_t total = 0;
    for (const auto& item : items_) total += item.size_chars();
    return total;
}

std::size_t Conversation::stored_bytes() const {
    std::size_t total = settings_bytes;
    for (const auto& item : items_) total += item.stored_bytes();
    return total;
}

std::vector<std::string> Conversation::evict_oldest(std::size_t max_chars, std::size_t max_bytes,
                                                    std::size_t max_items) {
    std::vector<std::string> removed;
    std::size_t chars = size_chars();
    std::size_t bytes = stored_bytes();
    auto over = [&] { return chars > max_chars || bytes > max_bytes || items_.size() > max_items; };
    for (bool system_too : {false, true}) {
        for (std::size_t i = 0; i < items_.size() && over();) {
            const Item& item = items_[i];
            const bool system = item.type == ItemType::message && item.role == protocol::Role::system;
            if ((system && !system_too) || item.status == protocol::ItemStatus::in_progress || i + 1 == items_.size()) {
                ++i;
                continue;
            }
            chars -= item.size_chars();
            bytes -= item.stored_bytes();
            removed.push_back(item.id);
            items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
    return removed;
}

bool expired(const Conversation& conversation, Clock::time_point now, std::chrono::seconds ttl) {
    return !conversation.owner && now - conversation.detached_at >= ttl;
}

Ownership::Ownership(executor_type executor, ConversationOwner& owner, SessionRegistry& registry, SessionId id,
                     bool erase_on_detach, Now now)
    : executor_(std::move(executor)),
      owner_(&owner),
      registry_(registry),
      id_(id),
      now_(now),
      erase_on_detach_(erase_on_detach) {}

void Ownership::mark_ready() {
    if (ready_) return;
    ready_ = true;
    if (released_) {
        // A successor is waiting behind us: the conversation goes straight on to it.
        if (auto forward = std::move(forward_)) forward();
    } else if (abandoned_) {
        detach();
    } else if (owner_) {
        owner_->on_conversation_ready();
    }
}

void Ownership::release(std::function<void()> confirm) {
    if (released_) return;
    released_ = true;
    if (auto* owner = std::exchange(owner_, nullptr)) owner->on_conversation_taken();
    if (ready_) confirm();
    else forward_ = std::move(confirm);
}

void Ownership::abandon() {
    if (abandoned_) return;
    abandoned_ = true;
    owner_ = nullptr;
    if (ready_ && !released_) detach();
    // Not ready: mark_ready() detaches once the predecessor has let go.
}

void Ownership::detach() {
    bool owned = false;
    std::shared_ptr<Ownership> self;  // released outside the registry lock
    registry_.with(id_, [&](Conversation& conversation) {
        if (conversation.owner.get() != this) return;  // taken over meanwhile
        owned = true;
        self = std::move(conversation.owner);
        conversation.detached_at = now_();
    });
    if (owned && erase_on_detach_) registry_.erase(id_);
}

Claim claim_conversation(SessionRegistry& registry, const SessionId& id, const std::shared_ptr<Ownership>& successor,
                         Clock::time_point now, std::chrono::seconds ttl, std::string_view key_name) {
    std::shared_ptr<Ownership> previous;
    bool found = false;
    bool stale = false;
    registry.with(id, [&](Conversation& conversation) {
        if (conversation.key_name != key_name) return;  // another key's: as if it did not exist
        if (expired(conversation, now, ttl)) {
            stale = true;
            return;
        }
        found = true;
        previous = std::exchange(conversation.owner, successor);
        conversation.detached_at = {};
    });
    if (stale) registry.erase(id);  // expired stays expired: nobody can have claimed it since
    if (!found) return {};
    Claim claim{previous ? ClaimOutcome::handover : ClaimOutcome::ready, registry.find(id)};
    if (previous) {
        auto confirm = [successor] {
            asio::post(successor->executor(), [successor] { successor->mark_ready(); });
        };
        asio::post(previous->executor(), [previous, confirm] { previous->release(confirm); });
    }
    return claim;
}

namespace {

upstream::Role chat_role(protocol::Role role) {
    switch (role) {
        case protocol::Role::system: return upstream::Role::system;
        case protocol::Role::assistant: return upstream::Role::assistant;
        case protocol::Role::user: return upstream::Role::user;
    }
    return upstream::Role::user;
}

// Which items fit in max_chars: the oldest non-system items go first, then the oldest
// system ones; the newest item stays whatever its size.
std::vector<bool> items_to_keep(std::span<const Item> items, std::size_t max_chars) {
    std::vector<bool> keep(items.size(), true);
    std::size_t total = 0;
    for (const auto& item : items) total += item.size_chars();
    for (bool system_too : {false, true}) {
        for (std::size_t i = 0; i + 1 < items.size() && total > max_chars; ++i) {
            const bool system = items[i].type == ItemType::message && items[i].role == protocol::Role::system;
            if (!keep[i] || (system && !system_too)) continue;
            keep[i] = false;
            total -= items[i].size_chars();
        }
    }
    return keep;
}

}  // namespace

std::vector<upstream::ChatMessage> chat_history(std::span<const Item> items, std::size_t max_chars) {
    std::vector<bool> keep = items_to_keep(items, max_chars);
    // Pair calls with results among the kept items.
    std::unordered_set<std::string_view> calls, results;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!keep[i]) continue;
        if (items[i].type == ItemType::function_call) calls.insert(items[i].call_id);
        if (items[i].type == ItemType::function_call_output && calls.contains(items[i].call_id))
            results.insert(items[i].call_id);
    }
    std::vector<upstream::ChatMessage> messages;
    // messages.back() is an assistant message made from the item just before: a function
    // call joins it, so text + calls (and parallel calls) of one turn stay one message.
    bool assistant_just_before = false;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!keep[i]) continue;
        const Item& item = items[i];
        const bool joinable = std::exchange(assistant_just_before, false);
        switch (item.type) {
            case ItemType::message: {
                std::string text = item.text();
                if (text.empty()) break;  // e.g. an assistant turn cancelled before its first token
                messages.push_back({chat_role(item.role), std::move(text), {}, {}});
                assistant_just_before = item.role == protocol::Role::assistant;
                break;
            }
            case ItemType::function_call: {
                if (!results.contains(item.call_id)) break;
                if (!joinable) messages.push_back({upstream::Role::assistant, {}, {}, {}});
                messages.back().tool_calls.push_back({item.call_id, item.name, item.arguments});
                assistant_just_before = true;
                break;
            }
            case ItemType::function_call_output:
                if (!results.contains(item.call_id)) break;
                messages.push_back({upstream::Role::tool, item.output, {}, item.call_id});
                break;
        }
    }
    return messages;
}

}  // namespace voxgate::session
