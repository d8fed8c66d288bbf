// subscribe: catch-up then live, built on reads that never skip an event; durable subscriptions with
// a checkpoint and one active consumer per name (docs/subscriptions.md).

#include <algorithm>
#include <array>
#include <atomic>
#include <optional>
#include <random>
#include <span>
#include <type_traits>

#include <unistd.h>

#include <eventstore/error.hpp>

#include "core/context_wait.hpp"
#include "core/event_check.hpp"
#include "postgres/log_watcher.hpp"
#include "postgres/store_impl.hpp"

namespace eventstore::postgres {

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

bool ended(const Context& ctx) { return ctx.stop_requested() || ctx.deadline_passed(); }

// Failures that a later read may not meet: the connection (a restart, a terminated backend, a server
// still starting) or a saturated pool.
bool transient(const Error& e) { return e.is(Errc::database_connection_failed) || e.is(Errc::pool_exhausted); }

// The caller's own Context ended a call: the subscription ends normally.
bool ended_by(const Context& ctx, const Error& e) {
    return ended(ctx) && (e.is(Errc::canceled) || e.is(Errc::deadline_exceeded));
}

struct Timing {
    std::size_t batch;
    milliseconds poll_min;
    milliseconds poll_max;
    milliseconds reconnect_min;
    milliseconds reconnect_max;

    explicit Timing(const SubscribeOptions& options)
        : batch(std::max<std::size_t>(options.batch_size, 1)), poll_min(std::max(options.poll_min, milliseconds(0))),
          poll_max(std::max(options.poll_max, poll_min)),
          reconnect_min(std::max(options.reconnect_min, milliseconds(1))),
          reconnect_max(std::max(options.reconnect_max, reconnect_min)) {}
};

// The retries of a subscription's database calls: a failure a later call may not meet waits out a
// backoff that doubles from reconnect_min to reconnect_max, and a success resets it.
class Backoff {
public:
    explicit Backoff(const Timing& timing) : m_min(timing.reconnect_min), m_max(timing.reconnect_max), m_wait(m_min) {}

    // The result of `call`, or nothing when it failed transiently (after the wait: try again) or the
    // Context ended it (ended(ctx) then says so). Any other failure throws.
    template <typename Call>
    std::optional<std::invoke_result_t<Call&>> attempt(const Context& ctx, Call&& call) {
        try {
            std::optional<std::invoke_result_t<Call&>> result(call());
            m_wait = m_min;
            return result;
        } catch (const Error& e) {
            if (ended_by(ctx, e)) {
                return std::nullopt;
            }
            if (!transient(e)) {
                throw;
            }
            eventstore::detail::sleep_within(ctx, m_wait);
            m_wait = std::min(m_wait * 2, m_max);
            return std::nullopt;
        }
    }

private:
    milliseconds m_min;
    milliseconds m_max;
    milliseconds m_wait;
};

// What a durable subscription does besides reading: renew its claim, save its position. Each returns
// false when the claim is lost (another consumer holds the name, or it could not be renewed).
struct NoCheckpoint {
    static bool after_event(SequenceNumber /*last*/) { return true; }
    static bool after_read(SequenceNumber /*last*/, bool /*delivered*/) { return true; }
    // When the subscription must be back from a wait at the latest (to renew a claim).
    static Clock::time_point next_due() { return Clock::time_point::max(); }
};

enum class Ending { context, claim_lost };

// What a subscription reports to the metrics hook (docs/observability.md, "Subscriptions"), labelled
// with its name ("" without one); the label sets are built once.
class Progress {
public:
    Progress(const detail::Instruments& instruments, const std::string& name)
        : m_instruments(instruments), m_labels{{"subscription", name}},
          m_acquired{{"subscription", name}, {"outcome", "acquired"}}, m_lost{{"subscription", name},
                                                                              {"outcome", "lost"}} {}

    // After a read: `count` events delivered, the subscription has looked at the log up to `checked`,
    // whose head is `head`.
    void read(std::size_t count, SequenceNumber checked, SequenceNumber head) const noexcept {
        if (!m_instruments.metrics()) {
            return;
        }
        if (count > 0) {
            m_instruments.record_value("eventstore_subscription_events_delivered_total", static_cast<double>(count),
                                       m_labels);
        }
        m_instruments.record_value("eventstore_subscription_lag_events",
                                   head > checked ? static_cast<double>(head - checked) : 0.0, m_labels);
    }
    void claim(bool acquired) const noexcept {
        if (m_instruments.metrics()) {
            m_instruments.increment_counter("eventstore_subscription_claims_total", acquired ? m_acquired : m_lost);
        }
    }

private:
    const detail::Instruments& m_instruments;
    Labels m_labels;
    Labels m_acquired;
    Labels m_lost;
};

// How often the watcher samples the head of the log while subscriptions run: the delay it adds to a
// live delivery, at the cost of one index-only read of the primary key per interval for the store.
constexpr milliseconds head_sample_interval{2};

// Reads on from `last`, delivering each event and moving `last` once its callback has returned. Each
// read is query() from the position after the last event delivered, with a limit: it returns the
// lowest matching positions above it, and its maximum has query()'s guarantee (no matching event at
// or below it appears later), so reading on from there never skips an event and never repeats one.
// Each read is one short transaction: nothing is held between reads (no cursor, no snapshot pinning
// the xmin horizon), so a subscription that falls behind costs the server nothing while it waits.
//
// Once caught up, it reads again when the watcher's head has moved past `seen`, the head as sampled
// before the read. That misses nothing: a matching event the read did not return was numbered after
// the read took its locks (an append of such an event either was in flight, and the read waited for
// it, or started later and numbered its events above everything committed before the read: the
// lock protocol's guarantee 2), so above `seen`, which was committed before the read began; once it
// commits, the head is at least its number. poll_max is a safety net on top (a watcher that cannot
// reach the database), and poll_min paces the locking reads while the log keeps moving.
template <typename Checkpoint>
Ending follow(EventStore::Impl& store, detail::LogWatcher& watcher, const Context& ctx, const Filter& filter,
              SequenceNumber& last, const std::function<void(StorableEvent&&)>& on_event, const Timing& timing,
              Checkpoint& checkpoint, const Progress& progress) {
    // Only the primary holds the writers' locks that make a read gap-free.
    const Context reads = ctx.with_consistency(Consistency::strong);
    const detail::LogWatcher::Interest interest(watcher);
    Backoff backoff(timing);
    while (!ended(ctx)) {
        const SequenceNumber seen = watcher.head();
        std::optional<QueryResult> read = backoff.attempt(ctx, [&] {
            return store.query(reads, filter, ReadOptions{last + 1, false, timing.batch});
        });
        if (!read) {
            continue;
        }
        QueryResult& result = *read;
        const std::size_t count = result.events.size();
        for (StorableEvent& event : result.events) {
            const SequenceNumber position = event.sequence_number;
            on_event(std::move(event));
            last = position;
            if (ended(ctx)) {
                return Ending::context;
            }
            if (!checkpoint.after_event(last)) {
                return Ending::claim_lost;
            }
        }
        // Caught up (a short read), it has looked at everything committed before the read began.
        progress.read(count, count < timing.batch ? std::max(last, seen) : last, watcher.head());
        if (!checkpoint.after_read(last, count > 0)) {
            return Ending::claim_lost;
        }
        if (count == timing.batch) {
            continue; // more may be waiting: read on at once
        }
        eventstore::detail::sleep_within(ctx, timing.poll_min);
        // Back in time to renew a claim before it lapses, even while the log stands still.
        watcher.wait_above(seen, ctx, std::min(Clock::now() + timing.poll_max, checkpoint.next_due()));
    }
    return Ending::context;
}

void check_name(std::string_view name) {
    const std::string problem = name.empty() ? std::string("is empty")
                                             : eventstore::detail::key_text_problem(name, max_subscription_name_length);
    if (!problem.empty()) {
        throw Error(Errc::invalid_subscription_name, "the subscription name " + problem);
    }
}

// Runs checkpoint statements on a session of `source`: the position in the first column of the last
// statement's first row, or nothing when it returned no row (no such name, or a claim not this
// consumer's). Throws DatabaseFailure.
std::optional<SequenceNumber> saved_position(detail::SessionSource& source, const Context& ctx,
                                             std::span<const detail::Statement> statements, bool reads_only) {
    return detail::with_session(source, ctx, reads_only, [&](detail::Session& session) {
        const std::vector<detail::Result> results = session.run(ctx, statements);
        std::optional<SequenceNumber> saved;
        if (!results.back().empty()) {
            saved = static_cast<SequenceNumber>(results.back()[0][0].as_int8());
        }
        return saved;
    });
}

// Who holds a name, as the checkpoint table shows it: this host and process, and a number that tells
// this subscribe call from any other of the process.
std::string new_owner() {
    std::array<char, 256> host{};
    if (gethostname(host.data(), host.size() - 1) != 0) {
        host[0] = '\0';
    }
    static std::atomic<std::uint64_t> calls{0};
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::string(host.data()) + ":" + std::to_string(getpid()) + ":" + std::to_string(++calls) + ":" +
           std::to_string(rng() % 1000000000);
}

} // namespace

detail::LogWatcher& EventStore::Impl::watcher() {
    std::lock_guard lock(m_watcher_mutex);
    if (!m_watcher) {
        const std::vector<detail::Statement> head{m_schema.newest_sequence_number()};
        m_watcher = std::make_unique<detail::LogWatcher>(
            [this, head](const Context& ctx) {
                return detail::with_session(*m_primary, ctx, true, [&](detail::Session& session) {
                    return static_cast<SequenceNumber>(session.run(ctx, head).back()[0][0].as_int8());
                });
            },
            head_sample_interval);
    }
    return *m_watcher;
}

SequenceNumber EventStore::Impl::subscribe(const Context& ctx, const Filter& filter, SequenceNumber after,
                                           const std::function<void(StorableEvent&&)>& on_event,
                                           const SubscribeOptions& options) {
    if (!options.name.empty()) {
        return subscribe_durably(ctx, filter, after, on_event, options);
    }
    const Timing timing(options);
    SequenceNumber last = after;
    NoCheckpoint none;
    const Progress progress(m_instruments, options.name);
    follow(*this, watcher(), ctx, filter, last, on_event, timing, none, progress);
    return last;
}

// A durable subscription claims its name in the checkpoint table, a claim that lapses unless renewed
// (a lease rather than a session-level lock: it holds no connection, so a pool of one connection still
// serves the subscription's reads and its callback, and it passes through a transaction-mode pooler).
// The claim's owner reads on from the saved position, renews the claim as it goes and, unless the
// projection saves the position itself, saves it with each renewal. A renewal that finds the claim
// taken (it lapsed: this consumer stalled or lost the database for a whole lease) stops the delivery
// at once and goes back to claiming, from the saved position or its own, whichever is further.
SequenceNumber EventStore::Impl::subscribe_durably(const Context& ctx, const Filter& filter, SequenceNumber after,
                                                   const std::function<void(StorableEvent&&)>& on_event,
                                                   const SubscribeOptions& options) {
    check_name(options.name);
    const Timing timing(options);
    const auto lease = std::max(options.lease, milliseconds(100));
    const auto renew_every = lease / 3;
    const auto standby_wait = lease / 20;
    const bool store_saves = options.checkpoints == CheckpointSaving::by_store;
    const std::string owner = new_owner();
    const std::string& name = options.name;
    const Progress progress(m_instruments, name);

    // One checkpoint statement; nullopt when the claim is not (or no longer) this consumer's.
    const auto run = [&](const Context& call_ctx, const std::vector<detail::Statement>& statements) {
        try {
            return saved_position(*m_primary, call_ctx, statements, false);
        } catch (const detail::DatabaseFailure& failure) {
            throw failure.to_error(Errc::subscription_failed, false);
        }
    };

    struct Claim {
        const std::function<std::optional<SequenceNumber>(SequenceNumber)>& renew;
        milliseconds every;
        bool saves;
        Clock::time_point renewed = Clock::now();
        SequenceNumber saved = 0;

        bool due() const { return Clock::now() - renewed >= every; }
        Clock::time_point next_due() const { return renewed + every; }
        bool renew_now(SequenceNumber last) {
            const Clock::time_point started = Clock::now();
            if (!renew(saves ? last : 0)) {
                return false;
            }
            renewed = started;
            saved = saves ? last : saved;
            return true;
        }
        bool after_event(SequenceNumber last) { return !due() || renew_now(last); }
        bool after_read(SequenceNumber last, bool delivered) {
            return !((delivered && saves && last > saved) || due()) || renew_now(last);
        }
    };

    SequenceNumber last = after;
    bool started = false;
    Backoff backoff(timing);
    // A renewal that fails (the database unreachable) ends this claim: the consumer claims again,
    // which succeeds at once while the lease is still its own.
    const std::function<std::optional<SequenceNumber>(SequenceNumber)> renew =
        [&](SequenceNumber position) -> std::optional<SequenceNumber> {
        try {
            return run(ctx, {m_schema.renew_checkpoint(name, owner, position, lease.count())});
        } catch (const Error& e) {
            if (transient(e) || ended_by(ctx, e)) {
                return std::nullopt;
            }
            throw;
        }
    };
    const auto release = [&] {
        // Best effort, and not bounded by the caller's Context (it may have ended): the claim lapses by
        // itself after a lease anyway.
        try {
            (void)run(Context().with_timeout(std::chrono::seconds(2)),
                      {m_schema.release_checkpoint(name, owner, store_saves ? last : 0)});
        } catch (const Error&) {
        }
    };

    try {
        while (!ended(ctx)) {
            const auto attempt = backoff.attempt(
                ctx, [&] { return run(ctx, m_schema.claim_checkpoint(name, owner, after, lease.count())); });
            if (!attempt) {
                continue;
            }
            const std::optional<SequenceNumber>& claimed = *attempt;
            if (!claimed) {
                eventstore::detail::sleep_within(ctx, standby_wait); // another consumer holds the name
                continue;
            }
            // Back after a lost claim: everything up to `last` was delivered here, and anything the
            // consumer that held the name meanwhile saved was delivered there.
            last = started ? std::max(last, *claimed) : *claimed;
            started = true;
            Claim claim{renew, renew_every, store_saves, Clock::now(), *claimed};
            progress.claim(true);
            if (follow(*this, watcher(), ctx, filter, last, on_event, timing, claim, progress) == Ending::context) {
                break;
            }
            progress.claim(false);
        }
    } catch (...) {
        if (started) {
            release();
        }
        throw;
    }
    if (started) {
        release();
    }
    return last;
}

void EventStore::Impl::wait_until_processed(std::string_view name, SequenceNumber position, const Context& ctx) {
    check_name(name);
    const std::vector<detail::Statement> read{m_schema.read_checkpoint(std::string(name))};
    auto wait = milliseconds(1);
    std::optional<SequenceNumber> saved;
    for (;;) {
        try {
            if (const auto now = saved_position(*m_primary, ctx, read, true)) {
                saved = now;
            }
        } catch (const detail::DatabaseFailure& failure) {
            if (failure.kind() != detail::FailureKind::canceled &&
                failure.kind() != detail::FailureKind::deadline_exceeded) {
                throw failure.to_error(Errc::subscription_failed, false);
            }
        }
        if (saved && *saved >= position) {
            return;
        }
        if (ended(ctx)) {
            const std::string where = saved ? "has processed up to " + std::to_string(*saved)
                                            : "has no checkpoint yet (no consumer has used that name)";
            throw Error(Errc::subscription_failed, ctx.stop_requested() ? Errc::canceled : Errc::deadline_exceeded,
                        "waiting for position " + std::to_string(position) + ": the subscription \"" +
                            std::string(name) + "\" " + where);
        }
        eventstore::detail::sleep_within(ctx, wait);
        wait = std::min(wait * 2, milliseconds(16));
    }
}

std::optional<SequenceNumber> EventStore::Impl::checkpoint(const Context& ctx, std::string_view name) {
    check_name(name);
    const std::vector<detail::Statement> read{m_schema.read_checkpoint(std::string(name))};
    try {
        return saved_position(*m_primary, ctx, read, true);
    } catch (const detail::DatabaseFailure& failure) {
        throw failure.to_error(Errc::subscription_failed, false);
    }
}

SequenceNumber EventStore::subscribe(const Context& ctx, const Filter& filter, SequenceNumber after,
                                     const std::function<void(StorableEvent&&)>& on_event,
                                     const SubscribeOptions& options) {
    return m_impl->subscribe(ctx, filter, after, on_event, options);
}

void EventStore::wait_until_processed(std::string_view name, SequenceNumber position, const Context& ctx) {
    m_impl->wait_until_processed(name, position, ctx);
}

std::optional<SequenceNumber> EventStore::checkpoint(const Context& ctx, std::string_view name) {
    return m_impl->checkpoint(ctx, name);
}

} // namespace eventstore::postgres
