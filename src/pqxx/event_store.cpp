// The libpqxx adapter. libpqxx 6.4 keeps its PGconn private, so the engine's statements go through its
// public interface: one exec_params per statement (no pipeline), parameters as untyped text (the
// placeholders are cast to their types: codec.hpp, typed_placeholders) and results as text (the text
// decoders of codec.hpp). Cancellation is libpqxx's cancel_query(), sent by a watchdog thread when a
// call's Context ends.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <pqxx/connection_base>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/prepared_statement>
#include <pqxx/result>
#include <pqxx/transaction_base>

#include <eventstore/error.hpp>
#include <eventstore/postgres/pqxx.hpp>

#include "postgres/codec.hpp"
#include "postgres/joined_calls.hpp"
#include "postgres/single_use.hpp"
#include "postgres/store_impl.hpp"

namespace eventstore::postgres {

namespace {

using Clock = std::chrono::steady_clock;
using detail::DatabaseFailure;
using detail::FailureKind;
using detail::Outcome;
using detail::Statement;

// How often the watchdog looks at a call's stop token, well inside the promised 100 ms.
constexpr auto watch_interval = std::chrono::milliseconds(10);

enum class Interruption { none, canceled, deadline_exceeded };

Interruption interruption_of(const Context& ctx) noexcept {
    if (ctx.stop_requested()) {
        return Interruption::canceled;
    }
    if (ctx.deadline_passed()) {
        return Interruption::deadline_exceeded;
    }
    return Interruption::none;
}

// Cancels the statement running on a connection when the Context of the call that runs it ends. One
// call at a time per connection (the source serialises them), so one watch at a time; the thread
// starts with the first call that can end early.
class Watchdog {
public:
    explicit Watchdog(pqxx::connection_base& connection) : m_connection(connection) {}
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;
    ~Watchdog() {
        {
            const std::lock_guard lock(m_mutex);
            m_stopping = true;
        }
        m_wake.notify_all();
        if (m_thread.joinable()) {
            m_thread.join();
        }
    }

    // Watches `ctx` until the returned guard is destroyed. When the guard is gone, a cancel request
    // the watchdog sent has reached the server (cancel_query returns then), so it cannot cancel a
    // later statement: a backend drops a cancel that arrives while it waits for the next command.
    class Watch {
    public:
        explicit Watch(Watchdog* dog) noexcept : m_dog(dog) {}
        Watch(const Watch&) = delete;
        Watch& operator=(const Watch&) = delete;
        ~Watch() {
            if (m_dog != nullptr) {
                m_dog->unwatch();
            }
        }

    private:
        Watchdog* m_dog;
    };

    [[nodiscard]] Watch watch(const Context& ctx) {
        if (!ctx.deadline() && !ctx.stop_token().stop_possible()) {
            return Watch(nullptr);
        }
        {
            const std::lock_guard lock(m_mutex);
            m_watched = ctx;
            m_fired = Interruption::none;
            if (!m_thread.joinable()) {
                m_thread = std::thread([this] { loop(); });
            }
        }
        m_wake.notify_all();
        return Watch(this);
    }

    // Why the watchdog cancelled the last watched statement, if it did.
    [[nodiscard]] Interruption fired() {
        const std::lock_guard lock(m_mutex);
        return m_fired;
    }

private:
    void unwatch() {
        const std::lock_guard lock(m_mutex);
        m_watched.reset();
    }

    void loop() {
        std::unique_lock lock(m_mutex);
        while (!m_stopping) {
            if (!m_watched) {
                m_wake.wait(lock);
                continue;
            }
            if (const Interruption why = interruption_of(*m_watched); why != Interruption::none) {
                // Under the lock: unwatch() waits for the request to reach the server.
                try {
                    m_connection.cancel_query();
                } catch (const std::exception&) {
                    // The statement's own failure (the connection lost) is what the call reports.
                }
                m_fired = why;
                m_watched.reset();
                continue;
            }
            auto until = Clock::now() + watch_interval;
            if (const auto deadline = m_watched->deadline()) {
                until = std::min(until, *deadline);
            }
            m_wake.wait_until(lock, until);
        }
    }

    pqxx::connection_base& m_connection;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::optional<Context> m_watched;
    Interruption m_fired = Interruption::none;
    bool m_stopping = false;
    std::thread m_thread;
};

// A libpqxx result as the engine's rows: text fields.
class PqxxResult final : public detail::ResultSource {
public:
    // A libpqxx result shares its PGresult: a copy is cheap.
    explicit PqxxResult(const pqxx::result& result) noexcept : m_result(result) {}

    [[nodiscard]] std::size_t rows() const noexcept override { return m_result.size(); }
    [[nodiscard]] detail::Field field(std::size_t row, std::size_t column) const noexcept override {
        const pqxx::field f =
            m_result[static_cast<pqxx::result::size_type>(row)][static_cast<pqxx::row::size_type>(column)];
        if (f.is_null()) {
            return {};
        }
        return detail::Field(std::string_view(f.c_str(), f.size()), detail::Format::text);
    }
    [[nodiscard]] std::uint64_t affected_rows() const noexcept override {
        try {
            return m_result.affected_rows();
        } catch (...) {
            return 0;
        }
    }

private:
    pqxx::result m_result;
};

// The settings the native session makes once, here per transaction; and ISO dates, which the text
// decoder of timestamptz reads.
const Statement& settings_statement() {
    static const Statement statement = Statement::per_call(
        "SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true), "
        "set_config('DateStyle', 'ISO', true)");
    return statement;
}

// Joined calls: a no-op in a READ COMMITTED transaction, refused (25001) in another.
const Statement& joined_check_statement() {
    static const Statement statement = Statement::per_call(
        "SELECT set_config('transaction_isolation', 'read committed', true), set_config('DateStyle', 'ISO', true)");
    return statement;
}

class PqxxSession final : public detail::Session {
public:
    PqxxSession(pqxx::connection_base& connection, pqxx::transaction_base* joined, Watchdog& watchdog,
                bool& own_transaction)
        : m_connection(connection), m_joined(joined), m_watchdog(watchdog), m_own_transaction(own_transaction) {}

    std::vector<detail::Result> run(const Context& ctx, std::span<const Statement> statements) override {
        if (const Interruption why = interruption_of(ctx); why != Interruption::none) {
            throw DatabaseFailure::interrupted(why == Interruption::deadline_exceeded);
        }
        std::vector<const Statement*> before;
        std::vector<const Statement*> after;
        frame(statements, before, after);
        std::optional<pqxx::nontransaction> own;
        pqxx::transaction_base* tx = m_joined;
        if (tx == nullptr) {
            open_connection();
            try {
                own.emplace(m_connection, "eventstore");
            } catch (const pqxx::usage_error& e) {
                throw DatabaseFailure(std::string("the libpqxx connection has a transaction of the application's "
                                                  "open (") +
                                          e.what() +
                                          "): make the store over that transaction "
                                          "(new_event_store_from_pqxx(transaction)), or call it outside",
                                      "25001", FailureKind::statement);
            }
            tx = &*own;
        }
        std::vector<detail::Result> results(statements.size());
        bool sent = false;
        try {
            for (const Statement* st : before) {
                (void)execute(ctx, *tx, *st, sent);
            }
            for (std::size_t i = 0; i < statements.size(); ++i) {
                results[i] = detail::Result(std::make_unique<PqxxResult>(execute(ctx, *tx, statements[i], sent)));
            }
            for (const Statement* st : after) {
                (void)execute(ctx, *tx, *st, sent);
            }
        } catch (const DatabaseFailure&) {
            // A transaction this call opened ends here; one that an earlier call opened (an import's) is
            // its caller's to recover (a savepoint) or end, and finish() ends it at the latest.
            if (!after.empty()) {
                roll_back(tx);
            }
            throw;
        }
        return results;
    }

    void stream(const Context& ctx, const Statement& statement,
                const std::function<void(const detail::Row&)>& on_row) override {
        // libpqxx 6.4 has no single-row mode: the whole result arrives, then goes out row by row.
        const std::vector<detail::Result> results = run(ctx, std::span<const Statement>(&statement, 1));
        for (std::size_t i = 0; i < results.front().size(); ++i) {
            on_row(results.front()[i]);
        }
    }

    [[nodiscard]] int backend_pid() const noexcept override { return m_connection.backendpid(); }
    [[nodiscard]] bool broken() const noexcept override {
        return m_broken || !m_connection.is_open() || (m_joined == nullptr && m_own_transaction);
    }
    [[nodiscard]] bool closed_by_server() noexcept override { return broken(); }

    // Ends a transaction the store left open (a failed import's), before the connection goes back.
    void finish() noexcept {
        if (m_joined == nullptr && m_own_transaction && m_connection.is_open()) {
            roll_back(nullptr);
        }
    }

private:
    // A lazy connection not used yet, or one disconnected (by the application, or lost in an earlier
    // call): libpqxx 6.4 opens it again with activate(), deprecated there in favour of its reactivation
    // on first use, which a transaction's constructor does not do.
    void open_connection() {
        if (m_connection.is_open()) {
            return;
        }
        try {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
            m_connection.activate();
#pragma GCC diagnostic pop
        } catch (const std::exception& e) {
            throw DatabaseFailure(std::string("opening the libpqxx connection failed: ") + e.what(), "08001",
                                  FailureKind::connection);
        }
    }

    void frame(std::span<const Statement> statements, std::vector<const Statement*>& before,
               std::vector<const Statement*>& after) const {
        if (m_joined != nullptr) {
            detail::refuse_transaction_control(statements);
            // Always in a savepoint: libpqxx rolls a transaction back when a statement in it fails, and
            // its statements then run outside any transaction; the savepoint refuses that (25P01).
            before.push_back(&detail::call_savepoint());
            before.push_back(&joined_check_statement());
            if (detail::takes_call_scoped_locks(statements)) {
                after.push_back(&detail::rollback_to_call_savepoint()); // releases the read's locks
            }
            after.push_back(&detail::release_call_savepoint());
            return;
        }
        if (m_own_transaction || (!statements.empty() && detail::controls_transaction(statements.front()))) {
            return;
        }
        static const Statement begin = Statement::per_call("BEGIN ISOLATION LEVEL READ COMMITTED");
        static const Statement commit = Statement::per_call("COMMIT");
        before.push_back(&begin);
        before.push_back(&settings_statement());
        after.push_back(&commit);
    }

    pqxx::result execute(const Context& ctx, pqxx::transaction_base& tx, const Statement& st, bool& sent) {
        if (const Interruption why = interruption_of(ctx); why != Interruption::none) {
            throw DatabaseFailure::interrupted(why == Interruption::deadline_exceeded, {}, {},
                                               sent ? Outcome::nothing_written : Outcome::not_sent);
        }
        std::vector<std::string> values;
        values.reserve(st.params.size());
        for (const detail::Param& p : st.params) {
            values.push_back(detail::param_text(p));
        }
        const std::string sql = detail::typed_placeholders(st.sql, st.params);
        const bool commits = st.sql == "COMMIT";
        try {
            pqxx::result result;
            {
                const Watchdog::Watch watch = m_watchdog.watch(ctx);
                sent = true;
                result = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(values));
            }
            if (st.sql.starts_with("BEGIN")) {
                m_own_transaction = true;
            } else if (commits || st.sql == "ROLLBACK") {
                m_own_transaction = false;
            }
            return result;
        } catch (const pqxx::sql_error& e) {
            const std::string& sqlstate = e.sqlstate();
            std::string message = e.what();
            while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
                message.pop_back();
            }
            if (sqlstate == "57014") {
                Interruption why = m_watchdog.fired();
                if (why == Interruption::none) {
                    why = ctx.deadline_passed() ? Interruption::deadline_exceeded : Interruption::canceled;
                }
                throw DatabaseFailure::interrupted(why == Interruption::deadline_exceeded, message, sqlstate,
                                                   Outcome::nothing_written);
            }
            if (&st == &joined_check_statement()) {
                throw DatabaseFailure("the transaction this call joins is not READ COMMITTED (" + message +
                                          "): the store's reads and appends need READ COMMITTED isolation; begin "
                                          "the transaction with it",
                                      sqlstate, FailureKind::statement, Outcome::nothing_written);
            }
            if (&st == &detail::call_savepoint() && sqlstate == "25P01") {
                throw DatabaseFailure("the application's transaction has ended (libpqxx rolls a transaction back "
                                      "when a statement in it fails): abort it and begin a new one (" +
                                          message + ")",
                                      sqlstate, FailureKind::statement, Outcome::not_sent);
            }
            if (sqlstate == "25P02") {
                message += " (the transaction is aborted by an earlier error: abort it first)";
            }
            throw DatabaseFailure::from_server(message, sqlstate, Outcome::nothing_written);
        } catch (const pqxx::broken_connection& e) {
            // A transaction of ours died with the session: libpqxx would reopen the connection for the
            // next call, which must not believe itself inside it.
            m_broken = true;
            m_own_transaction = false;
            throw DatabaseFailure(e.what(), "08006", FailureKind::connection,
                                  commits ? Outcome::unknown : Outcome::nothing_written);
        } catch (const pqxx::in_doubt_error& e) {
            m_broken = true;
            m_own_transaction = false;
            throw DatabaseFailure(e.what(), "08007", FailureKind::connection, Outcome::unknown);
        } catch (const pqxx::failure& e) {
            m_broken = !m_connection.is_open();
            m_own_transaction = m_own_transaction && !m_broken;
            throw DatabaseFailure(e.what(), m_broken ? "08006" : "XX000",
                                  m_broken ? FailureKind::connection : FailureKind::statement,
                                  commits && m_broken ? Outcome::unknown : Outcome::nothing_written);
        } catch (const pqxx::usage_error& e) {
            throw DatabaseFailure(std::string("libpqxx refused the statement: ") + e.what(), "XX000",
                                  FailureKind::statement, sent ? Outcome::nothing_written : Outcome::not_sent);
        }
    }

    // Ends the store's own transaction after a failure (inside the application's, a savepoint of ours is
    // the application's to roll back with its transaction).
    void roll_back(pqxx::transaction_base* tx) noexcept {
        if (m_joined != nullptr || !m_connection.is_open()) {
            return;
        }
        try {
            std::optional<pqxx::nontransaction> own;
            if (tx == nullptr) {
                own.emplace(m_connection, "eventstore_rollback");
                tx = &*own;
            }
            const Watchdog::Watch watch = m_watchdog.watch(Context().with_timeout(std::chrono::seconds(5)));
            (void)tx->exec("ROLLBACK");
            m_own_transaction = false;
        } catch (...) {
            m_broken = true;
        }
    }

    pqxx::connection_base& m_connection;
    pqxx::transaction_base* m_joined;
    Watchdog& m_watchdog;
    bool& m_own_transaction; // a BEGIN of ours is open on the connection (lives with the source)
    bool m_broken = false;
};

// One connection (or one transaction of the application's), one call at a time.
class PqxxSource final : public detail::SessionSource {
public:
    PqxxSource(pqxx::connection_base& connection, pqxx::transaction_base* joined)
        : m_connection(connection), m_joined(joined), m_watchdog(connection) {}

    detail::SessionLease acquire(const Context& ctx) override {
        if (!m_use.acquire(ctx, detail::handle_wait_limit(ctx), watch_interval)) {
            detail::throw_wait_ended(ctx, "the libpqxx connection stayed busy with other calls of the store for 30 s");
        }
        return {*this, std::make_unique<PqxxSession>(m_connection, m_joined, m_watchdog, m_own_transaction)};
    }

private:
    void give_back(std::unique_ptr<detail::Session> session) noexcept override {
        static_cast<PqxxSession&>(*session).finish();
        session.reset();
        m_use.release();
    }

    pqxx::connection_base& m_connection;
    pqxx::transaction_base* m_joined;
    Watchdog m_watchdog;
    detail::SingleUse m_use;
    bool m_own_transaction = false;
};

} // namespace

std::unique_ptr<EventStore> new_event_store_from_pqxx(pqxx::connection_base& connection, const StoreOptions& options) {
    return new_event_store_from_pqxx_and_replicas(connection, {}, options);
}

std::unique_ptr<EventStore> new_event_store_from_pqxx(pqxx::connection_base& connection,
                                                      const std::vector<Option>& options) {
    return new_event_store_from_pqxx(connection, detail::combined(options));
}

std::unique_ptr<EventStore> new_event_store_from_pqxx(pqxx::transaction_base& transaction,
                                                      const StoreOptions& options) {
    return detail::make_store(std::make_shared<PqxxSource>(transaction.conn(), &transaction), "primary", {}, options);
}

std::unique_ptr<EventStore> new_event_store_from_pqxx(pqxx::transaction_base& transaction,
                                                      const std::vector<Option>& options) {
    return new_event_store_from_pqxx(transaction, detail::combined(options));
}

std::unique_ptr<EventStore> new_event_store_from_pqxx_and_replicas(pqxx::connection_base& primary,
                                                                   const std::vector<pqxx::connection_base*>& replicas,
                                                                   const StoreOptions& options) {
    std::vector<std::shared_ptr<detail::SessionSource>> sources;
    for (std::size_t i = 0; i < replicas.size(); ++i) {
        if (replicas[i] == nullptr) {
            throw Error(Errc::nil_database_connection, "replica " + std::to_string(i) + " is null");
        }
        sources.push_back(std::make_shared<PqxxSource>(*replicas[i], nullptr));
    }
    return detail::make_store(std::make_shared<PqxxSource>(primary, nullptr), "primary",
                              detail::named_replicas(std::move(sources)), options);
}

std::unique_ptr<EventStore> new_event_store_from_pqxx_and_replicas(pqxx::connection_base& primary,
                                                                   const std::vector<pqxx::connection_base*>& replicas,
                                                                   const std::vector<Option>& options) {
    return new_event_store_from_pqxx_and_replicas(primary, replicas, detail::combined(options));
}

std::unique_ptr<EventStore> new_event_store_from_pqxx_and_replica(pqxx::connection_base& primary,
                                                                  pqxx::connection_base* replica,
                                                                  const StoreOptions& options) {
    return new_event_store_from_pqxx_and_replicas(primary,
                                                  replica != nullptr ? std::vector<pqxx::connection_base*>{replica}
                                                                     : std::vector<pqxx::connection_base*>{},
                                                  options);
}

std::unique_ptr<EventStore> new_event_store_from_pqxx_and_replica(pqxx::connection_base& primary,
                                                                  pqxx::connection_base* replica,
                                                                  const std::vector<Option>& options) {
    return new_event_store_from_pqxx_and_replica(primary, replica, detail::combined(options));
}

} // namespace eventstore::postgres
