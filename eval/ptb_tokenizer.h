// PTB tokenization as pycocoevalcap's tokenizer wrapper runs it (METRICS.md §2.2-2.3): Stanford
// PTBTokenizer 3.4.1 with -preserveLines -lowerCase, then the 17-string punctuation filter.
//
// This is an emulation of the Java lexer for caption text. It reproduces PTBTokenizer on: words,
// hyphenated words, numbers with '.' or ',' inside (3.5, 1,000), clitics (n't 's 're 've 'll 'd 'm),
// plural possessives (trees'), , ; : ! ? ( ) [ ] { } " ' ` at word edges, -- and ... and ..,
// runs of ?! , dotted abbreviations (u.s., e.g.), $ % # * & splitting, &amp;, unicode quotes and
// dashes, tabs and newlines. Known gaps (documented, not emulated): the Java lexer's look-ahead
// across captions (a caption ending in "<single letter>." keeps "x." unless the next caption of the
// batch starts upper-case), undotted abbreviations such as "mr." / "etc." (we split the final
// period), URLs, e-mail addresses, emoticons, SGML tags and non-Latin scripts' punctuation.
// Lower-casing covers ASCII and Latin-1 letters.
#pragma once

#include <string>
#include <string_view>

namespace rscapret::eval {

// One caption -> space-joined lower-case tokens with punctuation tokens dropped ("" if none left).
std::string ptb_tokenize(std::string_view caption);

}  // namespace rscapret::eval
