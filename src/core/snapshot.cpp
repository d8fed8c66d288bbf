#include <utility>

#include <eventstore/error.hpp>
#include <eventstore/snapshot.hpp>

#include "core/json.hpp"

namespace eventstore {

void Snapshot::validate() const {
    if (projection_type.empty()) {
        throw Error(Errc::empty_projection_type);
    }
    if (filter_hash.empty()) {
        throw Error(Errc::empty_filter_hash);
    }
    // Stricter than Go's lax check: the data is stored as jsonb, and a projection's state is an object.
    if (std::string problem = detail::json::check_object(data_json); !problem.empty()) {
        throw Error(Errc::invalid_snapshot_json, std::move(problem));
    }
}

Snapshot build_snapshot(std::string projection_type, std::string filter_hash, SequenceNumber sequence_number,
                        std::string data_json) {
    Snapshot snapshot;
    snapshot.projection_type = std::move(projection_type);
    snapshot.filter_hash = std::move(filter_hash);
    snapshot.sequence_number = sequence_number;
    snapshot.data_json = std::move(data_json);
    snapshot.created_at = std::chrono::system_clock::now();
    snapshot.validate();
    return snapshot;
}

} // namespace eventstore
