// Snapshots: save, load and delete, with the Go library's semantics (docs/snapshots.md).

#include <cstdint>
#include <limits>

#include "postgres/snapshot_call.hpp"
#include "postgres/store_impl.hpp"

namespace eventstore::postgres {

using detail::SnapshotAction;
using detail::SnapshotCall;
using detail::Statement;
using detail::Target;

void EventStore::Impl::save_snapshot(const Context& ctx, const Snapshot& snapshot) {
    snapshot.validate();
    if (snapshot.sequence_number > static_cast<SequenceNumber>(std::numeric_limits<std::int64_t>::max())) {
        throw Error(Errc::saving_snapshot_failed, "sequence number out of range");
    }
    // A lower sequence number never overwrites; an equal or higher one does.
    const std::vector<Statement> statements{m_schema.save_snapshot(snapshot)};
    SnapshotCall call(m_instruments, ctx, SnapshotAction::save, Target::primary, snapshot.projection_type,
                      snapshot.filter_hash);
    call.run([&] {
        detail::with_session(*m_primary, call.context(), false,
                             [&](detail::Session& session) { session.run(call.context(), statements); });
    });
    call.saved(snapshot.sequence_number);
}

std::optional<Snapshot> EventStore::Impl::load_snapshot(const Context& ctx, std::string_view projection_type,
                                                        const Filter& filter) {
    Snapshot::validate_projection_type(projection_type);
    const std::string hash = filter.hash();
    const std::vector<Statement> statements{m_schema.load_snapshot(projection_type, hash)};
    const Target target = read_target(ctx);
    SnapshotCall call(m_instruments, ctx, SnapshotAction::load, target, projection_type, hash);
    return call.run([&]() -> std::optional<Snapshot> {
        const auto results = read_on(
            target, call.context(), [](const std::string& /*database*/) {},
            [&](detail::Session& session, bool /*on_replica*/) { return session.run(call.context(), statements); });
        if (results.back().empty()) {
            call.missed();
            return std::nullopt;
        }
        Snapshot snapshot = detail::Schema::snapshot(results.back()[0]);
        call.loaded(snapshot);
        return snapshot;
    });
}

void EventStore::Impl::delete_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter) {
    Snapshot::validate_projection_type(projection_type);
    const std::string hash = filter.hash();
    const std::vector<Statement> statements{m_schema.delete_snapshot(projection_type, hash)};
    SnapshotCall call(m_instruments, ctx, SnapshotAction::remove, Target::primary, projection_type, hash);
    const std::uint64_t deleted = call.run(
        [&] { return m_primary->acquire(call.context())->run(call.context(), statements).back().affected_rows(); });
    call.deleted(deleted);
}

} // namespace eventstore::postgres
