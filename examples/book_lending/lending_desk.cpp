#include "lending_desk.hpp"

#include <chrono>
#include <type_traits>
#include <utility>
#include <variant>

#include "devsupport/uuid.hpp"

namespace book_lending {

using eventstore::devsupport::new_uuid_v7;

namespace {

// Now, truncated to whole microseconds: the precision the store keeps, so that the time inside the
// payload and the event's occurred_at column are the same instant.
TimePoint now_in_microseconds() {
    return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

} // namespace

LendingDesk::LendingDesk(eventstore::EventStore& store, DeskPolicy policy, std::string correlation_id)
    : m_store(store), m_policy(policy), m_correlation_id(std::move(correlation_id)) {}

eventstore::Context LendingDesk::call_context() const {
    return eventstore::Context().with_timeout(m_policy.call_timeout);
}

template <typename DecideAt>
CommandResult LendingDesk::handle(const eventstore::Filter& boundary, DecideAt decide_at) {
    const std::string command_id = new_uuid_v7(); // the causation of whatever this command writes
    CommandResult result;
    for (;;) {
        const eventstore::QueryResult seen = m_store.query(call_context(), boundary);
        auto decision = decide_at(to_facts(seen.events), now_in_microseconds());
        if (const Refusal* refusal = std::get_if<Refusal>(&decision)) {
            result.outcome = CommandResult::Outcome::refused;
            result.refusal = *refusal;
            return result;
        }
        const EventMetadata metadata{new_uuid_v7(), command_id, m_correlation_id};
        const eventstore::StorableEvent event = to_storable_event(std::get<0>(decision), metadata);
        try {
            // Succeeds only if no event matching the boundary was appended after what we saw:
            // the decision is then still based on the whole truth.
            m_store.append(call_context(), boundary, seen.max_sequence_number, event);
            result.outcome = CommandResult::Outcome::done;
            return result;
        } catch (const eventstore::ConcurrencyConflict&) {
            ++result.conflicts;
            if (result.conflicts > m_policy.max_retries) {
                result.outcome = CommandResult::Outcome::gave_up;
                return result;
            }
        }
    }
}

CommandResult LendingDesk::add_copy(const BookCopy& copy) {
    // Expected maximum 0 on the copy's boundary: "only if this copy has no history yet".
    return handle(copy_boundary(copy.book_id), [&](const std::vector<Fact>& history, TimePoint now) {
        return decide(history, AddCopyToCirculation{copy, now});
    });
}

CommandResult LendingDesk::lend(const std::string& book_id, const std::string& reader_id) {
    return handle(lend_boundary(book_id, reader_id), [&](const std::vector<Fact>& history, TimePoint now) {
        return decide(history, LendCopyToReader{book_id, reader_id, m_policy.max_loans_per_reader, now});
    });
}

CommandResult LendingDesk::take_back(const std::string& book_id, const std::string& reader_id) {
    // A return only needs the copy's history: who holds it. Leaving the reader's other loans out of
    // the boundary means a return never conflicts with lends of other copies. (A lend to this reader
    // still conflicts with this return, because the lend's boundary covers the reader's returns.)
    return handle(copy_boundary(book_id), [&](const std::vector<Fact>& history, TimePoint now) {
        return decide(history, ReturnCopyFromReader{book_id, reader_id, now});
    });
}

std::vector<std::string> LendingDesk::loans_of(const std::string& reader_id) {
    return book_lending::loans_of(to_facts(m_store.query(call_context(), reader_loans_filter(reader_id)).events),
                                  reader_id);
}

} // namespace book_lending
