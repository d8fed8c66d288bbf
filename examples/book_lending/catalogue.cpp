#include "catalogue.hpp"

#include <array>

#include "devsupport/uuid.hpp"

namespace book_lending {

using eventstore::devsupport::new_uuid_v7;

namespace {

struct Edition {
    const char* isbn;
    const char* title;
    const char* authors;
    const char* edition;
    int publication_year;
};

// Sample data for a demo. Apart from the Go library's test fixture (the first), the ISBNs are made up (with
// valid ISBN-13 check digits) rather than looked up.
constexpr std::array<Edition, 6> editions = {{
    {"978-1-098-10013-1", "Learning Domain-Driven Design", "Vlad Khononov", "First Edition", 2021},
    {"978-1-098-00001-1", "Designing Event-Driven Systems", "Ben Stopford", "First Edition", 2018},
    {"978-1-098-00002-8", "Database Internals", "Alex Petrov", "First Edition", 2019},
    {"978-1-098-00003-5", "Fundamentals of Software Architecture", "Mark Richards, Neal Ford", "First Edition", 2020},
    {"978-1-098-00004-2", "Building Microservices", "Sam Newman", "Second Edition", 2021},
    {"978-1-098-00005-9", "The \"Boundary\" Is the Query: Dynamic Consistency in Practice", "A. N. Example",
     "Early Release", 2025},
}};

} // namespace

std::vector<BookCopy> sample_copies(std::size_t count) {
    std::vector<BookCopy> copies;
    copies.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        const Edition& e = editions[i % editions.size()];
        copies.push_back(
            BookCopy{new_uuid_v7(), e.isbn, e.title, e.authors, e.edition, "O'Reilly Media, Inc.", e.publication_year});
    }
    return copies;
}

} // namespace book_lending
