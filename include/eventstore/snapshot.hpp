#ifndef EVENTSTORE_SNAPSHOT_HPP
#define EVENTSTORE_SNAPSHOT_HPP

#include <string>

#include <eventstore/storable_event.hpp>

namespace eventstore {

// A projection's state as of a sequence number, keyed by projection type and the hash of the
// (base, not incremental) filter it was built from.
struct Snapshot {
    std::string projection_type;
    std::string filter_hash;
    SequenceNumber sequence_number = 0;
    std::string data_json;
    TimePoint created_at;

    // Throws Error: empty_projection_type, empty_filter_hash, invalid_snapshot_json (in that order).
    void validate() const;
};

// Sets created_at to now and validates.
Snapshot build_snapshot(std::string projection_type, std::string filter_hash, SequenceNumber sequence_number,
                        std::string data_json);

} // namespace eventstore

#endif
