#include "domain.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

#include "devsupport/rfc3339.hpp"

namespace book_lending {

using eventstore::build_event_filter;
using eventstore::Filter;
using eventstore::P;
using eventstore::StorableEvent;
using eventstore::devsupport::rfc3339_utc;

// --- events -----------------------------------------------------------------------------------------

std::string to_payload_json(const BookCopyAddedToCirculation& event) {
    return nlohmann::ordered_json{{"EventType", event_type::added_to_circulation},
                                  {"BookID", event.copy.book_id},
                                  {"ISBN", event.copy.isbn},
                                  {"Title", event.copy.title},
                                  {"Authors", event.copy.authors},
                                  {"Edition", event.copy.edition},
                                  {"Publisher", event.copy.publisher},
                                  {"PublicationYear", event.copy.publication_year},
                                  {"OccurredAt", rfc3339_utc(event.occurred_at)}}
        .dump();
}

std::string to_payload_json(const BookCopyRemovedFromCirculation& event) {
    return nlohmann::ordered_json{{"EventType", event_type::removed_from_circulation},
                                  {"BookID", event.book_id},
                                  {"OccurredAt", rfc3339_utc(event.occurred_at)}}
        .dump();
}

std::string to_payload_json(const BookCopyLentToReader& event) {
    return nlohmann::ordered_json{{"EventType", event_type::lent_to_reader},
                                  {"BookID", event.book_id},
                                  {"ReaderID", event.reader_id},
                                  {"OccurredAt", rfc3339_utc(event.occurred_at)}}
        .dump();
}

std::string to_payload_json(const BookCopyReturnedByReader& event) {
    return nlohmann::ordered_json{{"EventType", event_type::returned_by_reader},
                                  {"BookID", event.book_id},
                                  {"ReaderID", event.reader_id},
                                  {"OccurredAt", rfc3339_utc(event.occurred_at)}}
        .dump();
}

namespace {

std::string to_metadata_json(const EventMetadata& metadata) {
    return nlohmann::ordered_json{{"MessageID", metadata.message_id},
                                  {"CausationID", metadata.causation_id},
                                  {"CorrelationID", metadata.correlation_id}}
        .dump();
}

// The top-level member `key` when it is a string; nullopt otherwise. The store hands payloads back as
// PostgreSQL prints jsonb (its own key order and spacing), so only the parsed document can be relied on.
std::optional<std::string> top_level_string(const nlohmann::json& document, std::string_view key) {
    const auto member = document.find(key);
    if (member == document.end() || !member->is_string()) {
        return std::nullopt;
    }
    return member->get<std::string>();
}

template <typename Event>
StorableEvent storable(std::string_view type, const Event& event, const EventMetadata& metadata) {
    return eventstore::build_storable_event(std::string(type), event.occurred_at, to_payload_json(event),
                                            to_metadata_json(metadata));
}

} // namespace

StorableEvent to_storable_event(const BookCopyAddedToCirculation& event, const EventMetadata& metadata) {
    return storable(event_type::added_to_circulation, event, metadata);
}
StorableEvent to_storable_event(const BookCopyRemovedFromCirculation& event, const EventMetadata& metadata) {
    return storable(event_type::removed_from_circulation, event, metadata);
}
StorableEvent to_storable_event(const BookCopyLentToReader& event, const EventMetadata& metadata) {
    return storable(event_type::lent_to_reader, event, metadata);
}
StorableEvent to_storable_event(const BookCopyReturnedByReader& event, const EventMetadata& metadata) {
    return storable(event_type::returned_by_reader, event, metadata);
}

std::vector<Fact> to_facts(const eventstore::StorableEvents& events) {
    std::vector<Fact> facts;
    facts.reserve(events.size());
    for (const StorableEvent& event : events) {
        Fact fact;
        bool has_reader = false;
        if (event.event_type == event_type::added_to_circulation) {
            fact.kind = Fact::Kind::added;
        } else if (event.event_type == event_type::removed_from_circulation) {
            fact.kind = Fact::Kind::removed;
        } else if (event.event_type == event_type::lent_to_reader) {
            fact.kind = Fact::Kind::lent;
            has_reader = true;
        } else if (event.event_type == event_type::returned_by_reader) {
            fact.kind = Fact::Kind::returned;
            has_reader = true;
        } else {
            throw std::runtime_error("unexpected event type " + nlohmann::json(event.event_type).dump() +
                                     " at sequence number " + std::to_string(event.sequence_number));
        }
        const auto payload = nlohmann::json::parse(event.payload_json, nullptr, /*allow_exceptions=*/false);
        auto book_id = top_level_string(payload, "BookID");
        auto reader_id = has_reader ? top_level_string(payload, "ReaderID") : std::string();
        if (!book_id || !reader_id) {
            throw std::runtime_error("event " + std::to_string(event.sequence_number) + " (" + event.event_type +
                                     ") lacks its BookID or ReaderID: " + event.payload_json);
        }
        fact.book_id = std::move(*book_id);
        fact.reader_id = std::move(*reader_id);
        fact.sequence_number = event.sequence_number;
        facts.push_back(std::move(fact));
    }
    return facts;
}

// --- boundaries ---------------------------------------------------------------------------------------

Filter copy_boundary(const std::string& book_id) {
    return build_event_filter()
        .matching()
        .any_event_type_of(event_type::added_to_circulation, event_type::removed_from_circulation,
                           event_type::lent_to_reader, event_type::returned_by_reader)
        .and_any_predicate_of(P("BookID", book_id))
        .finalize();
}

Filter lend_boundary(const std::string& book_id, const std::string& reader_id) {
    return build_event_filter()
        .matching()
        .any_event_type_of(event_type::added_to_circulation, event_type::removed_from_circulation,
                           event_type::lent_to_reader, event_type::returned_by_reader)
        .and_any_predicate_of(P("BookID", book_id))
        .or_matching()
        .any_event_type_of(event_type::lent_to_reader, event_type::returned_by_reader)
        .and_any_predicate_of(P("ReaderID", reader_id))
        .finalize();
}

Filter reader_loans_filter(const std::string& reader_id) {
    return build_event_filter()
        .matching()
        .any_event_type_of(event_type::lent_to_reader, event_type::returned_by_reader)
        .and_any_predicate_of(P("ReaderID", reader_id))
        .finalize();
}

Filter all_book_events() {
    return build_event_filter()
        .matching()
        .any_event_type_of(event_type::added_to_circulation, event_type::removed_from_circulation,
                           event_type::lent_to_reader, event_type::returned_by_reader)
        .finalize();
}

// --- projections and decisions --------------------------------------------------------------------------

CopyState copy_state(const std::vector<Fact>& history, std::string_view book_id) {
    CopyState state;
    for (const Fact& fact : history) {
        if (fact.book_id != book_id) {
            continue; // the lend boundary also holds the reader's other loans
        }
        switch (fact.kind) {
        case Fact::Kind::added:
            state.in_circulation = true;
            break;
        case Fact::Kind::removed:
            state.in_circulation = false;
            break;
        case Fact::Kind::lent:
            state.lent_to = fact.reader_id;
            break;
        case Fact::Kind::returned:
            state.lent_to.reset();
            break;
        }
    }
    return state;
}

std::vector<std::string> loans_of(const std::vector<Fact>& history, std::string_view reader_id) {
    std::vector<std::string> loans;
    for (const Fact& fact : history) {
        if (fact.reader_id != reader_id) {
            continue;
        }
        if (fact.kind == Fact::Kind::lent) {
            loans.push_back(fact.book_id);
        } else if (fact.kind == Fact::Kind::returned) {
            if (auto it = std::find(loans.begin(), loans.end(), fact.book_id); it != loans.end()) {
                loans.erase(it);
            }
        }
    }
    return loans;
}

std::string_view describe(Refusal refusal) {
    switch (refusal) {
    case Refusal::copy_already_added:
        return "the copy is already in the catalogue";
    case Refusal::copy_not_in_circulation:
        return "the copy is not in circulation";
    case Refusal::copy_already_lent:
        return "the copy is lent to someone";
    case Refusal::reader_at_loan_limit:
        return "the reader holds the maximum number of copies";
    case Refusal::copy_not_lent_to_reader:
        return "the copy is not lent to this reader";
    }
    return "unknown refusal";
}

Decision<BookCopyAddedToCirculation> decide(const std::vector<Fact>& history, const AddCopyToCirculation& command) {
    // Any earlier event of the copy means it was added before: BookIDs are never reused.
    const bool known = std::any_of(history.begin(), history.end(),
                                   [&](const Fact& fact) { return fact.book_id == command.copy.book_id; });
    if (known) {
        return Refusal::copy_already_added;
    }
    return BookCopyAddedToCirculation{command.copy, command.now};
}

Decision<BookCopyLentToReader> decide(const std::vector<Fact>& history, const LendCopyToReader& command) {
    const CopyState copy = copy_state(history, command.book_id);
    if (!copy.in_circulation) {
        return Refusal::copy_not_in_circulation;
    }
    if (copy.lent_to) {
        return Refusal::copy_already_lent;
    }
    if (loans_of(history, command.reader_id).size() >= command.max_loans_per_reader) {
        return Refusal::reader_at_loan_limit;
    }
    return BookCopyLentToReader{command.book_id, command.reader_id, command.now};
}

Decision<BookCopyReturnedByReader> decide(const std::vector<Fact>& history, const ReturnCopyFromReader& command) {
    const CopyState copy = copy_state(history, command.book_id);
    if (!copy.lent_to || *copy.lent_to != command.reader_id) {
        return Refusal::copy_not_lent_to_reader;
    }
    return BookCopyReturnedByReader{command.book_id, command.reader_id, command.now};
}

// --- audit ----------------------------------------------------------------------------------------------------

AuditReport audit(const std::vector<Fact>& log, const std::set<std::string>& book_ids,
                  std::size_t max_loans_per_reader) {
    // Replays with its own bookkeeping rather than the decision projections above, so that a bug
    // shared by decide() and the check cannot hide itself.
    struct Copy {
        bool known = false;
        bool in_circulation = false;
        std::optional<std::string> lent_to;
    };
    std::map<std::string, Copy, std::less<>> copies;
    std::map<std::string, std::size_t, std::less<>> loans_held;

    AuditReport report;
    report.events_in_log = log.size();
    constexpr std::size_t max_examples = 5;
    const auto violation = [&](std::size_t& counter, const Fact& fact, const std::string& what) {
        ++counter;
        if (report.examples.size() < max_examples) {
            report.examples.push_back("event " + std::to_string(fact.sequence_number) + ", copy " + fact.book_id +
                                      ": " + what);
        }
    };

    eventstore::SequenceNumber previous = 0;
    for (const Fact& fact : log) {
        if (fact.sequence_number <= previous) {
            violation(report.copy_violations, fact, "sequence numbers out of order in the query result");
        }
        previous = fact.sequence_number;
        if (!book_ids.contains(fact.book_id)) {
            continue; // another run's copy
        }
        ++report.events_checked;
        Copy& copy = copies[fact.book_id];
        switch (fact.kind) {
        case Fact::Kind::added:
            ++report.added;
            if (copy.known) {
                violation(report.copy_violations, fact, "added to circulation twice");
            }
            copy.known = true;
            copy.in_circulation = true;
            break;
        case Fact::Kind::removed:
            ++report.removed;
            if (!copy.in_circulation || copy.lent_to) {
                violation(report.copy_violations, fact, "removed while not on the shelf");
            }
            copy.in_circulation = false;
            break;
        case Fact::Kind::lent: {
            ++report.lent;
            if (!copy.in_circulation) {
                violation(report.copy_violations, fact, "lent while not in circulation");
            }
            if (copy.lent_to) {
                violation(report.copy_violations, fact,
                          "lent to " + fact.reader_id + " while still lent to " + *copy.lent_to);
            }
            copy.lent_to = fact.reader_id;
            const std::size_t held = ++loans_held[fact.reader_id];
            report.most_loans_held = std::max(report.most_loans_held, held);
            if (held > max_loans_per_reader) {
                violation(report.reader_violations, fact,
                          "reader " + fact.reader_id + " now holds " + std::to_string(held) + " copies");
            }
            break;
        }
        case Fact::Kind::returned:
            ++report.returned;
            if (!copy.lent_to || *copy.lent_to != fact.reader_id) {
                violation(report.copy_violations, fact, "returned by " + fact.reader_id + ", who did not hold it");
            } else {
                --loans_held[fact.reader_id];
            }
            copy.lent_to.reset();
            break;
        }
    }
    report.copies_lent_at_end = static_cast<std::size_t>(std::count_if(
        copies.begin(), copies.end(), [](const auto& entry) { return entry.second.lent_to.has_value(); }));
    return report;
}

} // namespace book_lending
