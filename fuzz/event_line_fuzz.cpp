// libFuzzer target: the eventstore program's event lines (tools/eventstore/ndjson.hpp) on arbitrary
// bytes. Asserted besides the sanitizers' checks:
// - a line is either read as an event or refused with BadLine, never anything else;
// - a line read as an event, written again by event_line and read back, gives the same event (the
//   round trip export | import relies on), and writing that one again gives the same line.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <eventstore/error.hpp>

#include "ndjson.hpp"

namespace {

void require(bool ok, const char* what, const std::string& line) {
    if (!ok) {
        std::fprintf(stderr, "event_line_fuzz: %s\n  %s\n", what, line.c_str());
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const eventstore::TimePoint now{std::chrono::microseconds(1'700'000'000'000'000)};
    eventstore::StorableEvent event;
    try {
        event = eventstore::cli::parse_event_line(text, now);
    } catch (const eventstore::cli::BadLine&) {
        return 0;
    }
    event.sequence_number = 7;
    const std::string line = eventstore::cli::event_line(event);
    eventstore::StorableEvent back;
    try {
        back = eventstore::cli::parse_event_line(line, eventstore::TimePoint());
    } catch (const eventstore::cli::BadLine& bad) {
        require(false, (std::string("a written line is refused: ") + bad.what()).c_str(), line);
    }
    back.sequence_number = event.sequence_number;
    require(back == event, "a written line reads back as another event", line);
    require(eventstore::cli::event_line(back) == line, "writing the event again gives another line", line);
    return 0;
}
