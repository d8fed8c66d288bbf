#ifndef BOOK_LENDING_CATALOGUE_HPP
#define BOOK_LENDING_CATALOGUE_HPP

#include <cstddef>
#include <vector>

#include "domain.hpp"

namespace book_lending {

// `count` copies with fresh BookIDs, cycling through a handful of editions so that the log shows
// several titles. The first edition is the Go fixture's (publisher with an apostrophe); one title
// holds double quotes, so the payload escaping is exercised on every run.
[[nodiscard]] std::vector<BookCopy> sample_copies(std::size_t count);

} // namespace book_lending

#endif
