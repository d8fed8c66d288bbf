#include <chrono>
#include <memory>
#include <stop_token>
#include <string>

#include <gtest/gtest.h>

#include <eventstore/context.hpp>
#include <eventstore/error.hpp>
#include <eventstore/observability.hpp>

namespace {

using eventstore::Consistency;
using eventstore::Context;
using std::chrono::steady_clock;
using namespace std::chrono_literals;

class RecordingSpan : public eventstore::SpanContext {
public:
    void set_status(std::string_view) override {}
    void add_attribute(std::string_view, std::string_view) override {}
};

TEST(Context, DefaultIsStrongWithoutDeadlineOrCancellation) {
    const Context ctx;
    EXPECT_EQ(ctx.consistency(), Consistency::strong);
    EXPECT_FALSE(ctx.deadline().has_value());
    EXPECT_FALSE(ctx.deadline_passed());
    EXPECT_FALSE(ctx.stop_requested());
    EXPECT_FALSE(ctx.stop_token().stop_possible());
    EXPECT_EQ(ctx.span(), nullptr);
}

TEST(Context, ToString) {
    EXPECT_EQ(eventstore::to_string(Consistency::strong), "strong");
    EXPECT_EQ(eventstore::to_string(Consistency::eventual), "eventual");
    EXPECT_EQ(eventstore::to_string(static_cast<Consistency>(7)), "unknown");
}

TEST(Context, ConsistencyHelpers) {
    EXPECT_EQ(eventstore::with_eventual_consistency().consistency(), Consistency::eventual);
    EXPECT_EQ(eventstore::with_strong_consistency().consistency(), Consistency::strong);
    const Context eventual = eventstore::with_eventual_consistency();
    EXPECT_EQ(eventstore::with_strong_consistency(eventual).consistency(), Consistency::strong);
    EXPECT_EQ(Context().with_consistency(Consistency::eventual).consistency(), Consistency::eventual);
}

TEST(Context, TheMinimumWalPositionKeepsTheGreatestGiven) {
    const Context none;
    EXPECT_EQ(none.min_wal_position(), 0U);
    const Context later = none.with_min_wal_position(200).with_min_wal_position(100);
    EXPECT_EQ(later.min_wal_position(), 200U);
    EXPECT_EQ(later.with_min_wal_position(300).min_wal_position(), 300U);
    EXPECT_EQ(none.min_wal_position(), 0U);
}

TEST(Context, DerivingLeavesTheOriginalUnchanged) {
    const Context base;
    const Context derived = base.with_consistency(Consistency::eventual).with_timeout(1s);
    EXPECT_EQ(base.consistency(), Consistency::strong);
    EXPECT_FALSE(base.deadline().has_value());
    EXPECT_EQ(derived.consistency(), Consistency::eventual);
    EXPECT_TRUE(derived.deadline().has_value());
}

TEST(Context, WithTimeoutSetsADeadlineFromNow) {
    const auto before = steady_clock::now();
    const Context ctx = Context().with_timeout(5s);
    const auto after = steady_clock::now();
    ASSERT_TRUE(ctx.deadline().has_value());
    EXPECT_GE(*ctx.deadline(), before + 5s);
    EXPECT_LE(*ctx.deadline(), after + 5s);
    EXPECT_FALSE(ctx.deadline_passed());
}

TEST(Context, ExpiredTimeoutHasPassed) {
    EXPECT_TRUE(Context().with_timeout(0ns).deadline_passed());
    EXPECT_TRUE(Context().with_timeout(-1s).deadline_passed());
}

TEST(Context, HugeTimeoutDoesNotOverflow) {
    const Context ctx = Context().with_timeout(std::chrono::nanoseconds::max());
    ASSERT_TRUE(ctx.deadline().has_value());
    EXPECT_GT(*ctx.deadline(), steady_clock::now() + 24h * 365 * 100);
    EXPECT_FALSE(ctx.deadline_passed());
}

TEST(Context, EarlierDeadlineWins) {
    const auto now = steady_clock::now();
    const Context near = Context().with_deadline(now + 1s);
    EXPECT_EQ(*near.with_deadline(now + 10s).deadline(), now + 1s);
    EXPECT_EQ(*near.with_deadline(now + 500ms).deadline(), now + 500ms);
    EXPECT_EQ(*near.with_timeout(1h).deadline(), now + 1s);
}

TEST(Context, StopTokenCancels) {
    std::stop_source source;
    const Context ctx = Context().with_stop_token(source.get_token());
    EXPECT_TRUE(ctx.stop_token().stop_possible());
    EXPECT_FALSE(ctx.stop_requested());
    const Context copy = ctx.with_consistency(Consistency::eventual);
    source.request_stop();
    EXPECT_TRUE(ctx.stop_requested());
    EXPECT_TRUE(copy.stop_requested());
}

TEST(Context, WithStopTokenReplacesTheToken) {
    std::stop_source first;
    std::stop_source second;
    const Context ctx = Context().with_stop_token(first.get_token()).with_stop_token(second.get_token());
    first.request_stop();
    EXPECT_FALSE(ctx.stop_requested());
    second.request_stop();
    EXPECT_TRUE(ctx.stop_requested());
}

TEST(Context, WithSpanCarriesTheSpan) {
    const auto span = std::make_shared<RecordingSpan>();
    const Context ctx = Context().with_span(span);
    EXPECT_EQ(ctx.span().get(), span.get());
    EXPECT_EQ(Context().span(), nullptr);
    EXPECT_EQ(ctx.with_span(nullptr).span(), nullptr);
}

} // namespace

// --- W3C trace context -------------------------------------------------------------------------------------

namespace {

using eventstore::Context;

TEST(ContextTraceparent, AValidHeaderIsKeptAndPassedOn) {
    const std::string header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const Context ctx = Context().with_traceparent(header);
    EXPECT_EQ(ctx.traceparent(), header);
    EXPECT_EQ(Context().traceparent(), "");
    // Carried through every other derivation.
    EXPECT_EQ(
        ctx.with_timeout(std::chrono::seconds(1)).with_consistency(eventstore::Consistency::eventual).traceparent(),
        header);
    // A later version's header is read for its fields and passed on as version 00.
    EXPECT_EQ(
        Context().with_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-else").traceparent(),
        header);
}

TEST(ContextTraceparent, AnythingElseIsInvalid) {
    for (const std::string bad : {
             "",
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",     // no flags
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", // version 00 is exactly 55
             "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // uppercase
             "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
             "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero parent id
             "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
             "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // separator
             "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  // not hex
             "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", // no dash after the flags
         }) {
        try {
            (void)Context().with_traceparent(bad);
            ADD_FAILURE() << "accepted: " << bad;
        } catch (const eventstore::Error& e) {
            EXPECT_EQ(e.code(), eventstore::Errc::invalid_traceparent) << bad;
            EXPECT_TRUE(e.is_input_error());
        }
    }
}

} // namespace
