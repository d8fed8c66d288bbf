#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include <eventstore/prometheus.hpp>

namespace eventstore::prometheus {

namespace {

enum class Type { counter, gauge, histogram };

std::string_view type_name(Type type) {
    switch (type) {
    case Type::counter:
        return "counter";
    case Type::gauge:
        return "gauge";
    case Type::histogram:
        return "histogram";
    }
    return "untyped";
}

// What each metric the store reports means (docs/observability.md); others get a generic line.
std::string_view help_of(std::string_view metric) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 48> known{{
        {"eventstore_query_method_calls_total", "Queries started."},
        {"eventstore_append_method_calls_total", "Appends of at least one event started."},
        {"eventstore_query_stream_method_calls_total", "Streamed queries started."},
        {"eventstore_import_method_calls_total", "Imports started."},
        {"eventstore_migrate_method_calls_total", "migrate() calls started."},
        {"eventstore_query_method_duration_seconds", "Time of a query, from call to return."},
        {"eventstore_append_method_duration_seconds", "Time of an append, from call to return (not conflicts)."},
        {"eventstore_query_stream_method_duration_seconds", "Time of a streamed query, callbacks included."},
        {"eventstore_import_method_duration_seconds", "Time of an import, from call to return."},
        {"eventstore_migrate_method_duration_seconds", "Time of a migrate() call, from call to return."},
        {"eventstore_query_sql_duration_seconds", "Database share of a query's time."},
        {"eventstore_append_sql_duration_seconds", "Database share of an append's time."},
        {"eventstore_query_stream_sql_duration_seconds", "Database share of a streamed query's time."},
        {"eventstore_import_sql_duration_seconds", "Database share of an import's time."},
        {"eventstore_component_duration_seconds", "Time of each phase of an operation that succeeded."},
        {"eventstore_events_queried_total", "Events returned by successful queries."},
        {"eventstore_events_appended_total", "Events written by successful appends."},
        {"eventstore_events_streamed_total", "Events delivered by successful streamed queries."},
        {"eventstore_events_imported_total", "Events written by successful imports."},
        {"eventstore_concurrency_conflicts_total", "Appends refused because a matching event arrived since the read."},
        {"eventstore_database_errors_total", "Operations that failed, by error type."},
        {"eventstore_query_canceled_total", "Queries ended by their stop token."},
        {"eventstore_append_canceled_total", "Appends ended by their stop token."},
        {"eventstore_query_stream_canceled_total", "Streamed queries ended by their stop token."},
        {"eventstore_import_canceled_total", "Imports ended by their stop token."},
        {"eventstore_migrate_canceled_total", "migrate() calls ended by their stop token."},
        {"eventstore_query_timeout_total", "Queries ended by their deadline."},
        {"eventstore_append_timeout_total", "Appends ended by their deadline."},
        {"eventstore_query_stream_timeout_total", "Streamed queries ended by their deadline."},
        {"eventstore_import_timeout_total", "Imports ended by their deadline."},
        {"eventstore_migrate_timeout_total", "migrate() calls ended by their deadline."},
        {"eventstore_snapshot_save_duration_seconds", "Time of a snapshot save."},
        {"eventstore_snapshot_load_duration_seconds", "Time of a snapshot load."},
        {"eventstore_snapshot_delete_duration_seconds", "Time of a snapshot delete."},
        {"eventstore_snapshot_save_total", "Snapshot saves."},
        {"eventstore_snapshot_load_total", "Snapshot loads, by result (hit, miss, error)."},
        {"eventstore_snapshot_delete_total", "Snapshot deletes."},
        {"eventstore_snapshot_save_errors_total", "Snapshot saves that failed."},
        {"eventstore_snapshot_load_errors_total", "Snapshot loads that failed."},
        {"eventstore_snapshot_delete_errors_total", "Snapshot deletes that failed."},
        {"eventstore_pool_connections", "Connections of the pool, by state (idle, in_use)."},
        {"eventstore_pool_max_connections", "The most connections the pool opens."},
        {"eventstore_pool_acquire_duration_seconds", "Time a call waited for a pooled connection."},
        {"eventstore_pool_connections_opened_total", "Connections the pool opened."},
        {"eventstore_subscription_events_delivered_total", "Events a subscription handed to its callback."},
        {"eventstore_subscription_lag_events", "Positions of the log a subscription has not looked at yet."},
        {"eventstore_subscription_claims_total", "Claims on a durable subscription's name, by outcome."},
        {"eventstore_prometheus_dropped_reports_total", "Reports of a metric as another type than its first."},
    }};
    const auto* const found =
        std::find_if(known.begin(), known.end(), [&](const auto& k) { return k.first == metric; });
    return found == known.end() ? std::string_view() : found->second;
}

// Prometheus names: [a-zA-Z_:][a-zA-Z0-9_:]* for metrics, without ':' for labels; anything else
// becomes '_'.
std::string sanitized(std::string_view name, bool label) {
    std::string out(name);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const char c = out[i];
        const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
        const bool digit = c >= '0' && c <= '9';
        if (!(letter || (digit && i > 0))) {
            out[i] = '_';
        }
    }
    return out.empty() ? std::string("_") : out;
}

void append_escaped(std::string& out, std::string_view text, bool quote_too) {
    for (const char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (quote_too && c == '"') {
            out += "\\\"";
        } else {
            out += c;
        }
    }
}

void append_number(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
    } else if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
    } else {
        std::array<char, 64> buffer{};
        const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
        out.append(buffer.data(), ec == std::errc() ? end : buffer.data());
    }
}

void add(std::atomic<double>& target, double value) {
    double current = target.load(std::memory_order_relaxed);
    while (!target.compare_exchange_weak(current, current + value, std::memory_order_relaxed)) {
    }
}

struct Series {
    explicit Series(std::size_t buckets) : bucket_counts(buckets) {}
    std::atomic<double> value{0};                          // counter, gauge; histogram: the sum
    std::atomic<std::uint64_t> count{0};                   // histogram
    std::vector<std::atomic<std::uint64_t>> bucket_counts; // histogram, not cumulative
};

struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept { return std::hash<std::string_view>{}(name); }
};

struct Family {
    Type type;
    std::string name; // sanitized
    std::map<Labels, std::unique_ptr<Series>> series;
};

} // namespace

class Collector::Impl {
public:
    explicit Impl(CollectorOptions options) : m_buckets(std::move(options.duration_buckets)) {
        std::sort(m_buckets.begin(), m_buckets.end());
        m_buckets.erase(std::unique(m_buckets.begin(), m_buckets.end()), m_buckets.end());
    }

    // The series of (metric, labels) of `type`, or null when the metric has another type.
    Series* series(std::string_view metric, const Labels& labels, Type type) {
        {
            const std::shared_lock lock(m_mutex);
            if (const auto family = m_families.find(metric); family != m_families.end()) {
                if (family->second.type != type) {
                    return nullptr;
                }
                if (const auto found = family->second.series.find(labels); found != family->second.series.end()) {
                    return found->second.get();
                }
            }
        }
        const std::unique_lock lock(m_mutex);
        auto family = m_families.find(metric);
        if (family == m_families.end()) {
            family = m_families.emplace(std::string(metric), Family{type, sanitized(metric, false), {}}).first;
        }
        if (family->second.type != type) {
            return nullptr;
        }
        auto& slot = family->second.series[labels];
        if (!slot) {
            slot = std::make_unique<Series>(type == Type::histogram ? m_buckets.size() : 0);
        }
        return slot.get();
    }

    void dropped() {
        static const Labels none;
        if (Series* s = series("eventstore_prometheus_dropped_reports_total", none, Type::counter)) {
            add(s->value, 1);
        }
    }

    void observe(Series& s, double seconds) const {
        const auto bucket = std::lower_bound(m_buckets.begin(), m_buckets.end(), seconds);
        if (bucket != m_buckets.end()) {
            s.bucket_counts[static_cast<std::size_t>(bucket - m_buckets.begin())].fetch_add(1,
                                                                                            std::memory_order_relaxed);
        }
        s.count.fetch_add(1, std::memory_order_relaxed);
        add(s.value, seconds);
    }

    std::string exposition() const {
        std::string out;
        const std::shared_lock lock(m_mutex);
        std::vector<std::pair<std::string_view, const Family*>> sorted;
        sorted.reserve(m_families.size());
        for (const auto& [metric, family] : m_families) {
            sorted.emplace_back(metric, &family);
        }
        std::sort(sorted.begin(), sorted.end());
        for (const auto& [metric, family_ptr] : sorted) {
            const Family& family = *family_ptr;
            const std::string_view help = help_of(metric);
            out += "# HELP ";
            out += family.name;
            out += ' ';
            if (help.empty()) {
                out += "eventstore metric ";
                append_escaped(out, metric, false);
            } else {
                out += help;
            }
            out += "\n# TYPE ";
            out += family.name;
            out += ' ';
            out += type_name(family.type);
            out += '\n';
            for (const auto& [labels, s] : family.series) {
                if (family.type != Type::histogram) {
                    line(out, family.name, labels, nullptr, s->value.load(std::memory_order_relaxed));
                    continue;
                }
                std::uint64_t cumulative = 0;
                const std::string bucket_name = family.name + "_bucket";
                for (std::size_t i = 0; i < m_buckets.size(); ++i) {
                    cumulative += s->bucket_counts[i].load(std::memory_order_relaxed);
                    line(out, bucket_name, labels, &m_buckets[i], static_cast<double>(cumulative));
                }
                const std::uint64_t count = s->count.load(std::memory_order_relaxed);
                const double inf = INFINITY;
                line(out, bucket_name, labels, &inf, static_cast<double>(count));
                line(out, family.name + "_sum", labels, nullptr, s->value.load(std::memory_order_relaxed));
                line(out, family.name + "_count", labels, nullptr, static_cast<double>(count));
            }
        }
        return out;
    }

private:
    static void line(std::string& out, const std::string& name, const Labels& labels, const double* le, double value) {
        out += name;
        if (!labels.empty() || le != nullptr) {
            out += '{';
            bool first = true;
            for (const auto& [key, text] : labels) {
                if (!first) {
                    out += ',';
                }
                first = false;
                out += sanitized(key, true);
                out += "=\"";
                append_escaped(out, text, true);
                out += '"';
            }
            if (le != nullptr) {
                out += first ? "le=\"" : ",le=\"";
                append_number(out, *le);
                out += '"';
            }
            out += '}';
        }
        out += ' ';
        append_number(out, value);
        out += '\n';
    }

    std::vector<double> m_buckets;
    mutable std::shared_mutex m_mutex;
    // By name, for the reports (heterogeneous lookup: a string_view finds its family without a copy);
    // rendered in name order.
    std::unordered_map<std::string, Family, NameHash, std::equal_to<>> m_families;
};

Collector::Collector() : Collector(CollectorOptions{}) {}

Collector::Collector(CollectorOptions options) : m_impl(std::make_unique<Impl>(std::move(options))) {}

Collector::~Collector() = default;

std::string Collector::exposition() const { return m_impl->exposition(); }

void Collector::record_duration(std::string_view metric, std::chrono::nanoseconds duration, const Labels& labels) {
    if (Series* s = m_impl->series(metric, labels, Type::histogram)) {
        m_impl->observe(*s, std::chrono::duration<double>(duration).count());
    } else {
        m_impl->dropped();
    }
}

void Collector::increment_counter(std::string_view metric, const Labels& labels) {
    if (Series* s = m_impl->series(metric, labels, Type::counter)) {
        add(s->value, 1);
    } else {
        m_impl->dropped();
    }
}

void Collector::record_value(std::string_view metric, double value, const Labels& labels) {
    const bool total = metric.ends_with("_total");
    Series* s = m_impl->series(metric, labels, total ? Type::counter : Type::gauge);
    if (s == nullptr || (total && !(value >= 0))) {
        m_impl->dropped(); // a counter only goes up
        return;
    }
    if (total) {
        add(s->value, value);
    } else {
        s->value.store(value, std::memory_order_relaxed);
    }
}

} // namespace eventstore::prometheus
