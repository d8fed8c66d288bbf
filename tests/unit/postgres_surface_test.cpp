// The engine's public surface, checked at compile time: what a user can and cannot build.

#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include <gtest/gtest.h>

#include <eventstore/postgres.hpp>

namespace {

using eventstore::postgres::ConnectionPool;
using eventstore::postgres::PoolOptions;
using eventstore::postgres::StoreOptions;

// A pool is only ever made by ConnectionPool::create(), so that it is always shared-owned: its
// constructor's key cannot be named, and `{}` cannot build it either.
template <typename T>
concept BraceConstructible = requires {
    T({}, std::string(), PoolOptions{});
};
static_assert(!BraceConstructible<ConnectionPool>);
static_assert(!std::is_default_constructible_v<ConnectionPool>);
static_assert(!std::is_copy_constructible_v<ConnectionPool>);
static_assert(!std::is_constructible_v<ConnectionPool, std::string, PoolOptions>);

// The snapshot table is unset by default: the store derives it from the events table ("snapshots"
// beside "events", the Go library's pair).
TEST(PublicSurface, StoreOptionsDefaultToTheGoLibrarysTables) {
    const StoreOptions options;
    EXPECT_EQ(options.table_name, "events");
    EXPECT_FALSE(options.snapshot_table_name.has_value());
    EXPECT_EQ(options.logger, nullptr);
    EXPECT_EQ(options.metrics, nullptr);
}

TEST(PublicSurface, OptionsSetTheFieldsOfStoreOptions) {
    StoreOptions options;
    eventstore::postgres::with_table_name("app.events").apply(options);
    eventstore::postgres::with_snapshot_table_name("app.snaps").apply(options);
    EXPECT_EQ(options.table_name, "app.events");
    EXPECT_EQ(options.snapshot_table_name, std::optional<std::string>("app.snaps"));
    // Set to the empty name: refused by the factory, not taken for "unset".
    eventstore::postgres::with_snapshot_table_name("").apply(options);
    EXPECT_EQ(options.snapshot_table_name, std::optional<std::string>(""));
}

TEST(PublicSurface, ANullPoolIsTheGoLibrarysNilConnection) {
    try {
        (void)eventstore::postgres::new_event_store_from_pool(nullptr, StoreOptions{});
        FAIL() << "no error";
    } catch (const eventstore::Error& e) {
        EXPECT_EQ(e.code(), eventstore::Errc::nil_database_connection);
        EXPECT_TRUE(e.is_input_error());
    }
}

} // namespace
