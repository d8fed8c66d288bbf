#ifndef EVENTSTORE_SRC_POSTGRES_IMPORT_HPP
#define EVENTSTORE_SRC_POSTGRES_IMPORT_HPP

#include <future>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <eventstore/context.hpp>
#include <eventstore/storable_event.hpp>

#include "postgres/codec.hpp"
#include "postgres/instruments.hpp"
#include "postgres/operation.hpp"
#include "postgres/schema.hpp"
#include "postgres/session.hpp"

namespace eventstore::postgres::detail {

// Where the chunks of an import begin: at most `max_rows` events and, past its first event, at most
// `max_bytes` of event text a chunk; the last element is events.size().
[[nodiscard]] std::vector<std::size_t> plan_chunks(std::span<const StorableEvent> events, std::size_t max_rows,
                                                   std::size_t max_bytes);

// One import_events call: an unconditional, atomic bulk append (docs/design/bulk-import.md).
//
// The events go in chunks, all in one transaction under an ACCESS EXCLUSIVE lock on the table, so
// concurrent readers and writers see all of them or none, exactly as if they had been appended. Each
// chunk is validated and encoded on a second thread while the server inserts the one before. When the
// import is large and the role owns the payload index, the index is written in sorted batches through
// GIN's pending list; the Importer restores it, and on failure merges what the rolled-back rows left
// in that list, so that no later read scans them.
class Importer {
public:
    Importer(const Schema& schema, SessionSource& primary, const Instruments& instruments, Operation& op,
             std::span<const StorableEvent> events);
    Importer(const Importer&) = delete;
    Importer& operator=(const Importer&) = delete;

    // Throws what the operation's failure boundary classifies: an Error for a bad event, a
    // DatabaseFailure from the database.
    void run();

private:
    struct GinIndex {
        std::string quoted;       // "schema"."index"
        bool switched_on = false; // fastupdate was off: switched on for the import, off again before commit
    };

    // Validates chunk number `chunk` and encodes its columns.
    [[nodiscard]] EventColumns prepare(std::size_t chunk) const;
    void insert_all(Session& session);
    // The payload's GIN indexes switched to batching inside the open transaction, or none when the
    // role does not own them or the database refuses the change.
    [[nodiscard]] std::vector<GinIndex> batch_gin_indexes(Session& session) const;
    // Statements that merge the pending lists of the batched indexes.
    void append_gin_merge(std::vector<Statement>& statements) const;
    // After a failure: merges what the rolled-back rows left in the pending lists. Best effort.
    void clean_pending_lists() const noexcept;

    const Schema& m_schema;
    SessionSource& m_primary;
    const Instruments& m_instruments;
    Operation& m_op;
    std::span<const StorableEvent> m_events;
    std::vector<std::size_t> m_chunk_starts; // each chunk's first event, then the end
    std::vector<GinIndex> m_gin;
};

} // namespace eventstore::postgres::detail

#endif
