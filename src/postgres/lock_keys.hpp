#ifndef EVENTSTORE_SRC_POSTGRES_LOCK_KEYS_HPP
#define EVENTSTORE_SRC_POSTGRES_LOCK_KEYS_HPP

// The advisory-lock protocol that makes appends safe under concurrent writers and reads gap-free.
// The argument for its correctness is in docs/design/append-concurrency.md. Every process writing to
// the same database must use the same constants: they are part of the on-disk protocol.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include <eventstore/filter.hpp>
#include <eventstore/storable_event.hpp>

#include "postgres/statement.hpp"

namespace eventstore::postgres::detail {

// Each logical key is split into this many stripes. A writer locks one stripe (its backend's) of each
// key exclusively; readers and conflict checks lock every stripe of their keys in shared mode. So
// writers of unrelated events never wait for each other, even when their events share a hot key
// such as an event type, while every reader still waits for every in-flight writer of its keys.
inline constexpr std::uint32_t lock_stripes = 8;

// Protocol version, mixed into every key so that a future change cannot silently mix with this one.
inline constexpr std::uint8_t lock_protocol_version = 1;

struct LockRequest {
    std::int64_t key;
    bool exclusive;
    friend bool operator==(const LockRequest&, const LockRequest&) = default;
};

// Keys a filter depends on: every event matching the filter yields (as a writer) at least one of
// them. An item with tags contributes its first tag's key (a matching event carries all of them); an
// item with predicates and no tags its predicates' keys (for AND logic, one is enough); an item with
// only event types the types' keys; a filter with no non-empty item (it matches everything) the
// global key.
void add_filter_keys(const Filter& filter, std::vector<std::uint64_t>& keys);

// Keys of an event being written: the global key, its type's key, one key per top-level member of
// its payload whose value is a JSON string (the only members a predicate can match), and one per tag.
void add_event_keys(std::string_view event_type, std::span<const std::pair<std::string, std::string>> string_members,
                    std::span<const std::string> tags, std::vector<std::uint64_t>& keys);

// Beyond this many advisory locks in one call, the call locks every stripe of the global key instead
// (see plan_locks): it keeps one call from exhausting the server's shared lock table, which holds
// max_locks_per_transaction x max_connections locks for all sessions together.
inline constexpr std::size_t max_advisory_locks = 256;

// The lock set of one operation, sorted by key so that every session acquires in the same order
// (no deadlock between our own calls): exclusive on the stripe `writer_stripe` of every writer key,
// shared on every stripe of every reader key; exclusive wins where both ask for the same lock.
// When that set would be larger than max_advisory_locks, the call locks every stripe of the global
// key instead: exclusively when it writes (it then excludes every other writer, since every writer
// holds a stripe of the global key, and runs alone among writers), shared when it only reads (it
// then waits for every writer in flight and holds off new ones, as a read of the whole log does).
// Either way at most lock_stripes locks, no table lock, and no privilege beyond the statement's own.
// `unique_keys` (event ids) are locked exclusively on one stripe that every session shares, so that
// two appends of the same id take turns; the fallback covers them too, since it excludes every writer.
[[nodiscard]] std::vector<LockRequest> plan_locks(std::vector<std::uint64_t> reader_keys,
                                                  std::vector<std::uint64_t> writer_keys, std::uint32_t writer_stripe,
                                                  std::span<const std::uint64_t> unique_keys = {});

// The statement that takes `locks` in their order, each until the end of the transaction.
[[nodiscard]] Statement lock_statement(const std::vector<LockRequest>& locks);

// Exposed for tests.
[[nodiscard]] std::uint64_t global_key() noexcept;
[[nodiscard]] std::uint64_t event_type_key(std::string_view event_type) noexcept;
[[nodiscard]] std::uint64_t predicate_key(std::string_view key, std::string_view value) noexcept;
[[nodiscard]] std::uint64_t tag_key(std::string_view tag) noexcept;
[[nodiscard]] std::uint64_t event_id_key(std::string_view normalized_id) noexcept;

} // namespace eventstore::postgres::detail

#endif
