#ifndef EVENTSTORE_SPDLOG_HPP
#define EVENTSTORE_SPDLOG_HPP

// A ContextualLogger over an spdlog logger (target eventstore::spdlog; Debian's libspdlog-dev):
//
//     auto store = eventstore::postgres::new_event_store_from_pool(
//         pool,
//         eventstore::postgres::with_contextual_logger(eventstore::make_spdlog_logger(spdlog::default_logger())));
//
// Each record is the store's message followed by its fields in logfmt (key=value; a value with a
// space, quote, '=', backslash or control character, or an empty one, in double quotes with JSON's
// escapes), then trace_id=... span_id=... when the Context carries a W3C traceparent
// (Context::with_traceparent, or the store's span's own). The store's levels map onto spdlog's debug,
// info, warn and error; a record below the logger's level costs a level check and nothing else.

#include <memory>

#include <eventstore/observability.hpp>

namespace spdlog {
class logger;
} // namespace spdlog

namespace eventstore {

// Throws std::invalid_argument for a null logger.
[[nodiscard]] std::shared_ptr<ContextualLogger> make_spdlog_logger(std::shared_ptr<::spdlog::logger> logger);

} // namespace eventstore

#endif
