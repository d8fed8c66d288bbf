#ifndef EVENTSTORE_ERROR_HPP
#define EVENTSTORE_ERROR_HPP

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace eventstore {

// One code per sentinel error of the Go library (snake_case, without the `Err` prefix), plus the
// two context outcomes and the input errors this library rejects before touching the database.
// Which operation throws which code: docs/errors.md.
enum class Errc {
    empty_events_table_name,
    concurrency_conflict,
    cant_build_query_for_zero_events, // Go parity only: an append of no events does nothing here
    nil_database_connection,
    querying_events_failed,
    scanning_db_row_failed,
    building_storable_event_failed, // Go parity only: build_storable_event throws the input error itself
    appending_event_failed,
    getting_rows_affected_failed, // Go parity only: libpq always reports the row count
    building_query_failed,        // Go parity only: queries are built without failing
    row_iteration_failed,         // Go parity only: a failed read is querying_events_failed
    invalid_payload_json,
    invalid_metadata_json,
    invalid_snapshot_json,
    empty_projection_type,
    empty_filter_hash,
    saving_snapshot_failed,
    loading_snapshot_failed,
    deleting_snapshot_failed,
    canceled,
    deadline_exceeded,
    // Beyond the Go library: input it would pass to the database (and fail there, or store silently).
    invalid_event_type,
    invalid_filter,
    invalid_table_name,
    database_connection_failed,
    migration_failed,
    // Every connection of the pool stayed in use for the pool's acquire timeout (PoolOptions): the
    // database may be fine, the client is saturated.
    pool_exhausted,
    // A write was sent, and then its outcome could not be learned (the connection was lost, or the
    // server did not end a cancelled statement in time): it may or may not have committed. Query to
    // find out before deciding again (docs/errors.md, "In doubt").
    in_doubt,
    // An event's tag is empty, too long, holds a NUL byte or is not UTF-8 (StorableEvent::tags).
    invalid_tag,
    // An event's id is not a UUID in text form (StorableEvent::id).
    invalid_event_id,
    // An event's id is already stored for a different event (another type, tags or payload), or an
    // append mixes ids already stored with new ones: nothing was written.
    duplicate_event_id,
    // A snapshot's projection type or filter hash holds a NUL byte, is not UTF-8, or is longer than
    // max_snapshot_key_length.
    invalid_snapshot_key,
    // A durable subscription's name is empty where one is needed, holds a NUL byte, is not UTF-8, or is
    // longer than max_subscription_name_length (postgres::SubscribeOptions::name).
    invalid_subscription_name,
    // A durable subscription's checkpoint could not be claimed, saved or read, or wait_until_processed
    // ended before the subscription got there; the cause says why (deadline_exceeded, canceled, ...).
    subscription_failed,
    // Context::with_traceparent was given something other than a W3C traceparent.
    invalid_traceparent,
};

// The Go sentinel's message for a code ("concurrency error, no rows were affected", ...).
[[nodiscard]] std::string_view message(Errc code) noexcept;
// The enumerator's name ("concurrency_conflict", ...), for logs and metric labels.
[[nodiscard]] std::string_view name(Errc code) noexcept;

// Every error the library throws. `code()` is the operation's sentinel; `cause()` is what made it fail
// when that is itself a sentinel (an append cancelled by its context is `appending_event_failed`
// caused by `canceled`), mirroring Go's errors.Join. Database errors carry the SQLSTATE.
class Error : public std::runtime_error {
public:
    explicit Error(Errc code);
    Error(Errc code, std::string detail);
    Error(Errc code, Errc cause, std::string detail = {});
    Error(Errc code, std::optional<Errc> cause, std::string detail, std::string sqlstate);

    [[nodiscard]] Errc code() const noexcept { return m_code; }
    [[nodiscard]] std::optional<Errc> cause() const noexcept { return m_cause; }
    // True for the error's own code and for the code of its cause.
    [[nodiscard]] bool is(Errc code) const noexcept { return m_code == code || (m_cause && *m_cause == code); }
    // Five-character SQLSTATE of the database error behind this one, or empty.
    [[nodiscard]] const std::string& sqlstate() const noexcept { return m_sqlstate; }
    // The text after the sentinel's message: the cause, the database's message, or what was wrong.
    [[nodiscard]] const std::string& detail() const noexcept { return m_detail; }

    // The same call may succeed when made again, unchanged: the connection failed or was lost, the
    // pool was exhausted, or the server ended the call for reasons of its own (serialization failure,
    // deadlock, lock timeout, shutdown, too many connections). Not an in_doubt write (it may have
    // committed: query first), nor a ConcurrencyConflict (query again and decide again), nor a
    // cancellation or deadline (the caller's own).
    [[nodiscard]] bool is_retryable() const noexcept;
    // The caller's input was rejected before any database work (an event, a filter, a snapshot, a
    // table name or a handle that cannot be used); making the same call again fails the same way.
    [[nodiscard]] bool is_input_error() const noexcept;

private:
    Errc m_code;
    std::optional<Errc> m_cause;
    std::string m_detail;
    std::string m_sqlstate;
};

// Thrown by append when an event matching the filter was appended after the expected maximum.
class ConcurrencyConflict : public Error {
public:
    ConcurrencyConflict();
    explicit ConcurrencyConflict(std::string detail);
};

} // namespace eventstore

#endif
