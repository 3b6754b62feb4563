#pragma once
// Summary statistics shared by the benchmarks: medians and percentiles of per-run figures.
#include <algorithm>
#include <cstddef>
#include <vector>

namespace voxgate::bench {

// Nearest-rank quantile (q in [0, 1]) of samples already sorted; 0 when there are none.
// For many quantiles of one large series: sort once, then call this per quantile.
template <class T>
double quantile_of_sorted(const std::vector<T>& sorted, double q) {
    if (sorted.empty()) return 0;
    const auto index = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
    return static_cast<double>(sorted[std::min(index, sorted.size() - 1)]);
}

// Nearest-rank quantile (q in [0, 1]) of unsorted samples; 0 when there are none.
inline double quantile(std::vector<double> values, double q) {
    std::sort(values.begin(), values.end());
    return quantile_of_sorted(values, q);
}

inline double median(std::vector<double> values) { return quantile(std::move(values), 0.5); }

}  // namespace voxgate::bench
