// book_lending: many lenders, one set of book copies, and an event store that keeps them honest.
//
// Every lend and return is a query-decide-append round on a dynamic event stream (the copy's events,
// plus the reader's loans for a lend). Lenders never lock anything themselves; the store's append
// refuses to write when an event matching the boundary arrived after the query, and the lender then
// decides again on fresh facts. The run ends by replaying the log and checking that this was enough.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <eventstore/postgres.hpp>

#include "catalogue.hpp"
#include "devsupport/uuid.hpp"
#include "domain.hpp"
#include "lenders.hpp"
#include "lending_desk.hpp"
#include "options.hpp"
#include "store_metrics.hpp"
#include "telemetry.hpp"

namespace {

using namespace book_lending;
using Seconds = std::chrono::duration<double>;

// Where the connection settings come from, without echoing a conninfo that may hold a password.
std::string describe_connection(const Options& options) {
    if (options.dsn) {
        return "the --dsn connection string";
    }
    std::string text = "libpq defaults";
    std::string vars;
    for (const char* name : {"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"}) {
        if (const char* value = std::getenv(name); value != nullptr && *value != '\0') {
            vars += (vars.empty() ? "" : ", ") + std::string(name) + "=" + value;
        }
    }
    return vars.empty() ? text : text + " (" + vars + ")";
}

// Copies on loan per reader, a projection kept by a subscription's thread and read by the main one.
class LiveLoans {
public:
    void apply(eventstore::StorableEvent&& e) {
        const std::vector<Fact> facts = to_facts(eventstore::StorableEvents{std::move(e)});
        const std::lock_guard<std::mutex> lock(m_mutex);
        for (const Fact& fact : facts) {
            if (fact.kind == Fact::Kind::lent) {
                ++m_loans[fact.reader_id];
            } else if (fact.kind == Fact::Kind::returned) {
                --m_loans[fact.reader_id];
            }
        }
        ++m_events;
    }
    [[nodiscard]] std::uint64_t events() const {
        const std::lock_guard<std::mutex> lock(m_mutex);
        return m_events;
    }
    [[nodiscard]] std::map<std::string, int> loans() const;

private:
    mutable std::mutex m_mutex;
    std::map<std::string, int> m_loans;
    std::uint64_t m_events = 0;
};

std::map<std::string, int> without_zeros(std::map<std::string, int> loans) {
    for (auto it = loans.begin(); it != loans.end();) {
        it = it->second == 0 ? loans.erase(it) : std::next(it);
    }
    return loans;
}

std::map<std::string, int> LiveLoans::loans() const {
    const std::lock_guard<std::mutex> lock(m_mutex);
    return without_zeros(m_loans);
}

void print_row(std::ostream& out, const std::string& label, const std::string& value) {
    out << "  " << std::left << std::setw(22) << label << value << '\n';
}

std::string fixed(double value, int decimals) {
    std::ostringstream text;
    text << std::fixed << std::setprecision(decimals) << value;
    return text.str();
}

// "copy already lent 120, nothing to return 160, ...": the refusals that happened, most common first.
std::string describe_refusals(const WorkloadStats& stats) {
    std::vector<std::pair<std::uint64_t, std::string>> parts;
    const auto add = [&parts](std::uint64_t count, const char* label) {
        if (count > 0) {
            parts.emplace_back(count, label);
        }
    };
    add(stats.refusals.at(static_cast<std::size_t>(Refusal::copy_already_lent)), "copy already lent");
    add(stats.refusals.at(static_cast<std::size_t>(Refusal::reader_at_loan_limit)), "reader at limit");
    add(stats.nothing_to_return, "reader held nothing to return");
    // Two lenders serving the same reader at once: the other one returned the copy first.
    add(stats.refusals.at(static_cast<std::size_t>(Refusal::copy_not_lent_to_reader)), "copy returned meanwhile");
    add(stats.refusals.at(static_cast<std::size_t>(Refusal::copy_not_in_circulation)), "copy not in circulation");
    add(stats.refusals.at(static_cast<std::size_t>(Refusal::copy_already_added)), "copy already added");
    std::stable_sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string text;
    for (const auto& [count, label] : parts) {
        text += (text.empty() ? "" : ", ") + label + " " + std::to_string(count);
    }
    return text.empty() ? "none" : text;
}

int run(const Options& options) {
    auto& out = std::cout;
    const std::uint64_t operations = options.seconds ? 0 : options.operations.value_or(Options::default_operations);

    out << "book_lending: " << options.lenders << " lenders compete for " << options.copies << " copies among "
        << options.readers << " readers (at most " << options.max_loans_per_reader << " copies per reader)\n";
    out << "  connecting with " << describe_connection(options) << ", table \"" << options.table << "\"\n";

    // The store reports every call to its metrics hook (docs/observability.md): the summary below
    // prints what it saw, and --metrics-port serves it to Prometheus, with the pool's gauges. Its log
    // records go to spdlog.
    auto metrics = std::make_shared<StoreMetrics>();
    const Telemetry telemetry(options, metrics, out);
    // One connection per lender, plus one so that the audit never waits behind a straggler.
    eventstore::postgres::PoolOptions pool_options;
    pool_options.max_connections = options.lenders + 1;
    pool_options.metrics = telemetry.metrics();
    auto pool = eventstore::postgres::ConnectionPool::create(options.dsn.value_or(""), pool_options);
    std::vector<eventstore::postgres::Option> store_options = telemetry.store_options();
    store_options.push_back(eventstore::postgres::with_table_name(options.table));
    auto store = eventstore::postgres::new_event_store_from_pool(pool, store_options);
    store->migrate();
    out << "  schema migrated (idempotent; safe with other processes migrating at once)\n";

    // A fresh run ID, fresh copies and fresh readers: the audit below checks this run's events only, so
    // the table need not be emptied and other runs' events are never touched.
    const std::string run_id = eventstore::devsupport::new_uuid_v7();
    out << "  run " << run_id << ": fresh copy and reader IDs; events of earlier runs stay in the table and"
        << " are not part of the check\n";

    // A live projection beside the lenders: copies on loan per reader, kept by a durable subscription
    // (named for this run, so that it starts at the log's current end) that follows the log
    // (docs/subscriptions.md). At the end it must equal the same projection rebuilt from the log.
    const eventstore::SequenceNumber start =
        store->query(eventstore::Context(), all_book_events(), {0, true, 1}).max_sequence_number;
    LiveLoans live;
    eventstore::postgres::SubscribeOptions projection_options;
    projection_options.name = "book-lending-loans-" + run_id;
    std::stop_source stop_projection;
    std::exception_ptr projection_error;
    std::thread projection([&] {
        try {
            store->subscribe(
                eventstore::Context().with_stop_token(stop_projection.get_token()), all_book_events(), start,
                [&live](eventstore::StorableEvent&& e) { live.apply(std::move(e)); }, projection_options);
        } catch (...) {
            projection_error = std::current_exception();
        }
    });

    const DeskPolicy policy{options.max_loans_per_reader, options.max_retries, std::chrono::seconds(10)};
    LendingDesk desk(*store, policy, run_id);

    const auto setup_start = std::chrono::steady_clock::now();
    const std::vector<BookCopy> copies = sample_copies(options.copies);
    std::set<std::string> book_id_set;
    std::set<std::string> titles;
    for (const BookCopy& copy : copies) {
        const CommandResult added = desk.add_copy(copy);
        if (added.outcome != CommandResult::Outcome::done) {
            throw std::runtime_error("could not add copy " + copy.book_id + " to circulation");
        }
        book_id_set.insert(copy.book_id);
        titles.insert(copy.title);
    }
    out << "  added " << copies.size() << " copies of " << titles.size() << " titles to circulation in "
        << fixed(Seconds(std::chrono::steady_clock::now() - setup_start).count(), 3) << " s\n";

    Workload workload;
    for (const BookCopy& copy : copies) {
        workload.book_ids.push_back(copy.book_id);
    }
    for (std::size_t i = 0; i < options.readers; ++i) {
        workload.reader_ids.push_back(eventstore::devsupport::new_uuid_v7());
    }
    workload.lenders = options.lenders;
    if (options.seconds) {
        workload.duration = std::chrono::duration_cast<std::chrono::steady_clock::duration>(Seconds(*options.seconds));
        out << "  lending for " << *options.seconds << " s ...\n";
    } else {
        workload.operations = operations;
        out << "  lending: " << operations << " lend/return attempts ...\n";
    }
    out << std::flush;

    const WorkloadStats stats = run_lenders(desk, workload);

    // The projection is done once it has delivered the log's newest book event (10 s at most).
    const auto lenders_done = std::chrono::steady_clock::now();
    const eventstore::SequenceNumber end =
        store->query(eventstore::Context(), all_book_events(), {0, true, 1}).max_sequence_number;
    try {
        store->wait_until_processed(projection_options.name, end,
                                    eventstore::Context().with_timeout(std::chrono::seconds(10)));
    } catch (const eventstore::Error& e) {
        out << "  the live projection did not catch up: " << e.what() << '\n';
    }
    const double projection_lag_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - lenders_done).count();
    stop_projection.request_stop();
    projection.join();

    // The audit: replay every book event in the table, oldest first, for this run's copies.
    const std::vector<Fact> log = to_facts(store->query(all_book_events()).events);
    const AuditReport report = audit(log, book_id_set, options.max_loans_per_reader);

    // What the log holds must be exactly what the lenders were told they wrote: no lost append, and
    // no event written behind a failure.
    std::vector<std::string> mismatches;
    const auto expect = [&mismatches](const char* what, std::uint64_t in_log, std::uint64_t reported) {
        if (in_log != reported) {
            mismatches.push_back(std::string(what) + ": " + std::to_string(in_log) + " in the log, " +
                                 std::to_string(reported) + " reported by the lenders");
        }
    };
    expect("copies added", report.added, copies.size());
    expect("lends", report.lent, stats.lends);
    expect("returns", report.returned, stats.returns);
    // The live projection against the same projection rebuilt from the log.
    std::map<std::string, int> rebuilt;
    for (const Fact& fact : log) {
        if (fact.sequence_number > start && fact.kind == Fact::Kind::lent) {
            ++rebuilt[fact.reader_id];
        } else if (fact.sequence_number > start && fact.kind == Fact::Kind::returned) {
            --rebuilt[fact.reader_id];
        }
    }
    if (projection_error) {
        try {
            std::rethrow_exception(projection_error);
        } catch (const std::exception& e) {
            mismatches.push_back(std::string("the live projection failed: ") + e.what());
        }
    } else if (live.loans() != without_zeros(rebuilt)) {
        mismatches.push_back("the live projection (" + std::to_string(live.events()) +
                             " events) differs from the one rebuilt from the log");
    }

    const std::uint64_t events_written = copies.size() + stats.lends + stats.returns;
    const double elapsed = Seconds(stats.elapsed).count();

    out << "\nsummary\n";
    print_row(out, "lenders", std::to_string(options.lenders));
    print_row(out, "operations",
              std::to_string(stats.operations) + " attempts (" + std::to_string(stats.lend_attempts) + " to lend, " +
                  std::to_string(stats.return_attempts) + " to return)");
    print_row(out, "successful lends", std::to_string(stats.lends));
    print_row(out, "successful returns", std::to_string(stats.returns));
    print_row(out, "refused", std::to_string(stats.refused()) + " (" + describe_refusals(stats) + ")");
    print_row(out, "conflicts", std::to_string(stats.conflicts) + " (appends refused because the boundary changed)");
    print_row(out, "retries",
              std::to_string(stats.retries) + " (gave up after " + std::to_string(options.max_retries) +
                  " retries: " + std::to_string(stats.gave_up) + ")");
    print_row(out, "events written",
              std::to_string(events_written) + " (" + std::to_string(copies.size()) + " added, " +
                  std::to_string(stats.lends) + " lent, " + std::to_string(stats.returns) + " returned)");
    print_row(out, "elapsed", fixed(elapsed, 3) + " s of lending");
    print_row(out, "appends per second",
              elapsed > 0 ? fixed(static_cast<double>(stats.lends + stats.returns) / elapsed, 1) : std::string("-"));
    print_row(out, "attempts per second",
              elapsed > 0 ? fixed(static_cast<double>(stats.operations) / elapsed, 1) : std::string("-"));
    print_row(out, "live projection",
              std::to_string(live.events()) +
                  " events delivered by subscribe, copies on loan per reader equal to "
                  "the rebuild: " +
                  (live.loans() == without_zeros(rebuilt) ? "yes" : "NO") + "; caught up " +
                  fixed(projection_lag_ms, 1) + " ms after the lenders stopped");
    print_row(out, "log checked",
              std::to_string(report.events_checked) + " events of this run (" +
                  std::to_string(report.events_in_log - report.events_checked) + " of earlier runs left alone); " +
                  std::to_string(report.copies_lent_at_end) + " copies still lent, at most " +
                  std::to_string(report.most_loans_held) + " held by one reader");
    // What the store's metrics hook saw: latencies of the calls themselves, as a dashboard would show
    // them. Its counts must agree with what the lenders were told.
    const auto show = [&](const char* name, const StoreMetrics::Summary& s) {
        print_row(out, name,
                  std::to_string(s.calls) + " calls, p50 " + fixed(s.p50_ms, 2) + " ms, p99 " + fixed(s.p99_ms, 2) +
                      " ms");
    };
    const StoreMetrics::Summary appends = metrics->summary("append", "success");
    show("store: queries", metrics->summary("query", "success"));
    show("store: appends", appends);
    print_row(out, "store: conflicts", std::to_string(metrics->conflicts()) + " (from the metrics hook)");
    if (appends.calls != events_written || metrics->conflicts() != stats.conflicts) {
        mismatches.push_back("the metrics hook saw " + std::to_string(appends.calls) + " appends and " +
                             std::to_string(metrics->conflicts()) + " conflicts, the lenders " +
                             std::to_string(events_written) + " and " + std::to_string(stats.conflicts));
    }
    out << '\n';

    bool ok = true;
    if (report.copy_invariant_holds()) {
        out << "invariant holds: every copy was lent to at most one reader at a time\n";
    } else {
        ok = false;
        out << "INVARIANT VIOLATED: " << report.copy_violations << " copy event(s) out of order\n";
    }
    if (report.reader_invariant_holds()) {
        out << "invariant holds: no reader held more than " << options.max_loans_per_reader << " copies at once\n";
    } else {
        ok = false;
        out << "INVARIANT VIOLATED: " << report.reader_violations << " loan(s) beyond the limit of "
            << options.max_loans_per_reader << " copies per reader\n";
    }
    for (const std::string& example : report.examples) {
        out << "  " << example << '\n';
    }
    for (const std::string& mismatch : mismatches) {
        ok = false;
        out << "LOG MISMATCH: " << mismatch << '\n';
    }
    if (stats.unexpected_errors > 0) {
        ok = false;
        out << "UNEXPECTED ERRORS: " << stats.unexpected_errors << " (the lenders stopped at the first)\n";
        for (const std::string& message : stats.error_messages) {
            out << "  " << message << '\n';
        }
    }
    out << (ok ? "result: OK\n" : "result: FAILED\n") << std::flush;
    telemetry.linger();
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

} // namespace

int main(int argc, char** argv) {
    const ParsedOptions parsed = parse_options(argc, argv, std::cout, std::cerr);
    if (!parsed.options) {
        return parsed.exit_code;
    }
    try {
        return run(*parsed.options);
    } catch (const eventstore::Error& e) {
        std::cerr << "book_lending: " << e.what() << " [" << eventstore::name(e.code());
        if (!e.sqlstate().empty()) {
            std::cerr << ", SQLSTATE " << e.sqlstate();
        }
        std::cerr << "]\n";
        if (e.is(eventstore::Errc::database_connection_failed)) {
            std::cerr << "book_lending: pass --dsn, set PGHOST/PGDATABASE/..., or run scripts/run-example.sh, which"
                         " starts a throwaway PostgreSQL\n";
        }
    } catch (const std::exception& e) {
        std::cerr << "book_lending: " << e.what() << '\n';
    }
    return EXIT_FAILURE;
}
