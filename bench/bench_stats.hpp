#pragma once
// Summary statistics shared by the benchmarks: medians and percentiles of per-run figures.
#include <algorithm>
#include <cstddef>
#include <vector>

namespace voxgate::bench {

// Nearest-rank quantile (q in [0, 1]) of unsorted samples; 0 when there are none.
inline double quantile(std::vector<double> values, double q) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto index = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(index, values.size() - 1)];
}

inline double median(std::vector<double> values) { return quantile(std::move(values), 0.5); }

}  // namespace voxgate::bench
