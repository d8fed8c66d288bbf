#ifndef EVENTSTORE_POSTGRES_STORE_OPTIONS_HPP
#define EVENTSTORE_POSTGRES_STORE_OPTIONS_HPP

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <eventstore/observability.hpp>

namespace eventstore::postgres {

// The level of the records a successful call logs ("eventstore operation: query completed", "events
// appended", "snapshot saved successfully", ...): debug by default, so that a logger at info shows
// conflicts (info), warnings and errors, and not a record per call; info is the Go library's level
// (docs/observability.md, "Log levels").
enum class SuccessLogLevel { debug, info };

// A store's whole configuration as one value:
//
//     StoreOptions options;
//     options.table_name = "library.events";
//     options.metrics = my_metrics;
//     auto store = new_event_store_from_pool(pool, options);
//
// The with_* functions below set the same fields one at a time, Go style.
struct StoreOptions {
    // Events table; "schema.table" is allowed. Each part is quoted, so names are case-sensitive.
    // Empty: Errc::empty_events_table_name; a part that is empty, longer than 63 bytes or not UTF-8
    // text without NUL bytes: Errc::invalid_table_name (thrown by the factory).
    std::string table_name = "events";
    // Snapshot table; the same rules, and empty is Errc::invalid_table_name, as is a name that may be
    // the events table's (the same table part, in the same schema or with either unqualified).
    // Unset, it follows the events table, so that stores on different events tables never share
    // snapshots: "snapshots" beside a table named "events" (the Go library's pair, shared with it),
    // "<table>_snapshots" in the events table's schema otherwise (a derived name over 63 bytes is
    // cut and ends in a hash of the whole). EventStore::snapshot_table_name() tells which it is.
    std::optional<std::string> snapshot_table_name;
    // Checkpoint table of durable subscriptions (SubscribeOptions::name); the same rules. Unset, it is
    // "<table>_checkpoints" in the events table's schema (fitted to 63 bytes like the snapshot table).
    std::optional<std::string> checkpoint_table_name;
    // Hooks, each optional (docs/observability.md).
    std::shared_ptr<Logger> logger;
    std::shared_ptr<ContextualLogger> contextual_logger;
    std::shared_ptr<MetricsCollector> metrics;
    std::shared_ptr<TracingCollector> tracing;
    SuccessLogLevel success_log_level = SuccessLogLevel::debug;
    // Replicas (docs/replicas.md). A replica whose connection failed leaves the rotation for this long,
    // then gets eventual reads again.
    std::chrono::milliseconds replica_retry_after{5'000};
    // When every replica is out of rotation, eventual reads go to the primary (true) or fail with
    // Errc::database_connection_failed naming the replicas' last failure (false, the default: no
    // silent fallback).
    bool replica_fallback = false;
    // How long an eventual read with a minimum WAL position (Context::with_min_wal_position) waits for
    // its replica to replay that far when the call has no deadline (or a later one); then it reads from
    // the primary, which has every commit.
    std::chrono::milliseconds replica_max_wait{1'000};
};

// One configuration step for the store factories: new_event_store_from_pool(pool, with_table_name("x")).
class Option {
public:
    explicit Option(std::function<void(StoreOptions&)> apply) : m_apply(std::move(apply)) {}
    void apply(StoreOptions& options) const { m_apply(options); }

private:
    std::function<void(StoreOptions&)> m_apply;
};

[[nodiscard]] Option with_table_name(std::string name);
[[nodiscard]] Option with_snapshot_table_name(std::string name);
[[nodiscard]] Option with_checkpoint_table_name(std::string name);
[[nodiscard]] Option with_logger(std::shared_ptr<Logger> logger);
[[nodiscard]] Option with_contextual_logger(std::shared_ptr<ContextualLogger> logger);
[[nodiscard]] Option with_metrics(std::shared_ptr<MetricsCollector> collector);
[[nodiscard]] Option with_tracing(std::shared_ptr<TracingCollector> collector);
[[nodiscard]] Option with_success_log_level(SuccessLogLevel level);
[[nodiscard]] Option with_replica_retry_after(std::chrono::milliseconds delay);
[[nodiscard]] Option with_replica_fallback(bool fall_back_to_primary);
[[nodiscard]] Option with_replica_max_wait(std::chrono::milliseconds wait);

} // namespace eventstore::postgres

#endif
