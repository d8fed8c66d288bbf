#ifndef BOOK_LENDING_DOMAIN_HPP
#define BOOK_LENDING_DOMAIN_HPP

// The book-lending domain: its events (payloads as in the Go library's test fixtures), the
// boundaries that decide each command, pure decision functions, and the audit of the invariants.
// Nothing here touches the database; lending_desk.hpp does the query-decide-append round.

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <eventstore/eventstore.hpp>

namespace book_lending {

using eventstore::TimePoint;

namespace event_type {
inline constexpr std::string_view added_to_circulation = "BookCopyAddedToCirculation";
inline constexpr std::string_view removed_from_circulation = "BookCopyRemovedFromCirculation";
inline constexpr std::string_view lent_to_reader = "BookCopyLentToReader";
inline constexpr std::string_view returned_by_reader = "BookCopyReturnedByReader";
} // namespace event_type

// One physical copy: the BookID is the copy's, the rest describes the edition it is a copy of.
struct BookCopy {
    std::string book_id;
    std::string isbn;
    std::string title;
    std::string authors;
    std::string edition;
    std::string publisher;
    int publication_year = 0;
};

// --- events ---------------------------------------------------------------------------------------

struct BookCopyAddedToCirculation {
    BookCopy copy;
    TimePoint occurred_at;
};
struct BookCopyRemovedFromCirculation {
    std::string book_id;
    TimePoint occurred_at;
};
struct BookCopyLentToReader {
    std::string book_id;
    std::string reader_id;
    TimePoint occurred_at;
};
struct BookCopyReturnedByReader {
    std::string book_id;
    std::string reader_id;
    TimePoint occurred_at;
};

// Who caused an event and which run it belongs to; stored as the event's metadata.
struct EventMetadata {
    std::string message_id;
    std::string causation_id;
    std::string correlation_id;
};

// The payloads repeat the event type and time inside the JSON, key for key like the Go fixtures.
[[nodiscard]] std::string to_payload_json(const BookCopyAddedToCirculation& event);
[[nodiscard]] std::string to_payload_json(const BookCopyRemovedFromCirculation& event);
[[nodiscard]] std::string to_payload_json(const BookCopyLentToReader& event);
[[nodiscard]] std::string to_payload_json(const BookCopyReturnedByReader& event);

[[nodiscard]] eventstore::StorableEvent to_storable_event(const BookCopyAddedToCirculation& event,
                                                          const EventMetadata& metadata);
[[nodiscard]] eventstore::StorableEvent to_storable_event(const BookCopyRemovedFromCirculation& event,
                                                          const EventMetadata& metadata);
[[nodiscard]] eventstore::StorableEvent to_storable_event(const BookCopyLentToReader& event,
                                                          const EventMetadata& metadata);
[[nodiscard]] eventstore::StorableEvent to_storable_event(const BookCopyReturnedByReader& event,
                                                          const EventMetadata& metadata);

// What the decisions and the audit need from a stored event, read back from its payload.
struct Fact {
    enum class Kind { added, removed, lent, returned };
    Kind kind = Kind::added;
    std::string book_id;
    std::string reader_id; // empty for added and removed
    eventstore::SequenceNumber sequence_number = 0;
};
// Throws std::runtime_error for an event this domain did not write (unknown type, missing IDs).
[[nodiscard]] std::vector<Fact> to_facts(const eventstore::StorableEvents& events);

// --- boundaries (the dynamic event streams a decision reads and its append is checked against) -----

// The copy's own history: every book event carrying its BookID.
[[nodiscard]] eventstore::Filter copy_boundary(const std::string& book_id);
// Lending also depends on how many copies the reader holds, so the boundary ORs in the reader's loans
// and returns: a concurrent lend to the same reader (of another copy) then conflicts, and the limit
// cannot be overrun by two lenders deciding at once.
[[nodiscard]] eventstore::Filter lend_boundary(const std::string& book_id, const std::string& reader_id);
// The reader's loans and returns alone (to pick a copy the reader can bring back).
[[nodiscard]] eventstore::Filter reader_loans_filter(const std::string& reader_id);
// Every event of the four book types, whatever the copy: the audit's input.
[[nodiscard]] eventstore::Filter all_book_events();

// --- projections and decisions (pure) -------------------------------------------------------------

struct CopyState {
    bool in_circulation = false;
    std::optional<std::string> lent_to;
};
[[nodiscard]] CopyState copy_state(const std::vector<Fact>& history, std::string_view book_id);
// The copies the reader holds now, oldest loan first.
[[nodiscard]] std::vector<std::string> loans_of(const std::vector<Fact>& history, std::string_view reader_id);

enum class Refusal {
    copy_already_added,
    copy_not_in_circulation,
    copy_already_lent,
    reader_at_loan_limit,
    copy_not_lent_to_reader,
};
inline constexpr std::size_t refusal_kinds = 5;
[[nodiscard]] std::string_view describe(Refusal refusal);

template <typename Event>
using Decision = std::variant<Event, Refusal>;

struct AddCopyToCirculation {
    BookCopy copy;
    TimePoint now;
};
struct LendCopyToReader {
    std::string book_id;
    std::string reader_id;
    std::size_t max_loans_per_reader = 3;
    TimePoint now;
};
struct ReturnCopyFromReader {
    std::string book_id;
    std::string reader_id;
    TimePoint now;
};

// Each takes the events of the command's boundary, oldest first.
[[nodiscard]] Decision<BookCopyAddedToCirculation> decide(const std::vector<Fact>& history,
                                                          const AddCopyToCirculation& command);
[[nodiscard]] Decision<BookCopyLentToReader> decide(const std::vector<Fact>& history, const LendCopyToReader& command);
[[nodiscard]] Decision<BookCopyReturnedByReader> decide(const std::vector<Fact>& history,
                                                        const ReturnCopyFromReader& command);

// --- audit ------------------------------------------------------------------------------------------

// Replays the log (ascending sequence numbers) for the given copies and checks the invariants:
// every lend follows the copy's addition or its return (never a lend while lent), every return is by
// the reader holding the copy, and no reader ever holds more than the limit.
struct AuditReport {
    std::size_t events_in_log = 0;  // all book events, earlier runs included
    std::size_t events_checked = 0; // those of the audited copies
    std::size_t added = 0;
    std::size_t lent = 0;
    std::size_t returned = 0;
    std::size_t removed = 0;
    std::size_t copies_lent_at_end = 0;
    std::size_t most_loans_held = 0; // by one reader at one time
    std::size_t copy_violations = 0;
    std::size_t reader_violations = 0;
    std::vector<std::string> examples; // the first few violations, readable

    [[nodiscard]] bool copy_invariant_holds() const { return copy_violations == 0; }
    [[nodiscard]] bool reader_invariant_holds() const { return reader_violations == 0; }
};
[[nodiscard]] AuditReport audit(const std::vector<Fact>& log, const std::set<std::string>& book_ids,
                                std::size_t max_loans_per_reader);

} // namespace book_lending

#endif
