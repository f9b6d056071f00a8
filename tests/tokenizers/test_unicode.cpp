// UTF-8 helpers and the generated Unicode classes.
#include <gtest/gtest.h>

#include "models/tokenizers/unicode.h"

using namespace rscapret::tokenizers;

TEST(Unicode, Classes) {
  EXPECT_TRUE(is_letter('a'));
  EXPECT_FALSE(is_letter('1'));
  EXPECT_TRUE(is_letter(0x65E5));   // 日
  EXPECT_TRUE(is_letter(0xE9));     // é
  EXPECT_FALSE(is_letter(0x301));   // combining acute (Mn)
  EXPECT_TRUE(is_number(0x663));    // Arabic-Indic 3
  EXPECT_TRUE(is_number(0xBD));     // ½ (No)
  EXPECT_TRUE(is_space(0x3000));
  EXPECT_FALSE(is_space(0x1C));
  EXPECT_FALSE(is_space(0x200B));
  EXPECT_EQ(to_lower('Q'), static_cast<uint32_t>('q'));
  EXPECT_EQ(to_lower(0x410), 0x430u);  // Cyrillic А
  EXPECT_EQ(to_lower(0x1E9E), 0xDFu);  // ẞ
}

TEST(Unicode, Utf8) {
  EXPECT_TRUE(utf8_is_valid("h\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(utf8_is_valid("\xC0\x80"));          // overlong
  EXPECT_FALSE(utf8_is_valid("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(utf8_is_valid("\xF4\x90\x80\x80"));  // > U+10FFFF
  // Maximal subparts: "\xE2\x82" is one replacement, "\xFF" another.
  EXPECT_EQ(utf8_sanitize("a\xE2\x82" "b\xFF"), "a\uFFFD" "b\uFFFD");
  EXPECT_EQ(utf8_sanitize("\xF0\x9F\x98"), "\uFFFD");
  std::string s;
  utf8_append(s, 0x1F600);
  EXPECT_EQ(s, "\xF0\x9F\x98\x80");
}
