// CLIP's text cleanup: basic_clean (ftfy.fix_text, then html.unescape twice, strip),
// whitespace_clean (\s+ -> " ", strip) and lower(). See README.md for which ftfy fixes we do.
#pragma once

#include <string>
#include <string_view>

namespace rscapret::tokenizers {

// Python's html.unescape: numeric references (with Python's replacements for invalid ones) and
// the common named entities (README lists the gap: not all 2,231 HTML5 names).
std::string html_unescape(std::string_view s);
// The ftfy.fix_text subset: control characters removed, curly quotes straightened, Latin
// ligatures and full-width ASCII expanded.
std::string ftfy_fix_subset(std::string_view s);
// basic_clean + whitespace_clean + lower, on UTF-8 (ill-formed bytes read as U+FFFD).
std::string clip_clean_text(std::string_view s);

}  // namespace rscapret::tokenizers
