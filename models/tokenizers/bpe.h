// The BPE merge loop shared by both tokenizers: symbols in a doubly linked list over a vector, and
// a priority queue of candidate pairs (best priority first, leftmost on ties). Stale candidates
// (a side already merged away) are skipped when popped. O(n log n) in the number of symbols.
#pragma once

#include <cstdint>
#include <queue>
#include <vector>

namespace rscapret::tokenizers {

struct BpeSymbol {
  uint32_t begin, end;  // byte span in the text being encoded; begin == end once merged away
  int32_t id;           // token id, or -1 when the span is not a token (SentencePiece mode)
  int32_t prev, next;   // neighbours in the list, -1 at the ends
};

// What a lookup says about merging two neighbours.
struct BpeCandidate {
  bool ok;          // can they merge?
  float priority;   // larger merges first (SentencePiece: piece score; rank-based: -rank)
  int32_t id;       // id of the merged token
};

// Merges `syms` (initially one per unit, linked in order) in place. `lookup(left, right)` returns a
// BpeCandidate for two adjacent symbols. Returns nothing: callers walk the list from index 0
// (symbol 0 is never merged away: it can only absorb its right neighbour).
template <typename Lookup>
void bpe_merge(std::vector<BpeSymbol>& syms, Lookup&& lookup) {
  struct Pair {
    float priority;
    uint32_t left, right, size;
    int32_t id;
  };
  struct Worse {
    bool operator()(const Pair& a, const Pair& b) const {
      if (a.priority != b.priority) return a.priority < b.priority;
      return a.left > b.left;  // ties: leftmost first (SentencePiece and HF tokenizers agree)
    }
  };
  if (syms.size() < 2) return;
  std::vector<Pair> storage;
  storage.reserve(syms.size() * 2);
  std::priority_queue<Pair, std::vector<Pair>, Worse> agenda(Worse{}, std::move(storage));
  auto try_add = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const BpeCandidate c = lookup(syms[l], syms[r]);
    if (!c.ok) return;
    agenda.push(Pair{c.priority, static_cast<uint32_t>(l), static_cast<uint32_t>(r),
                     syms[r].end - syms[l].begin, c.id});
  };
  for (size_t i = 0; i + 1 < syms.size(); ++i) try_add(static_cast<int32_t>(i), static_cast<int32_t>(i + 1));
  while (!agenda.empty()) {
    const Pair top = agenda.top();
    agenda.pop();
    BpeSymbol& l = syms[top.left];
    BpeSymbol& r = syms[top.right];
    // Stale: one side was merged away or grew since this candidate was queued.
    if (l.begin == l.end || r.begin == r.end || l.next != static_cast<int32_t>(top.right) ||
        r.end - l.begin != top.size)
      continue;
    l.end = r.end;
    l.id = top.id;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = static_cast<int32_t>(top.left);
    r.begin = r.end;
    try_add(l.prev, static_cast<int32_t>(top.left));
    try_add(static_cast<int32_t>(top.left), l.next);
  }
}

}  // namespace rscapret::tokenizers
