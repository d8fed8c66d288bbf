#ifndef EVENTSTORE_SRC_CORE_CONTEXT_WAIT_HPP
#define EVENTSTORE_SRC_CORE_CONTEXT_WAIT_HPP

#include <chrono>

#include <eventstore/context.hpp>

namespace eventstore::detail {

// Sleeps for `pause`, or less when the Context's stop is requested or its deadline comes first: the
// waits between retries (decide_and_append, subscribe, migrate) end with the call they belong to.
void sleep_within(const Context& ctx, std::chrono::milliseconds pause);

} // namespace eventstore::detail

#endif
