// The concurrency oracle: many threads run read-decide-append cycles on overlapping random
// boundaries; afterwards the final log is checked against what every call saw and expected.
//
// For every successful append: the greatest sequence number among the events before it that match
// its filter equals the maximum it decided on, and no other append's matching event sits between
// its own events. Every conflicting append left nothing. For every query: the events of the final
// log that match its filter, up to the maximum it returned, are exactly the events it returned (no
// event became visible later below a maximum already reported).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixture.hpp"
#include "oracle.hpp"

namespace {

using namespace eventstore::test::oracle;
using eventstore::build_event_filter;
using eventstore::Filter;
using eventstore::P;

class ConcurrencyOracle : public eventstore::test::StoreTest {
protected:
    [[nodiscard]] eventstore::postgres::PoolOptions pool_options() const override {
        return {.max_connections = static_cast<std::size_t>(std::max(16, thread_count))};
    }
};

TEST_F(ConcurrencyOracle, OverlappingBoundariesNeverLoseAConflictOrSkipAnEvent) {
    std::atomic<int> conflicts{0};
    std::atomic<int> failures{0};
    int successes = 0;
    int violations = 0;
    std::size_t appends = 0;
    std::size_t queries = 0;
    std::size_t events = 0;
    const auto started = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration checking{};
    int round = 0;
    for (; round < round_count; ++round) {
        const Round records = run_round(store(), round, conflicts, failures);
        ASSERT_EQ(failures.load(), 0);
        const auto checked = std::chrono::steady_clock::now();
        const auto log = round_log(store(), round);
        violations += check_round(records, decode_all(log), successes);
        appends += records.appends.size();
        queries += records.queries.size();
        events += log.size();
        checking += std::chrono::steady_clock::now() - checked;
    }
    const auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };
    std::cout << "oracle: " << appends << " appends by " << thread_count << " threads in " << round
              << (round == 1 ? " round: " : " rounds: ") << successes << " successful, " << conflicts.load()
              << " conflicts; " << queries << " queries checked; " << events << " events; " << violations
              << " violations; " << seconds(std::chrono::steady_clock::now() - started - checking) << " s running, "
              << seconds(checking) << " s checking\n";
    EXPECT_EQ(violations, 0) << "the oracle found violations (the first 20 are reported above)";

    // The run must have exercised both outcomes, or it proved nothing.
    EXPECT_GT(successes, static_cast<int>(appends) / 10);
    EXPECT_GT(conflicts.load(), 0);
}

TEST_F(ConcurrencyOracle, DisjointBoundariesNeverConflict) {
    std::atomic<int> conflicts{0};
    std::atomic<int> appended{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            const std::string mine = "book-" + std::to_string(t);
            // The same event types and a shared payload member for every thread: only the boundary's own
            // key differs, so any needless serialisation or false conflict would show.
            const Filter filter = build_event_filter()
                                      .matching()
                                      .any_event_type_of("BookCopyLentToReader", "BookCopyReturnedByReader")
                                      .and_any_predicate_of(P("BookID", mine))
                                      .finalize();
            for (int c = 0; c < 40; ++c) {
                try {
                    auto [events, max] = store().query(filter);
                    const char* type = (events.size() % 2 == 0) ? "BookCopyLentToReader" : "BookCopyReturnedByReader";
                    store().append(filter, max,
                                   eventstore::build_storable_event_with_empty_metadata(
                                       type, std::chrono::system_clock::now(),
                                       nlohmann::ordered_json{{"BookID", mine}, {"EventType", type}}.dump()));
                    ++appended;
                } catch (const eventstore::ConcurrencyConflict&) {
                    ++conflicts;
                } catch (const std::exception& e) {
                    ADD_FAILURE() << e.what();
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_EQ(conflicts.load(), 0);
    EXPECT_EQ(appended.load(), 8 * 40);
    EXPECT_EQ(store().query(build_event_filter().matching_any_event()).events.size(), 8U * 40U);
}

} // namespace
