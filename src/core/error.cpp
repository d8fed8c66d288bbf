#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

#include <eventstore/error.hpp>

namespace eventstore {

std::string_view message(Errc code) noexcept {
    switch (code) {
    case Errc::empty_events_table_name:
        return "events table name must not be empty";
    case Errc::concurrency_conflict:
        return "concurrency error, no rows were affected";
    case Errc::cant_build_query_for_zero_events:
        return "can't build query for zero events";
    case Errc::nil_database_connection:
        return "database connection must not be nil";
    case Errc::querying_events_failed:
        return "querying events failed";
    case Errc::scanning_db_row_failed:
        return "scanning db row failed";
    case Errc::building_storable_event_failed:
        return "building storable event failed";
    case Errc::appending_event_failed:
        return "appending the event failed";
    case Errc::getting_rows_affected_failed:
        return "getting rows affected failed";
    case Errc::building_query_failed:
        return "building the query failed";
    case Errc::row_iteration_failed:
        return "database rows iteration failed";
    case Errc::invalid_payload_json:
        return "payload json is not valid";
    case Errc::invalid_metadata_json:
        return "metadata json is not valid";
    case Errc::invalid_snapshot_json:
        return "snapshot json is not valid";
    case Errc::empty_projection_type:
        return "projection type must not be empty";
    case Errc::empty_filter_hash:
        return "filter hash must not be empty";
    case Errc::saving_snapshot_failed:
        return "saving snapshot failed";
    case Errc::loading_snapshot_failed:
        return "loading snapshot failed";
    case Errc::deleting_snapshot_failed:
        return "deleting snapshot failed";
    case Errc::canceled:
        return "context canceled";
    case Errc::deadline_exceeded:
        return "context deadline exceeded";
    case Errc::invalid_event_type:
        return "event type is not valid";
    case Errc::invalid_filter:
        return "filter is not valid";
    case Errc::invalid_table_name:
        return "table name is not valid";
    case Errc::database_connection_failed:
        return "database connection failed";
    case Errc::migration_failed:
        return "migrating the schema failed";
    case Errc::pool_exhausted:
        return "no free connection in the pool";
    case Errc::in_doubt:
        return "the outcome is unknown: the write may have committed";
    case Errc::invalid_tag:
        return "tag is not valid";
    case Errc::invalid_event_id:
        return "event id is not valid";
    case Errc::duplicate_event_id:
        return "event id is already used by another event";
    case Errc::invalid_snapshot_key:
        return "snapshot key is not valid";
    case Errc::invalid_subscription_name:
        return "subscription name is not valid";
    case Errc::subscription_failed:
        return "subscription failed";
    case Errc::invalid_traceparent:
        return "traceparent is not valid";
    }
    // Only reachable through a cast of an out-of-range integer.
    return "unknown error";
}

std::string_view name(Errc code) noexcept {
    switch (code) {
    case Errc::empty_events_table_name:
        return "empty_events_table_name";
    case Errc::concurrency_conflict:
        return "concurrency_conflict";
    case Errc::cant_build_query_for_zero_events:
        return "cant_build_query_for_zero_events";
    case Errc::nil_database_connection:
        return "nil_database_connection";
    case Errc::querying_events_failed:
        return "querying_events_failed";
    case Errc::scanning_db_row_failed:
        return "scanning_db_row_failed";
    case Errc::building_storable_event_failed:
        return "building_storable_event_failed";
    case Errc::appending_event_failed:
        return "appending_event_failed";
    case Errc::getting_rows_affected_failed:
        return "getting_rows_affected_failed";
    case Errc::building_query_failed:
        return "building_query_failed";
    case Errc::row_iteration_failed:
        return "row_iteration_failed";
    case Errc::invalid_payload_json:
        return "invalid_payload_json";
    case Errc::invalid_metadata_json:
        return "invalid_metadata_json";
    case Errc::invalid_snapshot_json:
        return "invalid_snapshot_json";
    case Errc::empty_projection_type:
        return "empty_projection_type";
    case Errc::empty_filter_hash:
        return "empty_filter_hash";
    case Errc::saving_snapshot_failed:
        return "saving_snapshot_failed";
    case Errc::loading_snapshot_failed:
        return "loading_snapshot_failed";
    case Errc::deleting_snapshot_failed:
        return "deleting_snapshot_failed";
    case Errc::canceled:
        return "canceled";
    case Errc::deadline_exceeded:
        return "deadline_exceeded";
    case Errc::invalid_event_type:
        return "invalid_event_type";
    case Errc::invalid_filter:
        return "invalid_filter";
    case Errc::invalid_table_name:
        return "invalid_table_name";
    case Errc::database_connection_failed:
        return "database_connection_failed";
    case Errc::migration_failed:
        return "migration_failed";
    case Errc::pool_exhausted:
        return "pool_exhausted";
    case Errc::in_doubt:
        return "in_doubt";
    case Errc::invalid_tag:
        return "invalid_tag";
    case Errc::invalid_event_id:
        return "invalid_event_id";
    case Errc::duplicate_event_id:
        return "duplicate_event_id";
    case Errc::invalid_snapshot_key:
        return "invalid_snapshot_key";
    case Errc::invalid_subscription_name:
        return "invalid_subscription_name";
    case Errc::subscription_failed:
        return "subscription_failed";
    case Errc::invalid_traceparent:
        return "invalid_traceparent";
    }
    return "unknown";
}

namespace {

// Built once here so that what() is a plain runtime_error string and never allocates when called.
std::string compose_what(Errc code, std::optional<Errc> cause, const std::string& detail) {
    std::string text(message(code));
    if (cause) {
        text += ": ";
        text += message(*cause);
    }
    if (!detail.empty()) {
        text += ": ";
        text += detail;
    }
    return text;
}

} // namespace

Error::Error(Errc code) : Error(code, std::nullopt, std::string(), std::string()) {}

Error::Error(Errc code, std::string detail) : Error(code, std::nullopt, std::move(detail), std::string()) {}

Error::Error(Errc code, Errc cause, std::string detail)
    : Error(code, std::optional<Errc>(cause), std::move(detail), std::string()) {}

Error::Error(Errc code, std::optional<Errc> cause, std::string detail, std::string sqlstate)
    : std::runtime_error(compose_what(code, cause, detail)), m_code(code), m_cause(cause), m_detail(std::move(detail)),
      m_sqlstate(std::move(sqlstate)) {}

bool Error::is_retryable() const noexcept {
    if (is(Errc::in_doubt)) {
        return false;
    }
    if (is(Errc::database_connection_failed) || is(Errc::pool_exhausted)) {
        return true;
    }
    // Class 08 is a connection failure; 40001 serialization_failure, 40P01 deadlock_detected,
    // 55P03 lock_not_available, 53300 too_many_connections, 57P01-57P03 the server shutting down,
    // crashed or still starting.
    static constexpr std::array<std::string_view, 7> transient{"40001", "40P01", "55P03", "53300",
                                                               "57P01", "57P02", "57P03"};
    const std::string_view state = m_sqlstate;
    return state.substr(0, 2) == "08" || std::find(transient.begin(), transient.end(), state) != transient.end();
}

bool Error::is_input_error() const noexcept {
    static constexpr std::array<Errc, 17> input{Errc::empty_events_table_name, Errc::cant_build_query_for_zero_events,
                                                Errc::nil_database_connection, Errc::invalid_payload_json,
                                                Errc::invalid_metadata_json,   Errc::invalid_snapshot_json,
                                                Errc::empty_projection_type,   Errc::empty_filter_hash,
                                                Errc::invalid_event_type,      Errc::invalid_filter,
                                                Errc::invalid_table_name,      Errc::invalid_tag,
                                                Errc::invalid_event_id,        Errc::duplicate_event_id,
                                                Errc::invalid_snapshot_key,    Errc::invalid_subscription_name,
                                                Errc::invalid_traceparent};
    return std::any_of(input.begin(), input.end(), [this](Errc code) { return is(code); });
}

ConcurrencyConflict::ConcurrencyConflict() : Error(Errc::concurrency_conflict) {}

ConcurrencyConflict::ConcurrencyConflict(std::string detail) : Error(Errc::concurrency_conflict, std::move(detail)) {}

} // namespace eventstore
