#pragma once
// Turns every shard's ShardMetrics plus process figures into Prometheus text format
// (prometheus-cpp's data model and TextSerializer), for the /metrics handler.
// Called from any shard thread; it only reads relaxed atomics and /proc.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "metrics/shard_metrics.hpp"

namespace voxgate::metrics {

class Collector {
public:
    // `speech_services`: the speech services that call an HTTP upstream (kind openai); they
    // join the providers in the upstream families under their service's label.
    Collector(std::vector<const ShardMetrics*> shards, std::vector<std::string> provider_names,
              std::function<std::size_t()> sessions_active, std::vector<SpeechService> speech_services = {});

    std::vector<prometheus::MetricFamily> collect() const;
    std::string scrape() const;  // text/plain; version=0.0.4

private:
    // One provider label of the upstream families: an LLM provider (index in
    // ShardMetrics::providers) or a speech service.
    struct UpstreamRow {
        std::string label;
        std::size_t provider = 0;
        std::optional<SpeechService> speech;
        const ProviderMetrics* of(const ShardMetrics& shard) const;
    };

    void collect_provider_resilience(std::vector<prometheus::MetricFamily>& out) const;
    std::vector<const ShardMetrics*> shards_;
    std::vector<UpstreamRow> upstreams_;
    std::function<std::size_t()> sessions_active_;
};

// process_* metrics of the Prometheus client conventions, read from /proc/self.
void collect_process_metrics(std::vector<prometheus::MetricFamily>& out);

}  // namespace voxgate::metrics
