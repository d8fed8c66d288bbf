#ifndef BOOK_LENDING_LENDING_DESK_HPP
#define BOOK_LENDING_LENDING_DESK_HPP

// The command side: query the command's boundary, decide, append with the maximum the query saw;
// on a conflict, somebody changed the boundary meanwhile, so query again and decide again.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <eventstore/eventstore.hpp>

#include "domain.hpp"

namespace book_lending {

struct DeskPolicy {
    std::size_t max_loans_per_reader = 3;
    // Conflicts tolerated per command before giving up; each one costs a query and an append.
    unsigned max_retries = 5;
    // Deadline of every store call, so that a stuck connection cannot hang a lender for ever.
    std::chrono::milliseconds call_timeout{10'000};
};

struct CommandResult {
    enum class Outcome { done, refused, gave_up };
    Outcome outcome = Outcome::done;
    std::optional<Refusal> refusal; // set when refused
    unsigned conflicts = 0;         // retries = conflicts, except after giving up
};

// Thread-safe as far as the store is: a desk holds no state between commands.
class LendingDesk {
public:
    LendingDesk(eventstore::EventStore& store, DeskPolicy policy, std::string correlation_id);

    CommandResult add_copy(const BookCopy& copy);
    CommandResult lend(const std::string& book_id, const std::string& reader_id);
    CommandResult take_back(const std::string& book_id, const std::string& reader_id);

    // A read, not a decision: the copies the reader holds right now (may be stale a moment later).
    [[nodiscard]] std::vector<std::string> loans_of(const std::string& reader_id);

private:
    // Runs the query-decide-append round for one command. `decide_at` maps the boundary's history and
    // the decision time to Decision<Event>.
    template <typename DecideAt>
    CommandResult handle(const eventstore::Filter& boundary, DecideAt decide_at);

    [[nodiscard]] eventstore::Context call_context() const;

    eventstore::EventStore& m_store;
    DeskPolicy m_policy;
    std::string m_correlation_id;
};

} // namespace book_lending

#endif
