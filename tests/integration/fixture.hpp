#ifndef EVENTSTORE_TESTS_INTEGRATION_FIXTURE_HPP
#define EVENTSTORE_TESTS_INTEGRATION_FIXTURE_HPP

// The shared fixtures of the integration tests: StoreTest, a store on this process's own test database
// with tables of its own (unique per test), migrated, and DatabaseTest, the database and a raw session
// alone; the book-lending domain of the Go library's test suite (its four event types, payloads and
// fixture book) as event builders and filters; and a few helpers (raw SQL, JSON equality, errors).
//
//     class MyTest : public eventstore::test::StoreTest {};
//     TEST_F(MyTest, Something) {
//         store().append(book_filter(book_1), 0, added_to_circulation(book_1, at(1)));
//         EXPECT_EQ(count_rows(), 1);
//     }

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <eventstore/eventstore.hpp>
#include <eventstore/postgres.hpp>

#include "devsupport/pg_session.hpp"
#include "devsupport/rfc3339.hpp"
#include "devsupport/sql_names.hpp"
#include "devsupport/uuid.hpp"
#include "support/pgbouncer.hpp"
#include "support/postgres_server.hpp"

namespace eventstore::test {

using devsupport::PgError;
using devsupport::PgResult;
using devsupport::PgRow;
using devsupport::PgRows;
using devsupport::PgSession;
using devsupport::quote_identifier;
using devsupport::rfc3339_utc;

// --- the book-lending domain of the Go tests ---------------------------------------------------------

inline constexpr std::string_view book_copy_added_to_circulation = "BookCopyAddedToCirculation";
inline constexpr std::string_view book_copy_removed_from_circulation = "BookCopyRemovedFromCirculation";
inline constexpr std::string_view book_copy_lent_to_reader = "BookCopyLentToReader";
inline constexpr std::string_view book_copy_returned_by_reader = "BookCopyReturnedByReader";

// The fake clock of the Go tests: the Unix epoch plus `seconds`.
[[nodiscard]] inline TimePoint at(std::int64_t seconds) { return TimePoint(std::chrono::seconds(seconds)); }

// A fixed UUIDv7, distinct for distinct `n` below 2^48: "0198f8b2-1c3e-7d6a-9a4b-<n in 12 hex digits>",
// the shape of the Go fixtures' ids.
[[nodiscard]] inline std::string make_uuid(std::uint64_t n) {
    constexpr std::int64_t unix_ms = 0x0198'f8b2'1c3e;
    return devsupport::uuid_v7(unix_ms, 0xd6a, 0x9a4b'0000'0000'0000ULL | (n & 0xFFFF'FFFF'FFFFULL));
}

inline constexpr std::string_view fixture_isbn = "978-1-098-10013-1";
inline constexpr std::string_view fixture_title = "Learning Domain-Driven Design";
inline constexpr std::string_view fixture_authors = "Vlad Khononov";
inline constexpr std::string_view fixture_edition = "First Edition";
inline constexpr std::string_view fixture_publisher = "O'Reilly Media, Inc.";
inline constexpr int fixture_publication_year = 2021;

// The payloads exactly as the Go serialiser writes them (keys in struct order, no spaces).
[[nodiscard]] inline std::string added_to_circulation_payload(std::string_view book_id, TimePoint t) {
    return nlohmann::ordered_json{{"EventType", book_copy_added_to_circulation},
                                  {"BookID", book_id},
                                  {"ISBN", fixture_isbn},
                                  {"Title", fixture_title},
                                  {"Authors", fixture_authors},
                                  {"Edition", fixture_edition},
                                  {"Publisher", fixture_publisher},
                                  {"PublicationYear", fixture_publication_year},
                                  {"OccurredAt", rfc3339_utc(t)}}
        .dump();
}

[[nodiscard]] inline std::string removed_from_circulation_payload(std::string_view book_id, TimePoint t) {
    return nlohmann::ordered_json{
        {"EventType", book_copy_removed_from_circulation}, {"BookID", book_id}, {"OccurredAt", rfc3339_utc(t)}}
        .dump();
}

[[nodiscard]] inline std::string lent_to_reader_payload(std::string_view book_id, std::string_view reader_id,
                                                        TimePoint t) {
    return nlohmann::ordered_json{{"EventType", book_copy_lent_to_reader},
                                  {"BookID", book_id},
                                  {"ReaderID", reader_id},
                                  {"OccurredAt", rfc3339_utc(t)}}
        .dump();
}

[[nodiscard]] inline std::string returned_by_reader_payload(std::string_view book_id, std::string_view reader_id,
                                                            TimePoint t) {
    return nlohmann::ordered_json{{"EventType", book_copy_returned_by_reader},
                                  {"BookID", book_id},
                                  {"ReaderID", reader_id},
                                  {"OccurredAt", rfc3339_utc(t)}}
        .dump();
}

// {"MessageID":…,"CausationID":…,"CorrelationID":…}
[[nodiscard]] inline std::string metadata_json(std::string_view message_id, std::string_view causation_id,
                                               std::string_view correlation_id) {
    return nlohmann::ordered_json{
        {"MessageID", message_id}, {"CausationID", causation_id}, {"CorrelationID", correlation_id}}
        .dump();
}

// The events, with empty metadata ("{}"); occurred_at is `t` (use at(n) for the fake clock).
[[nodiscard]] inline StorableEvent added_to_circulation(std::string_view book_id, TimePoint t) {
    return build_storable_event_with_empty_metadata(std::string(book_copy_added_to_circulation), t,
                                                    added_to_circulation_payload(book_id, t));
}
[[nodiscard]] inline StorableEvent removed_from_circulation(std::string_view book_id, TimePoint t) {
    return build_storable_event_with_empty_metadata(std::string(book_copy_removed_from_circulation), t,
                                                    removed_from_circulation_payload(book_id, t));
}
[[nodiscard]] inline StorableEvent lent_to_reader(std::string_view book_id, std::string_view reader_id, TimePoint t) {
    return build_storable_event_with_empty_metadata(std::string(book_copy_lent_to_reader), t,
                                                    lent_to_reader_payload(book_id, reader_id, t));
}
[[nodiscard]] inline StorableEvent returned_by_reader(std::string_view book_id, std::string_view reader_id,
                                                      TimePoint t) {
    return build_storable_event_with_empty_metadata(std::string(book_copy_returned_by_reader), t,
                                                    returned_by_reader_payload(book_id, reader_id, t));
}

// "All event types for one book": the 4 types, any of BookID.
[[nodiscard]] inline Filter book_filter(std::string_view book_id) {
    return build_event_filter()
        .matching()
        .any_event_type_of(book_copy_added_to_circulation, book_copy_lent_to_reader, book_copy_returned_by_reader,
                           book_copy_removed_from_circulation)
        .and_any_predicate_of(P("BookID", std::string(book_id)))
        .finalize();
}

// "Book or reader": the 4 types, any of BookID and ReaderID.
[[nodiscard]] inline Filter book_or_reader_filter(std::string_view book_id, std::string_view reader_id) {
    return build_event_filter()
        .matching()
        .any_event_type_of(book_copy_added_to_circulation, book_copy_lent_to_reader, book_copy_returned_by_reader,
                           book_copy_removed_from_circulation)
        .and_any_predicate_of(P("BookID", std::string(book_id)), P("ReaderID", std::string(reader_id)))
        .finalize();
}

// --- errors --------------------------------------------------------------------------------------------

// The eventstore::Error `action` throws, or nullopt when it returns. Other exceptions propagate (and
// fail the test).
template <typename Action>
[[nodiscard]] std::optional<Error> thrown_error(Action&& action) {
    try {
        std::forward<Action>(action)();
    } catch (const Error& e) {
        return e;
    }
    return std::nullopt;
}

// "code <- cause [SQLSTATE]: what()", for failure messages.
[[nodiscard]] inline std::string describe(const Error& e) {
    std::string out(name(e.code()));
    if (e.cause()) {
        out += " <- " + std::string(name(*e.cause()));
    }
    if (!e.sqlstate().empty()) {
        out += " [" + e.sqlstate() + "]";
    }
    return out + ": " + e.what();
}

[[nodiscard]] inline std::string describe(const std::optional<Error>& e) {
    return e ? describe(*e) : std::string("(nothing thrown)");
}

// --- names ----------------------------------------------------------------------------------------------

// A table name unique within this process (hence within its test database): prefix, a counter and the
// current test's name, lowercased, [a-z0-9_] only, at most 50 bytes.
[[nodiscard]] inline std::string unique_table_name(std::string_view prefix) {
    static std::atomic<unsigned> counter{0};
    std::string name = std::string(prefix) + std::to_string(++counter);
    if (const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info()) {
        name += '_';
        for (const char c : std::string(info->test_suite_name()) + "_" + info->name()) {
            const auto u = static_cast<unsigned char>(c);
            if (std::isalnum(u) != 0 && u < 0x80) {
                name += static_cast<char>(std::tolower(u));
            } else if (name.back() != '_') {
                name += '_';
            }
        }
    }
    if (name.size() > 50) {
        name.resize(50);
    }
    while (name.back() == '_') {
        name.pop_back();
    }
    return name;
}

// Polls `attempt` until it returns true or `limit` passes; what it throws meanwhile counts as "not yet"
// (a table that has not reached a replica, a server still starting).
template <typename Attempt>
bool eventually(Attempt attempt, std::chrono::seconds limit = std::chrono::seconds(30)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
        try {
            if (attempt()) {
                return true;
            }
        } catch (const std::exception&) {
            // not yet
        }
        if (std::chrono::steady_clock::now() >= until) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

// --- the fixtures ----------------------------------------------------------------------------------------

// A test's database and a raw session on it; JSON and row checks through PostgreSQL.
class DatabaseTest : public ::testing::Test {
protected:
    void SetUp() override { m_conninfo = database(); }

    // The database of the test: this process's own (shared by its tests). Override to give each test
    // a fresh one, e.g. `return postgres().fresh_database("migrate");`.
    [[nodiscard]] virtual std::string database() { return test_database(); }

    [[nodiscard]] const std::string& conninfo() const { return m_conninfo; }

    // A raw session on the test database, opened on first use and kept for the test.
    PgSession& raw() {
        if (!m_raw) {
            m_raw.emplace(m_conninfo);
        }
        return *m_raw;
    }

    // Rows in `table` (an SQL name, quoted as needed).
    std::int64_t count_rows(const std::string& sql_table_name) {
        return std::stoll(raw().scalar("SELECT count(*) FROM " + sql_table_name).value_or("-1"));
    }

    // JSON equality as PostgreSQL's jsonb sees it (key order and whitespace do not matter).
    ::testing::AssertionResult json_equal(const std::string& actual, const std::string& expected) {
        if (raw().exec("SELECT $1::jsonb = $2::jsonb", {actual, expected}).value(0, 0) == "t") {
            return ::testing::AssertionSuccess();
        }
        return ::testing::AssertionFailure()
               << "JSON differs:\n  actual:   " << abbreviated(actual) << "\n  expected: " << abbreviated(expected);
    }

    // The text PostgreSQL makes of `json` as jsonb.
    std::string jsonb_text(const std::string& json) { return raw().exec("SELECT $1::jsonb::text", {json}).value(0, 0); }

    // Type, time, payload and metadata as decoded content (JSON-equal), and the sequence number.
    ::testing::AssertionResult same_event(const StorableEvent& actual, const StorableEvent& expected,
                                          SequenceNumber expected_sequence_number) {
        if (actual.sequence_number != expected_sequence_number) {
            return ::testing::AssertionFailure()
                   << "sequence number " << actual.sequence_number << ", expected " << expected_sequence_number;
        }
        if (actual.event_type != expected.event_type) {
            return ::testing::AssertionFailure()
                   << "event type \"" << actual.event_type << "\", expected \"" << expected.event_type << "\"";
        }
        if (actual.occurred_at != expected.occurred_at) {
            return ::testing::AssertionFailure() << "occurred_at " << rfc3339_utc(actual.occurred_at) << ", expected "
                                                 << rfc3339_utc(expected.occurred_at);
        }
        if (auto r = json_equal(actual.payload_json, expected.payload_json); !r) {
            return ::testing::AssertionFailure() << "payload: " << r.message();
        }
        if (auto r = json_equal(actual.metadata_json, expected.metadata_json); !r) {
            return ::testing::AssertionFailure() << "metadata: " << r.message();
        }
        return ::testing::AssertionSuccess();
    }

private:
    static std::string abbreviated(const std::string& s) {
        return s.size() <= 300 ? s : s.substr(0, 300) + "... (" + std::to_string(s.size()) + " bytes)";
    }

    std::string m_conninfo;
    std::optional<PgSession> m_raw;
};

// --- the adapter matrix -------------------------------------------------------------------------------
// A test binary declared with ADAPTERS in tests/CMakeLists.txt runs once more per database adapter, with
// EVENTSTORE_TEST_ADAPTER naming it: StoreTest's store then goes through that adapter instead of the
// native pool (integration/adapters.cpp registers the factories).

// A store through an adapter, with what must outlive it (the adapter's pool).
struct AdapterStore {
    std::shared_ptr<void> handle;
    std::unique_ptr<postgres::EventStore> store;
};
using AdapterFactory =
    std::function<AdapterStore(const std::string& conninfo, std::size_t sessions, const postgres::StoreOptions&)>;

inline std::map<std::string, AdapterFactory>& adapter_factories() {
    static std::map<std::string, AdapterFactory> factories;
    return factories;
}

// The matrix's round through PgBouncer in transaction pooling mode (support/pgbouncer.hpp): the native
// pool with PoolOptions::behind_transaction_pooler, its connections going to the process's PgBouncer.
inline constexpr std::string_view pooler_round = "pgbouncer";

// The adapter of this run ("pgbouncer" for the pooler round), or "" for the native pool.
inline std::string test_adapter() {
    const char* name = std::getenv("EVENTSTORE_TEST_ADAPTER"); // NOLINT(concurrency-mt-unsafe): read-only
    return name != nullptr ? name : "";
}

// A migrated store on tables of the test's own (unique names) in the test database.
class StoreTest : public DatabaseTest {
protected:
    void SetUp() override {
        DatabaseTest::SetUp();
        m_table = unique_table_name("ev");
        m_snapshot_table = "sn" + m_table.substr(2);
        if (test_adapter() == pooler_round) {
            // The pooler round: every store of the test on a pool of client connections to PgBouncer.
            postgres::PoolOptions options = pool_options();
            options.behind_transaction_pooler = true;
            m_pool = postgres::ConnectionPool::create(pgbouncer().through(conninfo()), options);
            m_store = make_store(m_pool);
        } else if (const std::string adapter = test_adapter(); !adapter.empty()) {
            m_pool = postgres::ConnectionPool::create(conninfo(), pool_options());
            const auto factory = adapter_factories().find(adapter);
            ASSERT_NE(factory, adapter_factories().end())
                << "EVENTSTORE_TEST_ADAPTER=" << adapter << ", which this test binary does not link";
            postgres::StoreOptions options;
            options.table_name = m_table;
            options.snapshot_table_name = m_snapshot_table;
            AdapterStore made = factory->second(conninfo(), pool_options().max_connections, options);
            m_adapter_handle = std::move(made.handle);
            m_store = std::move(made.store);
        } else {
            m_pool = postgres::ConnectionPool::create(conninfo(), pool_options());
            m_store = make_store(m_pool);
        }
        m_store->migrate();
    }

    // Override to give the fixture's pool other options.
    [[nodiscard]] virtual postgres::PoolOptions pool_options() const { return {}; }

    // Another store on the fixture's tables (not migrated again), e.g. over another pool.
    [[nodiscard]] std::unique_ptr<postgres::EventStore>
    make_store(std::shared_ptr<postgres::ConnectionPool> pool) const {
        return postgres::new_event_store_from_pool(std::move(pool), postgres::with_table_name(m_table),
                                                   postgres::with_snapshot_table_name(m_snapshot_table));
    }

    [[nodiscard]] postgres::EventStore& store() const { return *m_store; }
    [[nodiscard]] const std::shared_ptr<postgres::ConnectionPool>& pool() const { return m_pool; }
    // Unquoted names (lowercase, [a-z0-9_], so equal to their quoted forms' contents).
    [[nodiscard]] const std::string& table() const { return m_table; }
    [[nodiscard]] const std::string& snapshot_table() const { return m_snapshot_table; }

    // The sequence that numbers the fixture's events, as an SQL name.
    std::string sequence_of_table() {
        return raw()
            .exec("SELECT pg_get_serial_sequence($1, 'sequence_number')",
                  {std::optional<std::string>(quote_identifier(table()))})
            .value(0, 0);
    }

    // Rows in the fixture's events or snapshots table, or in `table` (an SQL name, quoted as needed).
    using DatabaseTest::count_rows;
    std::int64_t count_rows() { return count_rows(quote_identifier(m_table)); }
    std::int64_t count_snapshot_rows() { return count_rows(quote_identifier(m_snapshot_table)); }

    // Appends the events in order whatever the store holds (expected = the current global maximum).
    void append_unconditionally(std::span<const StorableEvent> events) {
        const SequenceNumber max = store().query(Filter()).max_sequence_number;
        store().append(Filter(), max, events);
    }
    void append_unconditionally(const StorableEvent& event) {
        append_unconditionally(std::span<const StorableEvent>(&event, 1));
    }

private:
    std::string m_table;
    std::string m_snapshot_table;
    std::shared_ptr<postgres::ConnectionPool> m_pool;
    std::shared_ptr<void> m_adapter_handle; // destroyed after the store
    std::unique_ptr<postgres::EventStore> m_store;
};

} // namespace eventstore::test

#endif
