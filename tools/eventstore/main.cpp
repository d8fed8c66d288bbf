// `eventstore`: the store from a shell (docs/cli.md).

#include <csignal>
#include <iostream>
#include <stop_token>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <pthread.h>
#include <unistd.h>

#include "commands.hpp"
#include "server.hpp"

namespace {

using eventstore::cli::FilterFlags;
using eventstore::cli::Target;

void add_target(CLI::App& command, Target& target) {
    command.add_option("--dsn", target.dsn,
                       "libpq connection string or URI, e.g. \"host=/var/run/postgresql dbname=app\" or "
                       "postgresql://user@host/app (default: the PGHOST, PGPORT, PGUSER, PGDATABASE variables)");
    command.add_option("--table", target.table, "the events table, optionally schema-qualified")->capture_default_str();
}

// `tail` follows the log forwards from --after: it takes no --from, --limit or --backwards.
void add_filter(CLI::App& command, FilterFlags& flags, bool follows = false) {
    command.add_option("--type", flags.types, "an event type to match (repeatable: any of them)");
    command.add_option("--tag", flags.tags, "a tag events must carry (repeatable: all of them)");
    command.add_option("--where", flags.where, "a payload predicate KEY=VALUE (repeatable: any of them)");
    command.add_flag("--all-where", flags.all_where, "events must match every --where, not any");
    command.add_option("--after", flags.after, "only events at positions above N");
    if (!follows) {
        command.add_option("--from", flags.from, "the first position to read (the last with --backwards)");
        command.add_option("--limit", flags.limit, "at most N events");
        command.add_flag("--backwards", flags.backwards, "newest first");
    }
    command.add_option("--occurred-from", flags.occurred_from, "only events that occurred at or after (RFC 3339)");
    command.add_option("--occurred-until", flags.occurred_until, "only events that occurred before (RFC 3339)");
}

// tail and serve end normally on SIGINT or SIGTERM: a thread of its own waits for them and requests
// the command's stop.
template <typename Command>
int until_signalled(Command command) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr); // before any thread starts: all of them inherit it
    std::stop_source stop;
    std::thread([signals, stop]() mutable {
        int received = 0;
        (void)sigwait(&signals, &received);
        stop.request_stop();
    }).detach();
    return command(stop.get_token());
}

} // namespace

int main(int argc, char** argv) try {
    CLI::App app{"eventstore: read, append, export and import the events of a PostgreSQL event store.\n"
                 "Events are NDJSON lines: {\"type\":...,\"tags\":[...],\"occurred_at\":...,\"payload\":{...},"
                 "\"metadata\":{...},\"id\":...}. See docs/cli.md."};
    app.require_subcommand(1);
    Target target;
    FilterFlags flags;
    bool print_sql = false;
    bool atomic = false;
    bool force_progress = false;

    auto* migrate = app.add_subcommand("migrate", "create the tables and indexes the store needs (idempotent)");
    add_target(*migrate, target);
    migrate->add_flag("--print-sql", print_sql, "print the DDL for an empty database instead of running it");

    auto* append = app.add_subcommand("append", "append the events on standard input, one append per line");
    add_target(*append, target);
    append->add_flag("--atomic", atomic, "all lines in one append: all stored, or none");

    auto* query = app.add_subcommand("query", "print the matching events as NDJSON");
    add_target(*query, target);
    add_filter(*query, flags);

    auto* exporter = app.add_subcommand("export", "print the table's (or a filter's) events as NDJSON");
    add_target(*exporter, target);
    add_filter(*exporter, flags);
    exporter->add_flag("--progress", force_progress, "show progress on standard error even when it is not a terminal");

    auto* importer = app.add_subcommand("import", "append the NDJSON events on standard input in one atomic import");
    add_target(*importer, target);
    importer->add_flag("--progress", force_progress, "show progress on standard error even when it is not a terminal");

    auto* tail = app.add_subcommand("tail", "print the matching events, then each new one, until interrupted");
    add_target(*tail, target);
    add_filter(*tail, flags, true);

    bool json = false;
    auto* stats = app.add_subcommand("stats", "events, newest position, sizes and counts per event type");
    add_target(*stats, target);
    stats->add_flag("--json", json, "one JSON object instead of text");

    eventstore::cli::ServeOptions serve_options;
    auto* serve = app.add_subcommand("serve", "serve the store over HTTP (the DCB test suite's API: docs/http.md)");
    add_target(*serve, target);
    serve
        ->add_option("--listen", serve_options.listen,
                     "HOST:PORT to listen on; a host other than loopback needs --token")
        ->capture_default_str();
    serve->add_option("--token", serve_options.token,
                      "a secret every request but GET /health must carry as Authorization: Bearer <token>");
    serve->add_option("--threads", serve_options.threads, "connections served at once")->capture_default_str();
    serve->add_option("--max-body", serve_options.max_body, "the largest request body, in bytes")
        ->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : eventstore::cli::exit_usage;
    }
    const eventstore::cli::Progress progress{force_progress || ::isatty(STDERR_FILENO) == 1, &std::cerr};
    std::ios::sync_with_stdio(false);
    if (migrate->parsed()) {
        return eventstore::cli::run_migrate(target, print_sql, std::cout, std::cerr);
    }
    if (append->parsed()) {
        return eventstore::cli::run_append(target, atomic, std::cin, std::cout, std::cerr);
    }
    if (query->parsed()) {
        return eventstore::cli::run_query(target, flags, std::cout, std::cerr);
    }
    if (exporter->parsed()) {
        return eventstore::cli::run_export(target, flags, std::cout, std::cerr, progress);
    }
    if (importer->parsed()) {
        return eventstore::cli::run_import(target, std::cin, std::cerr, progress);
    }
    if (stats->parsed()) {
        return eventstore::cli::run_stats(target, json, std::cout, std::cerr);
    }
    if (serve->parsed()) {
        return until_signalled([&](std::stop_token stop) {
            return eventstore::cli::run_serve(target, serve_options, std::move(stop), std::cerr);
        });
    }
    return until_signalled([&](std::stop_token stop) {
        return eventstore::cli::run_tail(target, flags, eventstore::Context().with_stop_token(std::move(stop)),
                                         std::cout, std::cerr);
    });
} catch (const std::exception& e) {
    // The commands report the library's errors themselves; this is for what none of them expected.
    std::cerr << "eventstore: " << e.what() << '\n';
    return eventstore::cli::exit_failed;
}
