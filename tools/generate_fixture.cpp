// Generates the benchmark fixture of docs/performance.md: book-lending events
// mixed with many "noise" event types, written through the library (migrate, then import_events in
// batches), deterministic for a given seed, ending with VACUUM ANALYZE.
//
//   generate_fixture --dsn "host=/tmp/x port=5499 dbname=fixture_2500000" --events 2500000 --table events
//
// Of N events, 40% are book-lending events: N/10 books with exactly 4 events each (added, lent,
// returned, then lent again or removed); the rest are "SomethingHasHappened<i mod 50000>" events. The
// two kinds are interleaved in time order (a fake clock, 2 ms per event), and each book's four events
// are spread over several thousand neighbouring events, as a live system would write them. Book events
// carry the DCB tag "book:<BookID>", and lendings and returns "reader:<ReaderID>" too; noise has no tags.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <iostream>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <libpq-fe.h>

#include <eventstore/eventstore.hpp>
#include <eventstore/postgres.hpp>

#include "devsupport/pg_session.hpp"
#include "devsupport/rfc3339.hpp"
#include "devsupport/sql_names.hpp"
#include "devsupport/uuid.hpp"

namespace {

using eventstore::StorableEvent;
using eventstore::TimePoint;
using eventstore::devsupport::PgSession;
using eventstore::devsupport::quote_table;
using eventstore::devsupport::rfc3339_utc;
using eventstore::devsupport::uuid_v7;

constexpr std::uint64_t noise_type_count = 50'000;
constexpr std::size_t open_books_target = 1'000;
constexpr std::size_t metadata_pool_size = 100;
constexpr std::int64_t fixture_epoch_ms = 1'704'067'200'000; // 2024-01-01T00:00:00Z
constexpr std::int64_t clock_step_us = 2'000;                // 2 ms per event, like the Go generator

struct Options {
    std::string dsn;
    std::uint64_t events = 2'500'000;
    std::string table = "events";
    std::uint64_t seed = 20'250'809;
    std::size_t batch = 50'000;
};

[[noreturn]] void usage(const std::string& problem) {
    if (!problem.empty()) {
        std::cerr << "generate_fixture: " << problem << "\n";
    }
    std::cerr << "usage: generate_fixture [--dsn CONNINFO] [--events N (2500000)] [--table NAME (events)]\n"
                 "                        [--seed S] [--batch B (50000)]\n"
                 "  N events: N/10 books of 4 events each (40%), the rest noise of 50,000 types.\n"
                 "  The table must be empty (or missing); migrate() creates it.\n";
    std::exit(2);
}

std::uint64_t parse_count(const std::string& flag, const std::string& text) {
    try {
        std::size_t used = 0;
        const unsigned long long v = std::stoull(text, &used);
        if (used != text.size()) {
            usage(flag + ": not a number: " + text);
        }
        return v;
    } catch (const std::exception&) {
        usage(flag + ": not a number: " + text);
    }
}

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage(arg + " needs a value");
            }
            return argv[++i];
        };
        if (arg == "--dsn") {
            o.dsn = value();
        } else if (arg == "--events") {
            o.events = parse_count(arg, value());
        } else if (arg == "--table") {
            o.table = value();
        } else if (arg == "--seed") {
            o.seed = parse_count(arg, value());
        } else if (arg == "--batch") {
            o.batch = static_cast<std::size_t>(parse_count(arg, value()));
        } else if (arg == "--help" || arg == "-h") {
            usage("");
        } else {
            usage("unknown argument " + arg);
        }
    }
    if (o.table.empty()) {
        usage("--table is empty");
    }
    if (o.batch == 0) {
        usage("--batch must be positive");
    }
    return o;
}

// One book's remaining life: its ID, how many of its 4 events were written, its current reader.
struct OpenBook {
    std::string book_id;
    std::string reader_id;
    int written = 0;
    bool lent_again = false; // the fourth event: lent again (true) or removed from circulation
};

class FixtureGenerator {
public:
    FixtureGenerator(std::uint64_t events, std::uint64_t seed)
        : m_total(events), m_books(events / 10), m_book_events(4 * m_books), m_rng(seed) {
        std::mt19937_64 pool_rng(seed ^ 0x5eedU);
        for (std::size_t i = 0; i < metadata_pool_size; ++i) {
            m_metadata_ids.push_back(uuid_v7(fixture_epoch_ms, pool_rng));
        }
    }

    [[nodiscard]] std::uint64_t total() const noexcept { return m_total; }
    [[nodiscard]] std::uint64_t books() const noexcept { return m_books; }
    [[nodiscard]] std::uint64_t book_events() const noexcept { return m_book_events; }
    [[nodiscard]] std::uint64_t emitted() const noexcept { return m_emitted; }

    // The next event in time order.
    StorableEvent next() {
        const std::int64_t now_us = fixture_epoch_ms * 1000 + static_cast<std::int64_t>(m_emitted) * clock_step_us;
        const std::uint64_t remaining = m_total - m_emitted;
        const std::uint64_t book_remaining = m_book_events - m_book_emitted;
        ++m_emitted;
        // A book event with probability (book events left) / (events left): both kinds run out together.
        std::uniform_int_distribution<std::uint64_t> pick(0, remaining - 1);
        if (book_remaining > 0 && pick(m_rng) < book_remaining) {
            ++m_book_emitted;
            return book_event(now_us);
        }
        return noise_event(now_us);
    }

private:
    std::string metadata() {
        std::uniform_int_distribution<std::size_t> pick(0, m_metadata_ids.size() - 1);
        std::string m = "{\"MessageID\":\"";
        m += m_metadata_ids[pick(m_rng)];
        m += "\",\"CausationID\":\"";
        m += m_metadata_ids[pick(m_rng)];
        m += "\",\"CorrelationID\":\"";
        m += m_metadata_ids[pick(m_rng)];
        m += "\"}";
        return m;
    }

    static TimePoint time_point(std::int64_t unix_us) {
        return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(unix_us)));
    }

    StorableEvent noise_event(std::int64_t now_us) {
        const std::uint64_t n = m_noise_emitted++;
        StorableEvent e;
        e.event_type = "SomethingHasHappened" + std::to_string(n % noise_type_count);
        e.occurred_at = time_point(now_us);
        e.payload_json = "{\"ID\":\"" + uuid_v7(now_us / 1000, m_rng) +
                         "\",\"Description\":\"lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do "
                         "eiusmod tempor incididunt ut labore et dolore magna aliqua\",\"OccurredAt\":\"" +
                         rfc3339_utc(now_us) + "\"}";
        e.metadata_json = metadata();
        return e;
    }

    StorableEvent book_event(std::int64_t now_us) {
        // Start a new book while fewer than the target are open (or none is); otherwise advance a random
        // open one. The counts add up: every book needs exactly 4 of the book slots.
        const bool can_start = m_books_started < m_books;
        if (can_start && (m_open.size() < open_books_target || m_open.empty())) {
            ++m_books_started;
            OpenBook b;
            b.book_id = uuid_v7(now_us / 1000, m_rng);
            b.lent_again = (m_rng() & 1U) != 0;
            b.written = 1;
            StorableEvent e = added_event(b.book_id, now_us);
            m_open.push_back(std::move(b));
            return e;
        }
        std::uniform_int_distribution<std::size_t> pick(0, m_open.size() - 1);
        const std::size_t i = pick(m_rng);
        OpenBook& b = m_open[i];
        StorableEvent e;
        switch (b.written) {
        case 1:
            b.reader_id = uuid_v7(now_us / 1000, m_rng);
            e = reader_event("BookCopyLentToReader", b.book_id, b.reader_id, now_us);
            break;
        case 2:
            e = reader_event("BookCopyReturnedByReader", b.book_id, b.reader_id, now_us);
            break;
        default:
            if (b.lent_again) {
                b.reader_id = uuid_v7(now_us / 1000, m_rng);
                e = reader_event("BookCopyLentToReader", b.book_id, b.reader_id, now_us);
            } else {
                e = removed_event(b.book_id, now_us);
            }
            break;
        }
        if (++b.written == 4) {
            std::swap(m_open[i], m_open.back());
            m_open.pop_back();
        }
        return e;
    }

    StorableEvent added_event(const std::string& book_id, std::int64_t now_us) {
        StorableEvent e;
        e.event_type = "BookCopyAddedToCirculation";
        e.occurred_at = time_point(now_us);
        e.payload_json = "{\"EventType\":\"BookCopyAddedToCirculation\",\"BookID\":\"" + book_id +
                         "\",\"ISBN\":\"978-1-098-10013-1\",\"Title\":\"Learning Domain-Driven Design\","
                         "\"Authors\":\"Vlad Khononov\",\"Edition\":\"First Edition\","
                         "\"Publisher\":\"O'Reilly Media, Inc.\",\"PublicationYear\":2021,\"OccurredAt\":\"" +
                         rfc3339_utc(now_us) + "\"}";
        e.metadata_json = metadata();
        e.tags = {"book:" + book_id};
        return e;
    }

    StorableEvent reader_event(const char* type, const std::string& book_id, const std::string& reader_id,
                               std::int64_t now_us) {
        StorableEvent e;
        e.event_type = type;
        e.occurred_at = time_point(now_us);
        e.payload_json = std::string("{\"EventType\":\"") + type + "\",\"BookID\":\"" + book_id + "\",\"ReaderID\":\"" +
                         reader_id + "\",\"OccurredAt\":\"" + rfc3339_utc(now_us) + "\"}";
        e.metadata_json = metadata();
        e.tags = {"book:" + book_id, "reader:" + reader_id};
        return e;
    }

    StorableEvent removed_event(const std::string& book_id, std::int64_t now_us) {
        StorableEvent e;
        e.event_type = "BookCopyRemovedFromCirculation";
        e.occurred_at = time_point(now_us);
        e.payload_json = "{\"EventType\":\"BookCopyRemovedFromCirculation\",\"BookID\":\"" + book_id +
                         "\",\"OccurredAt\":\"" + rfc3339_utc(now_us) + "\"}";
        e.metadata_json = metadata();
        e.tags = {"book:" + book_id};
        return e;
    }

    std::uint64_t m_total;
    std::uint64_t m_books;
    std::uint64_t m_book_events;
    std::uint64_t m_emitted = 0;
    std::uint64_t m_book_emitted = 0;
    std::uint64_t m_noise_emitted = 0;
    std::uint64_t m_books_started = 0;
    std::mt19937_64 m_rng;
    std::vector<std::string> m_metadata_ids;
    std::vector<OpenBook> m_open;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

int main(int argc, char** argv) {
    const Options options = parse_options(argc, argv);
    try {
        namespace pg = eventstore::postgres;
        auto pool = pg::ConnectionPool::create(options.dsn, pg::PoolOptions{2, std::chrono::milliseconds(60'000), {}});
        auto store = pg::new_event_store_from_pool(pool, pg::with_table_name(options.table));
        store->migrate();

        PgSession raw(options.dsn);
        const std::string table = quote_table(options.table);
        if (raw.exec("SELECT EXISTS (SELECT 1 FROM " + table + ")").value(0, 0) == "t") {
            std::cerr << "generate_fixture: " << options.table
                      << " already holds events; drop it (or the database) to generate a new fixture\n";
            return 1;
        }

        FixtureGenerator gen(options.events, options.seed);
        std::cout << "generate_fixture: " << gen.total() << " events into " << options.table << ": " << gen.books()
                  << " books x 4 = " << gen.book_events() << " book-lending events, " << gen.total() - gen.book_events()
                  << " noise events of " << std::min<std::uint64_t>(noise_type_count, gen.total() - gen.book_events())
                  << " types; seed " << options.seed << ", batches of " << options.batch << std::endl;

        const auto start = std::chrono::steady_clock::now();
        std::vector<StorableEvent> batch;
        batch.reserve(options.batch);
        const eventstore::Context ctx;
        double in_import = 0; // seconds inside import_events, without generating the events
        while (gen.emitted() < gen.total()) {
            batch.clear();
            while (batch.size() < options.batch && gen.emitted() < gen.total()) {
                batch.push_back(gen.next());
            }
            const auto batch_start = std::chrono::steady_clock::now();
            store->import_events(ctx, std::span<const StorableEvent>(batch));
            const double batch_seconds = seconds_since(batch_start);
            in_import += batch_seconds;
            const double elapsed = seconds_since(start);
            std::printf("generate_fixture: %llu/%llu events (%.0f%%), %.0f events/s overall, %.0f events/s "
                        "this batch, %.1f s\n",
                        static_cast<unsigned long long>(gen.emitted()), static_cast<unsigned long long>(gen.total()),
                        100.0 * static_cast<double>(gen.emitted()) / static_cast<double>(gen.total()),
                        static_cast<double>(gen.emitted()) / elapsed, static_cast<double>(batch.size()) / batch_seconds,
                        elapsed);
            std::fflush(stdout);
        }
        const double import_seconds = seconds_since(start);

        // A freshly loaded table has an empty visibility map and no statistics; autovacuum would fix
        // both at a moment of its choosing (during a benchmark). Do it now, deterministically.
        const auto vacuum_start = std::chrono::steady_clock::now();
        (void)raw.exec("VACUUM (ANALYZE) " + table);
        const double vacuum_seconds = seconds_since(vacuum_start);
        const auto per_second = [&](double seconds) {
            return seconds > 0 ? static_cast<double>(gen.total()) / seconds : 0.0;
        };
        std::printf("generate_fixture: done: %llu events in %.1f s (%.0f events/s; import_events alone %.1f s, "
                    "%.0f events/s), VACUUM ANALYZE %.1f s\n",
                    static_cast<unsigned long long>(gen.total()), import_seconds, per_second(import_seconds), in_import,
                    per_second(in_import), vacuum_seconds);
    } catch (const std::exception& e) {
        std::cerr << "generate_fixture: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
