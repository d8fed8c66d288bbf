#ifndef EVENTSTORE_TESTS_INTEGRATION_PROTOCOL_WRITER_HPP
#define EVENTSTORE_TESTS_INTEGRATION_PROTOCOL_WRITER_HPP

// A concurrent writer played by a raw session, for deterministic tests of what waits for an
// in-flight append: it writes one event the way every append does (the advisory locks of the store's
// lock protocol on the event's writer keys, then the INSERT) and keeps its transaction open until
// commit() or rollback(). A writer that skips the protocol is outside the store's guarantee.
//
//     ProtocolWriter writer(conninfo(), table());
//     const SequenceNumber n = writer.begin("BookCopyLentToReader", lent_to_reader_payload(book, reader, at(1)));
//     ... a query of the same boundary now waits ...
//     writer.commit();

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <eventstore/storable_event.hpp>

#include "core/json.hpp"
#include "devsupport/pg_session.hpp"
#include "devsupport/sql_names.hpp"
#include "postgres/lock_keys.hpp"

namespace eventstore::test {

class ProtocolWriter {
public:
    // A session of its own on `conninfo`, writing to the store table `table` (as given to
    // with_table_name).
    ProtocolWriter(const std::string& conninfo, std::string_view table)
        : m_session(conninfo), m_table(devsupport::quote_table(table)) {}

    // Begins a transaction, locks the writer keys of the event and inserts it, and leaves the
    // transaction open. Returns the event's sequence number.
    SequenceNumber begin(std::string_view event_type, const std::string& payload_json,
                         const std::vector<std::string>& tags = {}) {
        detail::json::StringMembers members;
        if (const std::string problem = detail::json::check_object(payload_json, &members); !problem.empty()) {
            throw std::invalid_argument("ProtocolWriter: payload is not a JSON object (" + problem + ")");
        }
        std::vector<std::uint64_t> keys;
        postgres::detail::add_event_keys(event_type, members, tags, keys);
        const std::uint32_t stripe = stripe_of_no_other_session();
        m_session.exec("BEGIN");
        for (const postgres::detail::LockRequest& lock : postgres::detail::plan_locks({}, keys, stripe)) {
            if (!lock.exclusive) {
                throw std::logic_error("ProtocolWriter: a writer's lock plan must be exclusive locks only");
            }
            m_session.exec("SELECT pg_advisory_xact_lock($1::bigint)", {std::to_string(lock.key)});
        }
        std::string tag_array = "{";
        for (const std::string& tag : tags) {
            tag_array += tag_array.size() > 1 ? ",\"" : "\"";
            for (const char c : tag) {
                if (c == '"' || c == '\\') {
                    tag_array += '\\';
                }
                tag_array += c;
            }
            tag_array += '"';
        }
        tag_array += '}';
        const auto inserted =
            m_session.exec("INSERT INTO " + m_table +
                               " (event_type, occurred_at, payload, tags) VALUES ($1, now(), $2::jsonb, "
                               "nullif($3::text[], '{}')) RETURNING sequence_number",
                           {std::string(event_type), payload_json, tag_array});
        return std::stoull(inserted.value(0, 0));
    }

    void commit() { m_session.exec("COMMIT"); }
    void rollback() { m_session.exec("ROLLBACK"); }

private:
    // Appends lock the stripe of their backend (pid modulo lock_stripes), so two unrelated writers
    // whose pids share a stripe wait for each other on the keys every event has (the global key, a
    // common type). This writer takes a stripe no other session of the database has, so that tests of
    // "does not wait" do not fail once in lock_stripes runs; any stripe follows the protocol, since
    // readers lock all of them.
    std::uint32_t stripe_of_no_other_session() {
        const auto others = m_session.exec(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
        std::set<std::uint32_t> taken;
        for (int row = 0; row < others.rows(); ++row) {
            taken.insert(static_cast<std::uint32_t>(std::stoul(others.value(row, 0))) % postgres::detail::lock_stripes);
        }
        for (std::uint32_t stripe = 0; stripe < postgres::detail::lock_stripes; ++stripe) {
            if (taken.count(stripe) == 0) {
                return stripe;
            }
        }
        return static_cast<std::uint32_t>(m_session.backend_pid());
    }

    devsupport::PgSession m_session;
    std::string m_table;
};

} // namespace eventstore::test

#endif
