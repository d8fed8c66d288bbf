#ifndef EVENTSTORE_TESTS_INTEGRATION_SUBSCRIPTION_SUPPORT_HPP
#define EVENTSTORE_TESTS_INTEGRATION_SUBSCRIPTION_SUPPORT_HPP

// What the subscription tests (subscription_test.cpp, subscription_restart_test.cpp) share: the feed
// (a filter that ORs a tag and an event type, and events that match it or not), a writer that appends
// on a boundary of its own and makes a failed append again until it is stored, a subscription running
// on a thread of its own, and the oracle's comparison of what it delivered with the final log.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <eventstore/eventstore.hpp>
#include <eventstore/postgres.hpp>

#include "fixture.hpp"

namespace eventstore::test::subscription {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// --- the feed --------------------------------------------------------------------------------------------

inline constexpr std::string_view feed_tag = "feed:a";
inline constexpr std::string_view other_tag = "feed:b";
inline constexpr std::string_view flagged_type = "Flagged";
inline constexpr std::string_view noted_type = "Noted";

// Two items OR-ed, one on a tag and one on a type, so that both kinds of reader key are in play.
[[nodiscard]] inline Filter feed_filter() {
    return build_event_filter()
        .matching()
        .all_tags_of(feed_tag)
        .or_matching()
        .any_event_type_of(flagged_type)
        .finalize();
}

// The feed's filter evaluated in C++, independently of the SQL the store makes of it.
[[nodiscard]] inline bool in_feed(const StorableEvent& e) {
    return e.event_type == flagged_type || std::find(e.tags.begin(), e.tags.end(), feed_tag) != e.tags.end();
}

enum class Kind {
    tagged,       // type Noted, tag feed:a: in the feed by its tag
    flagged,      // type Flagged, no tag: in the feed by its type
    other_tagged, // type Noted, tag feed:b: not in the feed
    plain,        // type Noted, no tag: not in the feed
};

// An event of `writer`, with id make_uuid(number) and both in its payload, so that a delivered event
// can be told from any other.
[[nodiscard]] inline StorableEvent feed_event(const std::string& writer, std::uint64_t number, Kind kind) {
    const std::string_view type = kind == Kind::flagged ? flagged_type : noted_type;
    StorableEvent e = build_storable_event_with_empty_metadata(
        std::string(type), std::chrono::system_clock::now(),
        nlohmann::ordered_json{{"writer", writer}, {"n", std::to_string(number)}}.dump());
    if (kind == Kind::tagged) {
        e.tags = {std::string(feed_tag), "writer:" + writer};
    } else if (kind == Kind::other_tagged) {
        e.tags = {std::string(other_tag)};
    }
    e.id = make_uuid(number);
    return e;
}

// A kind drawn at random, in the feed with probability `in_feed_percent` / 100.
[[nodiscard]] inline Kind random_kind(std::mt19937& rng, unsigned in_feed_percent = 60) {
    const bool in = rng() % 100 < in_feed_percent;
    return static_cast<Kind>((in ? 0U : 2U) + rng() % 2);
}

// --- a writer --------------------------------------------------------------------------------------------

// Appends on a boundary of its own (its "writer" member), so that its appends never conflict with
// another writer's. A failed append is made again, unchanged, until it is stored: its events carry
// ids, so an append whose outcome was lost (in doubt) and did commit is recognised rather than
// stored twice, and one that did not commit still finds the boundary's maximum it expected.
class Writer {
public:
    // Event ids are make_uuid(first_number), make_uuid(first_number + 1), ...: give each writer of a
    // table a range of its own.
    Writer(std::string name, std::uint64_t first_number) : m_name(std::move(name)), m_next(first_number) {}

    // `kinds.size()` events. Returns false (after failing the test) when the append could not be
    // stored before `give_up`.
    bool append(EventStore& store, const std::vector<Kind>& kinds, Clock::time_point give_up) {
        std::vector<StorableEvent> events;
        for (const Kind kind : kinds) {
            events.push_back(feed_event(m_name, m_next++, kind));
        }
        const Filter boundary = build_event_filter().matching().any_predicate_of(P("writer", m_name)).finalize();
        for (;;) {
            try {
                const AppendResult result =
                    store.append(Context().with_deadline(give_up), boundary, m_expected, std::span(events));
                m_expected = result.last_sequence_number;
                m_events += events.size();
                m_in_feed += static_cast<std::size_t>(std::count_if(events.begin(), events.end(), in_feed));
                return true;
            } catch (const ConcurrencyConflict& e) {
                ADD_FAILURE() << m_name << ": a conflict on the writer's own boundary: " << describe(e);
                return false;
            } catch (const Error& e) {
                // In doubt: made again with the same ids, it is either recognised or stored now.
                if (!(e.is_retryable() || e.is(Errc::in_doubt)) || Clock::now() >= give_up) {
                    ADD_FAILURE() << m_name << ": append failed: " << describe(e);
                    return false;
                }
                ++m_retries;
                std::this_thread::sleep_for(20ms);
            }
        }
    }

    [[nodiscard]] std::size_t events() const { return m_events; }
    [[nodiscard]] std::size_t in_feed_events() const { return m_in_feed; }
    [[nodiscard]] int retries() const { return m_retries; }
    [[nodiscard]] SequenceNumber last_position() const { return m_expected; }

private:
    std::string m_name;
    std::uint64_t m_next;
    SequenceNumber m_expected = 0;
    std::size_t m_events = 0;
    std::size_t m_in_feed = 0;
    int m_retries = 0;
};

// --- a subscription on a thread of its own ---------------------------------------------------------------

// Runs store.subscribe on a thread, until stop() (or the safety deadline, so that a test cannot hang),
// and records what it delivered and when.
class Subscription {
public:
    using Callback = std::function<void(const StorableEvent&)>;

    Subscription(postgres::EventStore& store, Filter filter, SequenceNumber after,
                 postgres::SubscribeOptions options = {}, std::chrono::milliseconds safety = 60s, Callback also = {})
        : m_store(store), m_filter(std::move(filter)), m_after(after), m_options(options), m_also(std::move(also)) {
        const Context ctx = Context().with_stop_token(m_stop.get_token()).with_timeout(safety);
        m_thread = std::thread([this, ctx] { run(ctx); });
    }

    ~Subscription() {
        if (m_thread.joinable()) {
            m_stop.request_stop();
            m_thread.join();
        }
    }

    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // Waits until an event at or above `position` has been delivered (true), or the subscription has
    // ended or `limit` has passed (false).
    bool wait_for(SequenceNumber position, std::chrono::milliseconds limit = 20s) {
        std::unique_lock lock(m_mutex);
        return m_changed.wait_for(lock, limit, [&] { return m_ended || m_last >= position; }) && m_last >= position;
    }

    // Requests the stop and waits for subscribe to return; returns what it returned and rethrows what
    // it threw.
    SequenceNumber stop() {
        m_stop.request_stop();
        return join();
    }

    // Waits for subscribe to end by itself.
    SequenceNumber join() {
        if (m_thread.joinable()) {
            m_thread.join();
        }
        if (m_error) {
            std::rethrow_exception(m_error);
        }
        return m_returned;
    }

    [[nodiscard]] SequenceNumber last() const {
        std::lock_guard lock(m_mutex);
        return m_last;
    }
    [[nodiscard]] std::size_t count() const {
        std::lock_guard lock(m_mutex);
        return m_delivered.size();
    }
    // After stop() or join(): every event delivered, and when.
    [[nodiscard]] const std::vector<StorableEvent>& delivered() const { return m_delivered; }
    [[nodiscard]] const std::vector<Clock::time_point>& delivered_at() const { return m_delivered_at; }
    // When the delivery of the event at `position` was made (after stop() or join()).
    [[nodiscard]] std::optional<Clock::time_point> delivered_at(SequenceNumber position) const {
        const auto it =
            std::lower_bound(m_delivered.begin(), m_delivered.end(), position,
                             [](const StorableEvent& e, SequenceNumber p) { return e.sequence_number < p; });
        if (it == m_delivered.end() || it->sequence_number != position) {
            return std::nullopt;
        }
        return m_delivered_at[static_cast<std::size_t>(it - m_delivered.begin())];
    }

private:
    void run(const Context& ctx) {
        try {
            m_returned = m_store.subscribe(
                ctx, m_filter, m_after,
                [this](StorableEvent&& e) {
                    if (m_also) {
                        m_also(e);
                    }
                    std::lock_guard lock(m_mutex);
                    m_last = e.sequence_number;
                    m_delivered_at.push_back(Clock::now());
                    m_delivered.push_back(std::move(e));
                    m_changed.notify_all();
                },
                m_options);
        } catch (...) {
            m_error = std::current_exception();
        }
        std::lock_guard lock(m_mutex);
        m_ended = true;
        m_changed.notify_all();
    }

    postgres::EventStore& m_store;
    Filter m_filter;
    SequenceNumber m_after;
    postgres::SubscribeOptions m_options;
    Callback m_also;
    std::stop_source m_stop;
    mutable std::mutex m_mutex;
    std::condition_variable m_changed;
    SequenceNumber m_last = 0;
    bool m_ended = false;
    std::vector<StorableEvent> m_delivered;
    std::vector<Clock::time_point> m_delivered_at;
    SequenceNumber m_returned = 0;
    std::exception_ptr m_error;
    std::thread m_thread; // last: started once every other member is there
};

// --- the oracle ------------------------------------------------------------------------------------------

// The events of `log` that `keep` selects, in log order.
template <typename Predicate>
[[nodiscard]] std::vector<StorableEvent> selected(const std::vector<StorableEvent>& log, Predicate keep) {
    std::vector<StorableEvent> out;
    std::copy_if(log.begin(), log.end(), std::back_inserter(out), keep);
    return out;
}

// Whether `delivered` is exactly `expected`: the same events (positions, types, tags, ids, payloads,
// times) in the same order. Otherwise says how they differ: repeats, positions missing, positions that
// should not be there, order, and the first difference.
[[nodiscard]] inline ::testing::AssertionResult same_events(const std::vector<StorableEvent>& delivered,
                                                            const std::vector<StorableEvent>& expected) {
    if (delivered == expected) {
        return ::testing::AssertionSuccess();
    }
    std::map<SequenceNumber, int> seen;
    int out_of_order = 0;
    for (std::size_t i = 0; i < delivered.size(); ++i) {
        ++seen[delivered[i].sequence_number];
        if (i > 0 && delivered[i].sequence_number <= delivered[i - 1].sequence_number) {
            ++out_of_order;
        }
    }
    std::map<SequenceNumber, int> wanted;
    for (const auto& e : expected) {
        ++wanted[e.sequence_number];
    }
    std::size_t repeats = 0;
    std::size_t extra = 0;
    std::size_t missing = 0;
    std::ostringstream missing_list;
    for (const auto& [position, n] : seen) {
        repeats += static_cast<std::size_t>(n - 1);
        extra += wanted.count(position) == 0 ? 1U : 0U;
    }
    for (const auto& [position, n] : wanted) {
        if (seen.count(position) == 0 && ++missing <= 10) {
            missing_list << ' ' << position;
        }
    }
    std::size_t first = 0;
    while (first < delivered.size() && first < expected.size() && delivered[first] == expected[first]) {
        ++first;
    }
    auto show = [](const std::vector<StorableEvent>& events, std::size_t i) {
        if (i >= events.size()) {
            return std::string("(none)");
        }
        const StorableEvent& e = events[i];
        return "#" + std::to_string(e.sequence_number) + " " + e.event_type + " " + e.payload_json + " id " + e.id;
    };
    return ::testing::AssertionFailure() << delivered.size() << " events delivered, " << expected.size()
                                         << " expected: " << repeats << " repeats, " << missing
                                         << " missing (first:" << missing_list.str() << "), " << extra
                                         << " not expected, " << out_of_order << " out of order; first difference at "
                                         << first << ": delivered " << show(delivered, first) << ", expected "
                                         << show(expected, first);
}

// --- metrics ---------------------------------------------------------------------------------------------

// Counts the store's reads, failed reads and reads ended by their deadline, to tell which paths of a
// subscription a test went through.
class ReadCounter : public MetricsCollector {
public:
    void record_duration(std::string_view, std::chrono::nanoseconds, const Labels&) override {}
    void record_value(std::string_view, double, const Labels&) override {}
    void increment_counter(std::string_view metric, const Labels& labels) override {
        const auto operation = labels.find("operation");
        if (operation == labels.end() || operation->second != "query") {
            return;
        }
        if (metric == "eventstore_query_method_calls_total") {
            ++reads;
        } else if (metric == "eventstore_database_errors_total") {
            ++failed_reads;
        } else if (metric == "eventstore_query_timeout_total") {
            ++timed_out_reads;
        }
    }

    std::atomic<int> reads{0};
    std::atomic<int> failed_reads{0};
    std::atomic<int> timed_out_reads{0};
};

[[nodiscard]] inline double milliseconds(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

} // namespace eventstore::test::subscription

#endif
