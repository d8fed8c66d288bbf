#ifndef EVENTSTORE_SRC_POSTGRES_STORE_CONFIG_HPP
#define EVENTSTORE_SRC_POSTGRES_STORE_CONFIG_HPP

#include <memory>
#include <string>

#include <eventstore/observability.hpp>

namespace eventstore::postgres::detail {

struct StoreConfig {
    std::string table_name = "events";
    std::string snapshot_table_name = "snapshots";
    std::shared_ptr<Logger> logger;
    std::shared_ptr<ContextualLogger> contextual_logger;
    std::shared_ptr<MetricsCollector> metrics;
    std::shared_ptr<TracingCollector> tracing;
};

} // namespace eventstore::postgres::detail

#endif
