#ifndef EVENTSTORE_SRC_POSTGRES_JOINED_CALLS_HPP
#define EVENTSTORE_SRC_POSTGRES_JOINED_CALLS_HPP

// What the sessions on an application's handle share for calls inside the application's own
// transaction (docs/adapters.md, "Calls inside your transaction"): the calls that cannot join one,
// and the savepoint a read's locks are taken in.

#include <algorithm>
#include <span>
#include <string>

#include "postgres/failure.hpp"
#include "postgres/statement.hpp"

namespace eventstore::postgres::detail {

// Whether the statement begins or ends a transaction (BEGIN, COMMIT, ROLLBACK, ROLLBACK TO SAVEPOINT).
[[nodiscard]] inline bool controls_transaction(const Statement& st) {
    return st.sql.starts_with("BEGIN") || st.sql == "COMMIT" || st.sql.starts_with("ROLLBACK");
}

// Whether the statement refuses to run inside a transaction or beside other statements in a pipeline
// (CREATE and DROP INDEX CONCURRENTLY): it gets no per-transaction settings before it.
[[nodiscard]] inline bool runs_alone(const Statement& st) {
    return (st.sql.starts_with("CREATE ") || st.sql.starts_with("DROP ")) &&
           st.sql.find(" INDEX CONCURRENTLY ") != std::string::npos;
}

// Throws for a call that manages transactions of its own, before anything is sent: the caller's
// transaction stays as it was.
inline void refuse_transaction_control(std::span<const Statement> statements) {
    if (std::any_of(statements.begin(), statements.end(), controls_transaction)) {
        throw DatabaseFailure("this call manages transactions of its own (import_events, migrate, the checkpoints "
                              "of a subscription) and cannot run inside the caller's transaction: make it outside "
                              "any transaction",
                              "25001", FailureKind::statement, Outcome::not_sent);
    }
}

// Whether a statement of the call takes locks that guard only the call (a read's barrier).
[[nodiscard]] inline bool takes_call_scoped_locks(std::span<const Statement> statements) {
    return std::any_of(statements.begin(), statements.end(), [](const Statement& st) { return st.call_scoped_locks; });
}

// The savepoint of a joined call; rolling back to it releases the locks taken since.
[[nodiscard]] inline const Statement& call_savepoint() {
    static const Statement statement = Statement::per_call("SAVEPOINT eventstore_call");
    return statement;
}
[[nodiscard]] inline const Statement& rollback_to_call_savepoint() {
    static const Statement statement = Statement::per_call("ROLLBACK TO SAVEPOINT eventstore_call");
    return statement;
}
[[nodiscard]] inline const Statement& release_call_savepoint() {
    static const Statement statement = Statement::per_call("RELEASE SAVEPOINT eventstore_call");
    return statement;
}

} // namespace eventstore::postgres::detail

#endif
