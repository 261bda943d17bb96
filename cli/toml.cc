// cpptoml behind cli/toml.h. cpptoml throws (parse_exception with "at line
// N", std::out_of_range from number conversion, std::bad_alloc): every
// exception stops at this file's C boundary.
#include "cli/toml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <cpptoml.h>

namespace {

// Where each key is set: "section.key", "files[1].dest". A scan that knows
// strings, comments and brackets well enough to skip values; it also
// bounds nesting before cpptoml, which recurses, sees the text.
class Locator {
 public:
  explicit Locator(const std::string &t) : t_(t) {}

  // 0, or -E2BIG with *line where the nesting got too deep.
  int Scan(unsigned *bad_line) {
    std::string path;
    std::map<std::string, int> arrays;
    while (p_ < t_.size()) {
      SkipSpace();
      if (p_ >= t_.size()) break;
      char c = t_[p_];
      if (c == '\n') {
        line_++;
        p_++;
      } else if (c == '#') {
        SkipComment();
      } else if (c == '[') {
        bool array = p_ + 1 < t_.size() && t_[p_ + 1] == '[';
        p_ += array ? 2 : 1;
        std::string name = Name(']');
        if (array) {
          path = name + "[" + std::to_string(arrays[name]++) + "]";
          lines_.emplace(name, line_);
        } else {
          path = name;
        }
        lines_.emplace(path, line_);
        SkipLine();
      } else {
        std::string key = Name('=');
        if (p_ < t_.size() && t_[p_] == '=') {
          p_++;
          std::string full = path.empty() ? key : path + "." + key;
          lines_.emplace(full, line_);
          if (SkipValue() < 0) {
            *bad_line = line_;
            return -E2BIG;
          }
        } else {
          SkipLine();
        }
      }
    }
    return 0;
  }

  unsigned Line(const std::string &path) const {
    auto it = lines_.find(path);
    return it == lines_.end() ? 0 : it->second;
  }

 private:
  void SkipSpace() {
    while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\t' || t_[p_] == '\r')) p_++;
  }
  void SkipComment() {
    while (p_ < t_.size() && t_[p_] != '\n') p_++;
  }
  void SkipLine() {
    while (p_ < t_.size() && t_[p_] != '\n') {
      if (t_[p_] == '"' || t_[p_] == '\'')
        SkipString();
      else
        p_++;
    }
  }
  // A dotted name up to `end` (not taken), with spaces around parts removed.
  std::string Name(char end) {
    std::string out;
    while (p_ < t_.size() && t_[p_] != end && t_[p_] != '\n') {
      char c = t_[p_];
      if (c == '"' || c == '\'') {
        size_t s = p_;
        SkipString();
        out += t_.substr(s + 1, p_ - s >= 2 ? p_ - s - 2 : 0);
      } else {
        if (c != ' ' && c != '\t') out += c;
        p_++;
      }
    }
    if (end == ']' && p_ < t_.size() && t_[p_] == ']') p_++;
    return out;
  }
  // A string at p_ ('"', '\'', or their triple forms); p_ after it.
  void SkipString() {
    char q = t_[p_];
    bool triple = t_.compare(p_, 3, std::string(3, q)) == 0;
    p_ += triple ? 3 : 1;
    while (p_ < t_.size()) {
      char c = t_[p_];
      if (c == '\\' && q == '"') {
        p_ += 2;
        continue;
      }
      if (c == '\n') {
        if (!triple) return;
        line_++;
      }
      if (c == q && (!triple || t_.compare(p_, 3, std::string(3, q)) == 0)) {
        p_ += triple ? 3 : 1;
        // A triple-quoted string may end with up to two more quotes.
        while (triple && p_ < t_.size() && t_[p_] == q) p_++;
        return;
      }
      p_++;
    }
  }
  // The value after '=': to the end of its line outside brackets.
  int SkipValue() {
    int depth = 0;
    while (p_ < t_.size()) {
      char c = t_[p_];
      if (c == '"' || c == '\'') {
        SkipString();
        continue;
      }
      if (c == '#') {
        SkipComment();
        continue;
      }
      if (c == '[' || c == '{') {
        if (++depth > TOML_MAX_DEPTH) return -1;
      } else if ((c == ']' || c == '}') && depth > 0) {
        depth--;
      } else if (c == '\n') {
        if (depth == 0) return 0;
        line_++;
      }
      p_++;
    }
    return 0;
  }

  const std::string &t_;
  size_t p_ = 0;
  unsigned line_ = 1;
  std::map<std::string, unsigned> lines_;
};

char *Dup(const std::string &s) {
  char *d = static_cast<char *>(malloc(s.size() + 1));
  if (!d) throw std::bad_alloc();
  memcpy(d, s.data(), s.size());
  d[s.size()] = 0;
  return d;
}

void FreeItems(struct toml_value *v) {
  for (size_t i = 0; i < v->n_items; i++) {
    FreeItems(&v->items[i]);
    free(const_cast<char *>(v->items[i].key));
    free(const_cast<char *>(v->items[i].s));
  }
  free(v->items);
  v->items = nullptr;
  v->n_items = 0;
}

class Converter {
 public:
  explicit Converter(const Locator &loc) : loc_(loc) {}

  void Table(const cpptoml::table &t, const std::string &path, unsigned line, struct toml_value *out) {
    out->type = TOML_TABLE;
    out->line = line;
    std::vector<std::pair<std::string, std::shared_ptr<cpptoml::base>>> members(t.begin(), t.end());
    Alloc(out, members.size());
    for (size_t i = 0; i < members.size(); i++) {
      const std::string sub = path.empty() ? members[i].first : path + "." + members[i].first;
      struct toml_value *v = &out->items[i];
      v->key = Dup(members[i].first);
      unsigned l = loc_.Line(sub);
      Value(*members[i].second, sub, l ? l : line, v);
    }
    std::stable_sort(out->items, out->items + out->n_items,
                     [](const toml_value &a, const toml_value &b) { return a.line < b.line; });
  }

 private:
  void Alloc(struct toml_value *out, size_t n) {
    if (n == 0) return;
    out->items = static_cast<struct toml_value *>(calloc(n, sizeof(struct toml_value)));
    if (!out->items) throw std::bad_alloc();
    out->n_items = n;
  }

  void Value(const cpptoml::base &b, const std::string &path, unsigned line, struct toml_value *out) {
    out->line = line;
    if (b.is_table()) {
      Table(static_cast<const cpptoml::table &>(b), path, line, out);
    } else if (b.is_table_array()) {
      const auto &tabs = static_cast<const cpptoml::table_array &>(b).get();
      out->type = TOML_ARRAY;
      Alloc(out, tabs.size());
      for (size_t i = 0; i < tabs.size(); i++) {
        const std::string sub = path + "[" + std::to_string(i) + "]";
        // A [[header]]'s line is its first key's, close enough to name it.
        unsigned l = line;
        for (const auto &kv : *tabs[i]) {
          unsigned k = loc_.Line(sub + "." + kv.first);
          if (k && (l == line || k < l)) l = k;
        }
        Table(*tabs[i], sub, l, &out->items[i]);
      }
    } else if (b.is_array()) {
      const auto &vals = static_cast<const cpptoml::array &>(b).get();
      out->type = TOML_ARRAY;
      Alloc(out, vals.size());
      for (size_t i = 0; i < vals.size(); i++) Value(*vals[i], path, line, &out->items[i]);
    } else if (auto s = b.as<std::string>()) {
      out->type = TOML_STRING;
      out->s = Dup(s->get());
    } else if (auto n = b.as<int64_t>()) {
      out->type = TOML_INT;
      out->i = n->get();
    } else if (auto f = b.as<double>()) {
      out->type = TOML_FLOAT;
      out->f = f->get();
    } else if (auto x = b.as<bool>()) {
      out->type = TOML_BOOL;
      out->b = x->get();
    } else {
      out->type = TOML_DATETIME;
    }
  }

  const Locator &loc_;
};

}  // namespace

extern "C" int toml_parse(const char *text, size_t len, struct toml_value **ret_root, struct ak_error *err) {
  if (len > TOML_MAX_BYTES)
    return ak_error_set(err, -E2BIG, "%zu bytes: at most %u", len, TOML_MAX_BYTES);
  struct toml_value *root = static_cast<struct toml_value *>(calloc(1, sizeof(*root)));
  if (!root) return ak_error_set(err, -ENOMEM, "out of memory");
  try {
    std::string t(text, len);
    Locator loc(t);
    unsigned bad = 0;
    if (loc.Scan(&bad) < 0) {
      free(root);
      return ak_error_set(err, -E2BIG, "line %u: arrays or inline tables nested deeper than %d", bad,
                          TOML_MAX_DEPTH);
    }
    std::istringstream in(t);
    cpptoml::parser parser(in);
    std::shared_ptr<cpptoml::table> doc = parser.parse();
    Converter(loc).Table(*doc, "", 0, root);
  } catch (const cpptoml::parse_exception &e) {
    toml_free(root);
    return ak_error_set(err, -EINVAL, "%s", e.what());
  } catch (const std::bad_alloc &) {
    toml_free(root);
    return ak_error_set(err, -ENOMEM, "out of memory");
  } catch (const std::exception &e) {
    toml_free(root);
    return ak_error_set(err, -EINVAL, "%s", e.what());
  }
  *ret_root = root;
  return 0;
}

extern "C" void toml_free(struct toml_value *root) {
  if (!root) return;
  FreeItems(root);
  free(root);
}

extern "C" const struct toml_value *toml_get(const struct toml_value *table, const char *key) {
  if (!table || table->type != TOML_TABLE) return nullptr;
  for (size_t i = 0; i < table->n_items; i++)
    if (table->items[i].key && strcmp(table->items[i].key, key) == 0) return &table->items[i];
  return nullptr;
}

extern "C" const char *toml_type_name(enum toml_type t) {
  switch (t) {
    case TOML_TABLE: return "a table";
    case TOML_ARRAY: return "an array";
    case TOML_STRING: return "a string";
    case TOML_INT: return "an integer";
    case TOML_FLOAT: return "a float";
    case TOML_BOOL: return "a boolean";
    case TOML_DATETIME: return "a date-time";
  }
  return "a value";
}
