#include "postgres/lock_keys.hpp"

#include <algorithm>
#include <cstring>

#include "postgres/codec.hpp"

namespace eventstore::postgres::detail {

namespace {

// FNV-1a over length-prefixed fields: stable across platforms and releases, and cheap. A collision
// only makes two unrelated keys share a lock (a needless wait), never a missed conflict.
class KeyHasher {
public:
    explicit KeyHasher(char kind) {
        byte(lock_protocol_version);
        byte(static_cast<std::uint8_t>(kind));
    }
    KeyHasher& field(std::string_view s) noexcept {
        auto n = static_cast<std::uint32_t>(s.size());
        for (int shift = 0; shift < 32; shift += 8) {
            byte(static_cast<std::uint8_t>(n >> shift));
        }
        for (char c : s) {
            byte(static_cast<std::uint8_t>(c));
        }
        return *this;
    }
    [[nodiscard]] std::uint64_t value() const noexcept {
        // Clear the stripe bits: stripes of one key are adjacent in sort order.
        return m_hash & ~static_cast<std::uint64_t>(lock_stripes - 1);
    }

private:
    void byte(std::uint8_t b) noexcept {
        m_hash ^= b;
        m_hash *= 0x100000001b3ULL;
    }
    std::uint64_t m_hash = 0xcbf29ce484222325ULL;
};

static_assert((lock_stripes & (lock_stripes - 1)) == 0, "stripes must be a power of two");

} // namespace

std::uint64_t global_key() noexcept { return KeyHasher('g').value(); }

std::uint64_t event_type_key(std::string_view event_type) noexcept { return KeyHasher('t').field(event_type).value(); }

std::uint64_t predicate_key(std::string_view key, std::string_view value) noexcept {
    return KeyHasher('p').field(key).field(value).value();
}

std::uint64_t tag_key(std::string_view tag) noexcept { return KeyHasher('a').field(tag).value(); }

std::uint64_t event_id_key(std::string_view normalized_id) noexcept {
    return KeyHasher('i').field(normalized_id).value();
}

void add_filter_keys(const Filter& filter, std::vector<std::uint64_t>& keys) {
    bool constrained = false;
    for (const FilterItem& item : filter.items()) {
        if (item.empty()) {
            continue; // an empty item is dropped from the OR (Go semantics): it matches nothing extra
        }
        constrained = true;
        if (!item.tags().empty()) {
            // A matching event carries every tag of the item, so the first one's key covers it.
            keys.push_back(tag_key(item.tags().front()));
        } else if (!item.predicates().empty()) {
            if (item.all_predicates_must_match()) {
                // A matching event has every predicate's member, so one key covers it.
                const FilterPredicate& p = item.predicates().front();
                keys.push_back(predicate_key(p.key(), p.val()));
            } else {
                for (const FilterPredicate& p : item.predicates()) {
                    keys.push_back(predicate_key(p.key(), p.val()));
                }
            }
        } else {
            for (const std::string& type : item.event_types()) {
                keys.push_back(event_type_key(type));
            }
        }
    }
    if (!constrained) {
        keys.push_back(global_key());
    }
}

void add_event_keys(std::string_view event_type, std::span<const std::pair<std::string, std::string>> string_members,
                    std::span<const std::string> tags, std::vector<std::uint64_t>& keys) {
    keys.push_back(global_key());
    keys.push_back(event_type_key(event_type));
    for (const auto& [key, value] : string_members) {
        keys.push_back(predicate_key(key, value));
    }
    for (const std::string& tag : tags) {
        keys.push_back(tag_key(tag));
    }
}

std::vector<LockRequest> plan_locks(std::vector<std::uint64_t> reader_keys, std::vector<std::uint64_t> writer_keys,
                                    std::uint32_t writer_stripe, std::span<const std::uint64_t> unique_keys) {
    const bool writes = !writer_keys.empty();
    std::sort(reader_keys.begin(), reader_keys.end());
    reader_keys.erase(std::unique(reader_keys.begin(), reader_keys.end()), reader_keys.end());
    std::sort(writer_keys.begin(), writer_keys.end());
    writer_keys.erase(std::unique(writer_keys.begin(), writer_keys.end()), writer_keys.end());

    std::vector<LockRequest> locks;
    locks.reserve(reader_keys.size() * lock_stripes + writer_keys.size());
    const std::uint64_t stripe = writer_stripe % lock_stripes;
    for (std::uint64_t k : writer_keys) {
        locks.push_back({static_cast<std::int64_t>(k | stripe), true});
    }
    // One stripe for every session: writers of the same unique key exclude each other.
    for (std::uint64_t k : unique_keys) {
        locks.push_back({static_cast<std::int64_t>(k), true});
    }
    for (std::uint64_t k : reader_keys) {
        for (std::uint64_t s = 0; s < lock_stripes; ++s) {
            locks.push_back({static_cast<std::int64_t>(k | s), false});
        }
    }
    // PostgreSQL compares advisory keys as signed bigints; any total order shared by all sessions
    // works, this one is simply ours.
    std::sort(locks.begin(), locks.end(), [](const LockRequest& a, const LockRequest& b) {
        return a.key != b.key ? a.key < b.key : (a.exclusive && !b.exclusive);
    });
    // Keep the first (exclusive, if any) request of each key.
    locks.erase(std::unique(locks.begin(), locks.end(),
                            [](const LockRequest& a, const LockRequest& b) { return a.key == b.key; }),
                locks.end());
    if (locks.size() > max_advisory_locks) {
        // The global key stands for every key: every event has it. Its stripes are adjacent in key
        // order, so the fallback is sorted like any other plan.
        locks.clear();
        for (std::uint64_t s = 0; s < lock_stripes; ++s) {
            locks.push_back({static_cast<std::int64_t>(global_key() | s), writes});
        }
        std::sort(locks.begin(), locks.end(), [](const LockRequest& a, const LockRequest& b) { return a.key < b.key; });
    }
    return locks;
}

Statement lock_statement(const std::vector<LockRequest>& locks) {
    std::vector<std::int64_t> keys;
    std::vector<bool> exclusive;
    keys.reserve(locks.size());
    for (const auto& l : locks) {
        keys.push_back(l.key);
        exclusive.push_back(l.exclusive);
    }
    // unnest yields the keys in array order, so the locks are taken in the order planned.
    return Statement::cached(
        "SELECT CASE WHEN l.x THEN pg_advisory_xact_lock(l.k) ELSE pg_advisory_xact_lock_shared(l.k) "
        "END FROM unnest($1::bigint[], $2::boolean[]) AS l(k, x)",
        {int8_array_param(keys), bool_array_param(exclusive)});
}

} // namespace eventstore::postgres::detail
