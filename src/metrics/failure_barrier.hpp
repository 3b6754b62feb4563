#pragma once
// The exception barrier (docs/design.md, "Failure containment"): every entry from the event
// loop (I/O completion, timer, post, curl callback) runs its body through run_contained,
// so an exception - std::bad_alloc included - ends only the connection, session or
// transfer it happened in. It is logged with that thing's id, counted in
// voxgate_internal_errors_total (a per-shard Counter summed at scrape) and the shard
// keeps serving. It lives beside the counter so every layer can use it.
#include <string>
#include <string_view>
#include <utility>

#include "metrics/shard_metrics.hpp"

namespace voxgate::metrics {

// Logs the exception being handled (call from a catch block) with `where` and `id`, and
// counts it when `internal_errors` is set. Only valid inside a catch block. Never throws,
// even when logging cannot allocate.
void report_internal_error(Counter* internal_errors, std::string_view where, std::string_view id) noexcept;

// Runs `body()`. If it throws, reports the exception (`describe()` names the connection or
// session, and is called only then) and runs `contain()` to end only what failed; a throw
// from `contain()` is logged too and goes no further. Returns false if `body` threw.
template <class Describe, class Body, class Contain>
bool run_contained(Counter* internal_errors, std::string_view where, Describe&& describe, Body&& body,
                   Contain&& contain) noexcept {
    try {
        std::forward<Body>(body)();
        return true;
    } catch (...) {
        std::string id;
        try {
            id = describe();
        } catch (...) {
        }
        report_internal_error(internal_errors, where, id);
    }
    try {
        std::forward<Contain>(contain)();
    } catch (...) {
        report_internal_error(nullptr, "containing an internal error", {});
    }
    return false;
}

}  // namespace voxgate::metrics
