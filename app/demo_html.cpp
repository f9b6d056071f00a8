#include "app/demo_html.h"

#include <cstdio>
#include <fstream>
#include <sstream>

namespace rscapret::app {

std::string html_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += k[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < in.size() ? k[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

namespace {

std::string mime_of(const std::filesystem::path& p) {
  std::string e = p.extension().string();
  for (char& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (e == ".png") return "image/png";
  if (e == ".jpg" || e == ".jpeg") return "image/jpeg";
  if (e == ".bmp") return "image/bmp";
  return "";  // TIFF and others: browsers do not show them
}

std::string img_tag(const std::filesystem::path& p, const char* cls) {
  std::ifstream f(p, std::ios::binary);
  const std::string mime = mime_of(p);
  if (!f.good() || mime.empty())
    return "<div class=\"" + std::string(cls) + " missing\">" + html_escape(p.filename().string()) + "</div>";
  std::stringstream ss;
  ss << f.rdbuf();
  return "<img class=\"" + std::string(cls) + "\" alt=\"" + html_escape(p.filename().string()) + "\" src=\"data:" +
         mime + ";base64," + base64(ss.str()) + "\">";
}

std::string fmt(double v, const char* f = "%.3f") {
  char b[32];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

std::string render_demo_html(const DemoReport& r) {
  std::ostringstream h;
  h << "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
       "<title>rscapret demo</title>\n<style>\n"
       "body{font-family:sans-serif;margin:24px;background:#fafafa;color:#222}\n"
       "h1{margin-bottom:0}.sub{color:#666;margin-top:4px}\n"
       ".grid{display:flex;flex-wrap:wrap;gap:14px}\n"
       ".card{width:180px;background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}\n"
       "img.thumb{width:180px;height:180px;image-rendering:pixelated;border-radius:4px}\n"
       "img.small{width:96px;height:96px;image-rendering:pixelated;border-radius:3px}\n"
       ".cap{font-weight:bold;margin:6px 0 2px}.ref,.scene{color:#666;font-size:90%}\n"
       ".row{display:flex;gap:10px;align-items:flex-start;margin:8px 0 18px}\n"
       ".hit{text-align:center;font-size:85%}.hit.ok img{outline:3px solid #2a2}\n"
       ".chat{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px;max-width:720px}\n"
       ".q{color:#036}.a{margin-bottom:10px}.missing{width:96px;height:96px;background:#eee}\n"
       "</style></head><body>\n";
  h << "<h1>rscapret demo</h1><p class=\"sub\">RS-CapRet on the embedded default model (model "
    << html_escape(r.model_hash) << "), " << r.gallery.size() << " sample images, " << fmt(r.seconds, "%.1f")
    << " s.</p>\n";

  h << "<h2>Captions</h2>\n<div class=\"grid\" id=\"captions\">\n";
  for (const auto& g : r.gallery) {
    h << "<div class=\"card\">" << img_tag(g.path, "thumb") << "<div class=\"cap\">" << html_escape(g.caption)
      << "</div>";
    if (!g.scene.empty()) h << "<div class=\"scene\">scene: " << html_escape(g.scene) << "</div>";
    if (!g.reference.empty()) h << "<div class=\"ref\">reference: " << html_escape(g.reference) << "</div>";
    h << "</div>\n";
  }
  h << "</div>\n";

  h << "<h2>Text &rarr; image retrieval</h2>\n<div id=\"retrieval\">\n";
  for (const auto& q : r.queries) {
    h << "<h3>&ldquo;" << html_escape(q.text) << "&rdquo;</h3><div class=\"row\">\n";
    int rank = 0;
    for (const auto& [idx, score] : q.ranked) {
      const DemoImage& g = r.gallery.at(idx);
      const bool ok = !q.target_scene.empty() && g.scene == q.target_scene;
      h << "<div class=\"hit" << (ok ? " ok" : "") << "\">" << img_tag(g.path, "small") << "<br>#" << ++rank << " "
        << fmt(score) << "<br>" << html_escape(g.scene) << "</div>\n";
    }
    h << "</div>\n";
  }
  h << "</div>\n";

  if (!r.chat.empty()) {
    h << "<h2>Chat</h2>\n<div class=\"chat\" id=\"chat\">" << img_tag(r.gallery.at(r.chat_image).path, "small")
      << "\n";
    for (const auto& t : r.chat) {
      h << "<div class=\"q\">Q: " << html_escape(t.question) << "</div><div class=\"a\">A: " << html_escape(t.answer);
      for (const auto& [idx, score] : t.retrieved)
        h << " " << img_tag(r.gallery.at(idx).path, "small") << "(" << fmt(score) << ")";
      h << "</div>\n";
    }
    h << "</div>\n";
  }
  h << "</body></html>\n";
  return h.str();
}

}  // namespace rscapret::app
