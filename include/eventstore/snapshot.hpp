#ifndef EVENTSTORE_SNAPSHOT_HPP
#define EVENTSTORE_SNAPSHOT_HPP

#include <cstddef>
#include <string>
#include <string_view>

#include <eventstore/storable_event.hpp>

namespace eventstore {

// Longest projection type and filter hash accepted, in bytes each: both together must fit an entry of
// the snapshot table's primary key (2,704 bytes at most).
inline constexpr std::size_t max_snapshot_key_length = 1024;

// A projection's state as of a sequence number, keyed by projection type and the hash of the
// (base, not incremental) filter it was built from.
struct Snapshot {
    std::string projection_type;
    std::string filter_hash;
    SequenceNumber sequence_number = 0;
    std::string data_json;
    TimePoint created_at;

    // Throws Error: empty_projection_type, empty_filter_hash, invalid_snapshot_key (a key holding a NUL
    // byte, not valid UTF-8, or longer than max_snapshot_key_length), invalid_snapshot_json.
    void validate() const;
    // The checks of one key alone, as load_snapshot and delete_snapshot make them: empty_projection_type,
    // invalid_snapshot_key.
    static void validate_projection_type(std::string_view projection_type);
};

// Sets created_at to now and validates.
Snapshot build_snapshot(std::string projection_type, std::string filter_hash, SequenceNumber sequence_number,
                        std::string data_json);

} // namespace eventstore

#endif
