#include "lenders.hpp"

#include <atomic>
#include <exception>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

namespace book_lending {

std::uint64_t WorkloadStats::refused() const {
    return std::accumulate(refusals.begin(), refusals.end(), nothing_to_return);
}

namespace {

// Shared by the lenders; each counter is bumped once per event, so contention is negligible next to
// a database round trip.
struct SharedCounters {
    std::atomic<std::uint64_t> claimed{0};
    std::atomic<std::uint64_t> lend_attempts{0};
    std::atomic<std::uint64_t> return_attempts{0};
    std::atomic<std::uint64_t> lends{0};
    std::atomic<std::uint64_t> returns{0};
    std::atomic<std::uint64_t> nothing_to_return{0};
    std::array<std::atomic<std::uint64_t>, refusal_kinds> refusals{};
    std::atomic<std::uint64_t> conflicts{0};
    std::atomic<std::uint64_t> retries{0};
    std::atomic<std::uint64_t> gave_up{0};
    std::atomic<bool> stop{false};

    std::mutex errors_mutex;
    std::uint64_t unexpected_errors = 0;
    std::vector<std::string> error_messages;

    void record(const CommandResult& result) {
        conflicts += result.conflicts;
        switch (result.outcome) {
        case CommandResult::Outcome::done:
            retries += result.conflicts;
            break;
        case CommandResult::Outcome::refused:
            retries += result.conflicts;
            ++refusals.at(static_cast<std::size_t>(*result.refusal));
            break;
        case CommandResult::Outcome::gave_up:
            retries += result.conflicts - 1; // the last conflict was not retried
            ++gave_up;
            break;
        }
    }

    void record_error(const std::string& message) {
        stop = true;
        const std::lock_guard lock(errors_mutex);
        ++unexpected_errors;
        if (error_messages.size() < 5) {
            error_messages.push_back(message);
        }
    }
};

class Lender {
public:
    Lender(LendingDesk& desk, const Workload& workload, SharedCounters& counters, std::uint64_t seed)
        : m_desk(desk), m_workload(workload), m_counters(counters), m_random(seed) {}

    void run(std::chrono::steady_clock::time_point deadline) {
        while (!m_counters.stop && claim(deadline)) {
            try {
                attempt_one();
            } catch (const std::exception& e) {
                m_counters.record_error(e.what());
            }
        }
    }

private:
    bool claim(std::chrono::steady_clock::time_point deadline) {
        if (m_workload.operations) {
            return m_counters.claimed.fetch_add(1) < *m_workload.operations;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        ++m_counters.claimed;
        return true;
    }

    const std::string& pick(const std::vector<std::string>& ids) {
        return ids[std::uniform_int_distribution<std::size_t>(0, ids.size() - 1)(m_random)];
    }

    // Half the attempts lend, half return: in a steady state about as many copies come back as go out.
    void attempt_one() {
        const std::string& reader = pick(m_workload.reader_ids);
        if (std::bernoulli_distribution(0.5)(m_random)) {
            ++m_counters.lend_attempts;
            const CommandResult result = m_desk.lend(pick(m_workload.book_ids), reader);
            m_counters.record(result);
            if (result.outcome == CommandResult::Outcome::done) {
                ++m_counters.lends;
            }
            return;
        }
        ++m_counters.return_attempts;
        // A reader can only bring back what they hold; a random copy would almost never be theirs.
        const std::vector<std::string> loans = m_desk.loans_of(reader);
        if (loans.empty()) {
            ++m_counters.nothing_to_return;
            return;
        }
        const CommandResult result = m_desk.take_back(pick(loans), reader);
        m_counters.record(result);
        if (result.outcome == CommandResult::Outcome::done) {
            ++m_counters.returns;
        }
    }

    LendingDesk& m_desk;
    const Workload& m_workload;
    SharedCounters& m_counters;
    std::mt19937_64 m_random;
};

} // namespace

WorkloadStats run_lenders(LendingDesk& desk, const Workload& workload) {
    SharedCounters counters;
    std::random_device entropy;
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + workload.duration.value_or(std::chrono::steady_clock::duration::max() / 2);
    {
        std::vector<std::jthread> threads;
        threads.reserve(workload.lenders);
        for (std::size_t i = 0; i < workload.lenders; ++i) {
            const std::uint64_t seed = (std::uint64_t{entropy()} << 32U) ^ entropy() ^ i;
            threads.emplace_back([&desk, &workload, &counters, seed, deadline] {
                Lender(desk, workload, counters, seed).run(deadline);
            });
        }
    } // the jthreads join here

    WorkloadStats stats;
    stats.elapsed = std::chrono::steady_clock::now() - start;
    stats.lend_attempts = counters.lend_attempts;
    stats.return_attempts = counters.return_attempts;
    stats.operations = stats.lend_attempts + stats.return_attempts;
    stats.lends = counters.lends;
    stats.returns = counters.returns;
    stats.nothing_to_return = counters.nothing_to_return;
    for (std::size_t i = 0; i < stats.refusals.size(); ++i) {
        stats.refusals[i] = counters.refusals[i];
    }
    stats.conflicts = counters.conflicts;
    stats.retries = counters.retries;
    stats.gave_up = counters.gave_up;
    stats.unexpected_errors = counters.unexpected_errors;
    stats.error_messages = std::move(counters.error_messages);
    return stats;
}

} // namespace book_lending
