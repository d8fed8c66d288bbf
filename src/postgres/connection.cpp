#include "postgres/connection.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <limits>
#include <optional>
#include <random>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include <poll.h>

#include "postgres/joined_calls.hpp"

namespace eventstore::postgres::detail {

namespace {

using Clock = std::chrono::steady_clock;

// How long a cancelled call may take to wind down before the connection is given up.
constexpr auto cancel_grace = std::chrono::seconds(5);
// The same behind a transaction-mode pooler, where a call may still wait for a server session, and
// PgBouncer (1.18) drops a cancel request for a client it has not given one: only closing the
// connection ends that wait. A statement that is running ends in milliseconds once cancelled.
constexpr auto pooled_cancel_grace = std::chrono::milliseconds(500);
// Beyond this many distinct statements per connection, further ones are parsed per call instead.
constexpr std::size_t max_prepared_statements = 256;

} // namespace

Connection::Connection(ConnPtr conn, SessionState state)
    : m_conn(std::move(conn)), m_state(state),
      m_statements(state == SessionState::kept ? std::make_shared<PreparedStatements>() : nullptr) {}

void PreparedStatements::reset(int pid) {
    // Random per process (other processes, other hosts), counted within it.
    static const std::string process = [] {
        std::random_device device;
        const std::uint64_t bits = (std::uint64_t{device()} << 32U) ^ device();
        std::array<char, 17> hex{};
        (void)std::snprintf(hex.data(), hex.size(), "%016llx", static_cast<unsigned long long>(bits));
        return std::string(hex.data());
    }();
    static std::atomic<std::uint64_t> generation{0};
    names.clear();
    next = 0;
    prefix = "eventstore_" + process + "_" + std::to_string(++generation) + "_";
    backend_pid = pid;
}

Connection::Interruption Connection::interruption_of(const Context& ctx) noexcept {
    if (ctx.stop_requested()) {
        return Interruption::canceled;
    }
    if (ctx.deadline_passed()) {
        return Interruption::deadline_exceeded;
    }
    return Interruption::none;
}

DatabaseFailure Connection::interrupted(Interruption why) {
    return DatabaseFailure::interrupted(why == Interruption::deadline_exceeded);
}

void Connection::session_setup(const Context& ctx) {
    // The append's correctness argument needs each statement to take a fresh snapshot after the
    // locks: READ COMMITTED, whatever the server's default. Prepared statements are only those whose
    // shape is safe on a generic plan (filter_sql.hpp, generic_plan_safe), so they skip planning on
    // every call; the others are sent unnamed and planned with their values each time (execute()
    // switches their pipeline to custom plans). A generic plan's
    // default estimates grow with the table, and at 10M events they crossed the JIT and parallel-query
    // cost thresholds: every 4-row read then paid about 12 ms of JIT compilation and worker start-up
    // (docs/performance.md). Our statements are small indexed reads and writes; neither ever pays off.
    const std::array<Statement, 1> setup{
        Statement::per_call("SELECT set_config('default_transaction_isolation', 'read committed', false), "
                            "set_config('plan_cache_mode', 'force_generic_plan', false), "
                            "set_config('jit', 'off', false), "
                            "set_config('max_parallel_workers_per_gather', '0', false)")};
    run(ctx, setup);
}

Outcome Connection::outcome_so_far() const noexcept {
    if (!m_flushed) {
        return Outcome::not_sent;
    }
    return m_commits ? Outcome::unknown : Outcome::nothing_written;
}

void Connection::fail_connection(const std::string& message) {
    m_broken = true;
    if (m_interruption != Interruption::none) {
        throw DatabaseFailure::interrupted(m_interruption == Interruption::deadline_exceeded, message, "08006",
                                           outcome_so_far());
    }
    // The server's own reason, when it sent one before closing.
    if (!m_fatal_message.empty()) {
        throw DatabaseFailure(m_fatal_message, m_fatal_sqlstate, FailureKind::connection, outcome_so_far());
    }
    throw DatabaseFailure(message, "08006", FailureKind::connection, outcome_so_far());
}

void Connection::request_cancel(Interruption why) {
    if (m_interruption != Interruption::none) {
        return;
    }
    m_interruption = why;
    m_cancel_sent_at = Clock::now();
    if (!m_cancel) {
        return;
    }
    // PQcancel opens a connection of its own and waits for the server to close it, without a time
    // limit: a server that accepts and never answers would hold the call forever. So it runs on a
    // thread of its own, which shares the cancel object; the call goes on waiting for its results,
    // bounded by the grace period below, whether the request arrives or not.
    {
        const std::lock_guard lock(m_cancel_flight->mutex);
        m_cancel_flight->done = false;
    }
    const auto send = [cancel = m_cancel, flight = m_cancel_flight] {
        std::array<char, 256> errbuf{};
        (void)PQcancel(cancel.get(), errbuf.data(), static_cast<int>(errbuf.size())); // best effort
        const std::lock_guard lock(flight->mutex);
        flight->done = true;
        flight->done_cv.notify_all();
    };
    try {
        std::thread(send).detach();
    } catch (const std::system_error&) {
        send(); // no thread to be had: send it from here
    }
}

void Connection::wait_socket(const Context& ctx, bool for_write) {
    const int fd = PQsocket(m_conn.get());
    if (fd < 0) {
        fail_connection("connection has no socket");
    }
    for (;;) {
        if (m_interruption == Interruption::none) {
            if (Interruption why = interruption_of(ctx); why != Interruption::none) {
                request_cancel(why);
            }
        }
        auto now = Clock::now();
        const Clock::duration grace = m_pooled ? Clock::duration(pooled_cancel_grace) : Clock::duration(cancel_grace);
        if (m_interruption != Interruption::none && now - m_cancel_sent_at > grace) {
            fail_connection(m_pooled ? "the cancelled call did not end in time: it may have been waiting for one of "
                                       "the pooler's server sessions, and the pooler does not cancel such a wait"
                                     : "the server did not end the cancelled statement in time");
        }
        auto until = now + stop_poll_interval;
        if (m_interruption == Interruption::none) {
            if (auto d = ctx.deadline()) {
                until = std::min(until, *d);
            }
        }
        auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1;
        pollfd pfd{fd, static_cast<short>(for_write ? (POLLIN | POLLOUT) : POLLIN), 0};
        const int n = ::poll(&pfd, 1, static_cast<int>(wait_ms));
        if (n > 0) {
            return;
        }
        if (n < 0 && errno != EINTR) {
            fail_connection("poll failed on the connection's socket");
        }
    }
}

const std::string& Connection::statement_name(const std::string& sql, bool& needs_prepare) {
    static const std::string unnamed;
    auto& names = m_statements->names;
    if (auto it = names.find(sql); it != names.end()) {
        needs_prepare = false;
        return it->second;
    }
    if (names.size() >= max_prepared_statements) {
        needs_prepare = true;
        return unnamed;
    }
    needs_prepare = true;
    auto [it, inserted] = names.emplace(sql, m_statements->prefix + std::to_string(m_statements->next++));
    return it->second;
}

bool Connection::send(const Statement& st) {
    PGconn* c = m_conn.get();
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    std::vector<Oid> types;
    values.reserve(st.params.size());
    lengths.reserve(st.params.size());
    formats.reserve(st.params.size());
    types.reserve(st.params.size());
    for (const Param& p : st.params) {
        values.push_back(p.value.c_str());
        lengths.push_back(static_cast<int>(p.value.size()));
        formats.push_back(p.format == Format::binary ? 1 : 0);
        types.push_back(p.type);
    }
    const int n = static_cast<int>(st.params.size());
    constexpr int result_format = 1; // binary
    if (st.plan == Statement::Plan::per_call || !caching()) {
        if (PQsendQueryParams(c, st.sql.c_str(), n, types.data(), values.data(), lengths.data(), formats.data(),
                              result_format) != 1) {
            fail_connection(trimmed(PQerrorMessage(c)));
        }
        return false;
    }
    bool needs_prepare = false;
    const std::string& name = statement_name(st.sql, needs_prepare);
    if (needs_prepare && PQsendPrepare(c, name.c_str(), st.sql.c_str(), n, types.data()) != 1) {
        m_statements->names.erase(st.sql);
        fail_connection(trimmed(PQerrorMessage(c)));
    }
    if (PQsendQueryPrepared(c, name.c_str(), n, values.data(), lengths.data(), formats.data(), result_format) != 1) {
        fail_connection(trimmed(PQerrorMessage(c)));
    }
    return needs_prepare;
}

void Connection::flush(const Context& ctx) {
    PGconn* c = m_conn.get();
    m_flushed = true;
    if (PQpipelineSync(c) != 1) {
        fail_connection(trimmed(PQerrorMessage(c)));
    }
    m_sync_pending = true;
    for (;;) {
        const int r = PQflush(c);
        if (r == 0) {
            return;
        }
        if (r < 0) {
            fail_connection(trimmed(PQerrorMessage(c)));
        }
        wait_socket(ctx, true);
        if (PQconsumeInput(c) != 1) {
            fail_connection(trimmed(PQerrorMessage(c)));
        }
    }
}

ResultPtr Connection::next_result(const Context& ctx) {
    PGconn* c = m_conn.get();
    while (PQisBusy(c) == 1) {
        wait_socket(ctx, false);
        if (PQconsumeInput(c) != 1) {
            fail_connection(trimmed(PQerrorMessage(c)));
        }
    }
    return ResultPtr(PQgetResult(c));
}

DatabaseFailure Connection::failure_of(const PGresult* res, const Context& ctx) const {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    std::string sqlstate = state != nullptr ? state : "";
    std::string message = trimmed(PQresultErrorMessage(res));
    // The server ended the transaction with this error: nothing of the pipeline commits.
    if (sqlstate == "57014") { // query_canceled: ours, or the server's statement_timeout
        const Interruption why = m_interruption != Interruption::none ? m_interruption
                                 : ctx.deadline_passed()              ? Interruption::deadline_exceeded
                                                                      : Interruption::canceled;
        return DatabaseFailure::interrupted(why == Interruption::deadline_exceeded, message, std::move(sqlstate),
                                            Outcome::nothing_written);
    }
    return DatabaseFailure::from_server(message, sqlstate, Outcome::nothing_written);
}

std::vector<Result> Connection::run(const Context& ctx, std::span<const Statement> statements) {
    return execute(ctx, statements, nullptr);
}

void Connection::stream(const Context& ctx, const Statement& statement, const std::function<void(const Row&)>& on_row) {
    (void)execute(ctx, std::span<const Statement>(&statement, 1), &on_row);
}

std::vector<Result> Connection::execute(const Context& ctx, std::span<const Statement> statements,
                                        const std::function<void(const Row&)>* on_row) {
    if (m_state != SessionState::per_transaction) {
        try {
            return execute_once(ctx, statements, on_row);
        } catch (const DatabaseFailure& failure) {
            // Our names are unique to this connection and never deallocated: when the server session
            // does not know one (or knows it already), the connection is not one server session.
            if (failure.sqlstate() != "26000" && failure.sqlstate() != "42P05") {
                throw;
            }
            throw DatabaseFailure(std::string(failure.what()) +
                                      " (this connection's statements are not where it prepared them: the "
                                      "connection goes through a pooler in transaction pooling mode, such as "
                                      "PgBouncer's pool_mode=transaction; set "
                                      "PoolOptions::behind_transaction_pooler for such a pool)",
                                  failure.sqlstate(), failure.kind(), failure.outcome());
        }
    }
    try {
        return execute_once(ctx, statements, on_row);
    } catch (const DatabaseFailure& failure) {
        // Mended and tried once more only when the failure left nothing behind: a call of its own
        // (not the owner's transaction, not a later step of a transaction of ours) on a usable session.
        const bool own_call = !m_joined && !m_broken && PQtransactionStatus(m_conn.get()) == PQTRANS_IDLE &&
                              failure.kind() == FailureKind::statement && failure.outcome() != Outcome::unknown;
        if (!own_call) {
            throw;
        }
        if (std::exchange(m_isolation_refused, false) && !m_explicit_transactions) {
            m_explicit_transactions = true; // the session's default isolation is another
        } else if ((failure.sqlstate() == "26000" || failure.sqlstate() == "42P05") && m_statements) {
            m_statements->reset(m_backend_pid); // deallocated by the owner, or a name taken
        } else {
            throw;
        }
    }
    return execute_once(ctx, statements, on_row);
}

std::vector<Result> Connection::execute_once(const Context& ctx, std::span<const Statement> statements,
                                             const std::function<void(const Row&)>* on_row) {
    if (Interruption why = interruption_of(ctx); why != Interruption::none) {
        throw interrupted(why);
    }
    // The protocol counts a statement's parameters in 16 bits. Checked before anything is queued, so
    // that the session stays usable.
    for (const Statement& st : statements) {
        if (st.params.size() > max_statement_parameters) {
            throw DatabaseFailure("a statement has " + std::to_string(st.params.size()) +
                                      " parameters; PostgreSQL accepts at most " +
                                      std::to_string(max_statement_parameters),
                                  "54000", FailureKind::statement);
        }
    }
    std::vector<const Statement*> before;
    std::vector<const Statement*> after;
    if (m_state == SessionState::per_transaction) {
        frame(statements, before, after);
    }
    m_interruption = Interruption::none;
    m_isolation_refused = false;
    m_flushed = false;
    check_alive();
    // Whether the pipeline ends its transaction by committing: outside an explicit transaction block
    // its Sync commits; inside one (an import's), only a COMMIT does; inside the owner's, never.
    m_commits = !m_joined && (PQtransactionStatus(m_conn.get()) == PQTRANS_IDLE ||
                              std::any_of(statements.begin(), statements.end(),
                                          [](const Statement& st) { return st.sql == "COMMIT"; }));

    // What each result coming back belongs to: a statement of the caller's (or our own plan-mode
    // switch), and whether it is the Parse we sent for it or its execution.
    struct Slot {
        const Statement* statement;
        std::size_t index; // in `statements`; npos for our own
        bool prepare;
    };
    static constexpr auto ours = std::numeric_limits<std::size_t>::max();
    std::vector<Slot> slots;
    slots.reserve(statements.size() * 2 + 2);
    const auto queue = [&](const Statement& st, std::size_t index) {
        if (send(st)) {
            slots.push_back({&st, index, true});
        }
        slots.push_back({&st, index, false});
    };
    // The session plans everything generically (session_setup); a statement that must be planned
    // with its values gets custom plans for the rest of this pipeline's transaction. Our pipelines end
    // with such statements, so no cached statement pays for planning because of it.
    // Unnamed statements without the per-transaction generic-plan setting (joined calls, sessions
    // that keep no statements) are planned with their values anyway.
    bool custom_plans = m_state == SessionState::per_transaction && !generic_plans();
    for (const Statement* st : before) {
        queue(*st, ours);
    }
    for (std::size_t i = 0; i < statements.size(); ++i) {
        if (!custom_plans && statements[i].plan == Statement::Plan::per_call && !statements[i].params.empty()) {
            queue(custom_plan_mode(), ours);
            custom_plans = true;
        }
        queue(statements[i], i);
    }
    for (const Statement* st : after) {
        queue(*st, ours);
    }
    // The streamed statement's rows come one result each; single-row mode must be asked for when its
    // results are the next to be read, which is now if nothing was queued before it.
    const auto streamed_next = [&](std::size_t next_slot) {
        return on_row != nullptr && next_slot < slots.size() && !slots[next_slot].prepare &&
               slots[next_slot].index != ours;
    };
    if (streamed_next(0)) {
        // Best effort: if libpq refuses, whole results arrive and are handed over row by row all the
        // same, only with more memory.
        (void)PQsetSingleRowMode(m_conn.get());
    }
    flush(ctx);

    std::vector<Result> results(statements.size());
    std::optional<DatabaseFailure> failure;
    std::size_t next_slot = 0;
    for (;;) {
        ResultPtr res;
        try {
            res = next_result(ctx);
        } catch (const DatabaseFailure&) {
            // The server said why before it closed the session (57P01, ...): that is the failure.
            if (failure && failure->kind() == FailureKind::connection) {
                throw std::move(*failure);
            }
            throw;
        }
        if (!res) {
            // The end of one slot's results; the next one's follow.
            if (streamed_next(next_slot)) {
                (void)PQsetSingleRowMode(m_conn.get());
            }
            continue;
        }
        const ExecStatusType status = PQresultStatus(res.get());
        if (status == PGRES_PIPELINE_SYNC) {
            m_sync_pending = false;
            break;
        }
        if (next_slot >= slots.size()) {
            fail_connection("unexpected result from the server");
        }
        const Slot& slot = slots[next_slot];
        // Single-row results share one slot: it ends only with the statement's final result.
        if (status != PGRES_SINGLE_TUPLE) {
            ++next_slot;
        }
        if (status == PGRES_FATAL_ERROR || status == PGRES_PIPELINE_ABORTED) {
            if (slot.prepare) {
                m_statements->names.erase(slot.statement->sql); // failed, or never parsed
            }
            if (status == PGRES_FATAL_ERROR && !failure) {
                // The settings statement refusing READ COMMITTED, not a statement of the caller's
                // refusing to run in a transaction (both are 25001).
                m_isolation_refused = slot.index == ours && slot.statement != &isolation_check() &&
                                      std::string_view(PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) != nullptr
                                                           ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE)
                                                           : "") == "25001";
                failure.emplace(slot.statement == &isolation_check() ? not_read_committed(res.get())
                                                                     : failure_of(res.get(), ctx));
                m_commits = false; // the transaction is aborted, whatever happens to the session next
            }
        } else if (!slot.prepare && slot.index != ours) {
            if (on_row == nullptr) {
                results[slot.index] = Result(std::make_unique<PgResult>(std::move(res)));
                continue;
            }
            const PgResultView rows(res.get());
            for (std::size_t i = 0; !failure && i < rows.rows(); ++i) {
                try {
                    (*on_row)(Row(rows, i));
                } catch (...) {
                    m_broken = true; // the statement may still be running
                    throw;
                }
            }
        }
    }
    // A cancel request travels on a connection of its own and a thread of its own: when the results
    // came back before it was served, it may still reach the server, and then it cancels whatever this
    // session runs next, another caller's statement. Even a 57014 in this pipeline does not prove that
    // the request is spent (the subscription tests saw one cancel the next statement all the same), so
    // a session on which a cancel was requested is not handed out again: a new connection costs a few
    // milliseconds, once per cancelled call.
    // A borrowed connection cannot be replaced: it is handed back once the request has reached the
    // server, after which the request can only end a statement that was running then (a backend drops
    // a cancel that arrives while it waits for the next command).
    // Behind a pooler, the same holds of the client connection: the pooler forwards the request only
    // while the server session still runs this client's statement, and holds that session back from
    // other clients until the server has it (PgBouncer 1.18 and later).
    if (m_interruption != Interruption::none) {
        m_broken = borrowed() || m_pooled ? !cancel_spent() : true;
    }
    if (failure && m_state == SessionState::per_transaction && m_explicit_transactions && !after.empty()) {
        roll_back_own_transaction();
    }
    if (failure) {
        throw std::move(*failure);
    }
    return results;
}

const Statement& Connection::custom_plan_mode() {
    static const Statement statement =
        Statement::cached("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)");
    return statement;
}

const Statement& Connection::isolation_check() {
    // A no-op when the transaction is READ COMMITTED; otherwise the server refuses it (25001), as any
    // change of isolation after the transaction's first query.
    static const Statement statement =
        Statement::per_call("SELECT set_config('transaction_isolation', 'read committed', true)");
    return statement;
}

DatabaseFailure Connection::not_read_committed(const PGresult* res) {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return DatabaseFailure("the transaction this call joins is not READ COMMITTED (" +
                               trimmed(PQresultErrorMessage(res)) +
                               "): the store's reads and appends need READ COMMITTED isolation; begin the "
                               "transaction with it",
                           state != nullptr ? state : "25001", FailureKind::statement, Outcome::nothing_written);
}

void Connection::frame(std::span<const Statement> statements, std::vector<const Statement*>& before,
                       std::vector<const Statement*>& after) const {
    if (m_joined) {
        refuse_transaction_control(statements);
        before.push_back(&isolation_check());
        if (takes_call_scoped_locks(statements)) {
            // A read has nothing to undo but its locks.
            before.push_back(&call_savepoint());
            after.push_back(&rollback_to_call_savepoint());
            after.push_back(&release_call_savepoint());
        }
        return;
    }
    // Only a call that starts outside any transaction gets one of its own; a call that opens its own
    // (an import's first) or continues one (its later ones) is left as it is.
    if (PQtransactionStatus(m_conn.get()) != PQTRANS_IDLE ||
        (!statements.empty() && (controls_transaction(statements.front()) || runs_alone(statements.front())))) {
        return;
    }
    // The settings session_setup() makes once per native connection, here for this transaction only:
    // the pipeline's implicit transaction, which this statement makes READ COMMITTED or, when the
    // session's default is another isolation, refuses (25001: execute() then frames the calls in
    // BEGIN ... COMMIT). Generic plans when the statements are kept, and behind a pooler.
    static const Statement settings = Statement::cached(
        "SELECT set_config('transaction_isolation', 'read committed', true), set_config('jit', 'off', true), "
        "set_config('max_parallel_workers_per_gather', '0', true)");
    static const Statement generic_settings = Statement::cached(
        "SELECT set_config('transaction_isolation', 'read committed', true), set_config('jit', 'off', true), "
        "set_config('max_parallel_workers_per_gather', '0', true), "
        "set_config('plan_cache_mode', 'force_generic_plan', true)");
    static const Statement begin = Statement::per_call("BEGIN ISOLATION LEVEL READ COMMITTED");
    static const Statement commit = Statement::per_call("COMMIT");
    if (m_explicit_transactions) {
        before.push_back(&begin);
        after.push_back(&commit);
    }
    before.push_back(generic_plans() ? &generic_settings : &settings);
}

void Connection::roll_back_own_transaction() noexcept {
    PGconn* c = m_conn.get();
    if (m_broken || m_joined || PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) == PQTRANS_IDLE) {
        return;
    }
    try {
        // Bounded like any call: a server that does not answer within the grace period loses the session.
        static const std::array<Statement, 1> rollback{Statement::per_call("ROLLBACK")};
        (void)execute(Context().with_timeout(cancel_grace), rollback, nullptr);
    } catch (...) {
        m_broken = true;
    }
}

bool Connection::cancel_spent() {
    std::unique_lock lock(m_cancel_flight->mutex);
    return m_cancel_flight->done_cv.wait_for(lock, cancel_grace, [&] { return m_cancel_flight->done; });
}

} // namespace eventstore::postgres::detail
