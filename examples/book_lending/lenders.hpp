#ifndef BOOK_LENDING_LENDERS_HPP
#define BOOK_LENDING_LENDERS_HPP

// The workload: lender threads issuing lend and return commands at random, all through one desk.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lending_desk.hpp"

namespace book_lending {

struct Workload {
    std::vector<std::string> book_ids;
    std::vector<std::string> reader_ids;
    std::size_t lenders = 8;
    // Stop after this many attempts or this long, whichever is set (exactly one of them).
    std::optional<std::uint64_t> operations;
    std::optional<std::chrono::steady_clock::duration> duration;
};

struct WorkloadStats {
    std::uint64_t operations = 0; // attempts made
    std::uint64_t lend_attempts = 0;
    std::uint64_t return_attempts = 0;
    std::uint64_t lends = 0;
    std::uint64_t returns = 0;
    std::uint64_t nothing_to_return = 0;                 // the reader held no copy
    std::array<std::uint64_t, refusal_kinds> refusals{}; // indexed by Refusal
    std::uint64_t conflicts = 0;
    std::uint64_t retries = 0;
    std::uint64_t gave_up = 0;
    std::chrono::steady_clock::duration elapsed{};
    std::uint64_t unexpected_errors = 0;
    std::vector<std::string> error_messages; // the first few

    [[nodiscard]] std::uint64_t refused() const;
};

// Runs the lenders to completion. A lender that hits an unexpected error (anything but a refusal or a
// conflict) records it and makes every lender stop, since the run can no longer be trusted.
[[nodiscard]] WorkloadStats run_lenders(LendingDesk& desk, const Workload& workload);

} // namespace book_lending

#endif
