#include "metrics/failure_barrier.hpp"

#include <exception>
#include <new>

#include <spdlog/spdlog.h>

namespace voxgate::metrics {

void report_internal_error(Counter* internal_errors, std::string_view where, std::string_view id) noexcept {
    if (internal_errors) internal_errors->inc();
    try {
        try {
            throw;
        } catch (const std::bad_alloc&) {
            spdlog::error("internal error in {} [{}]: out of memory", where, id);
        } catch (const std::exception& e) {
            spdlog::error("internal error in {} [{}]: {}", where, id, e.what());
        } catch (...) {
            spdlog::error("internal error in {} [{}]: unknown exception", where, id);
        }
    } catch (...) {
        // Logging itself failed (out of memory): the counter still says it happened.
    }
}

}  // namespace voxgate::metrics
