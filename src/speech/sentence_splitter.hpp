#pragma once
// Cuts a reply streamed token by token into pieces worth speaking on their own, so speech
// of the first sentence starts while the model still writes the rest (sentence
// pipelining). Pure; no allocation per token beyond the pending text.
//
// A piece ends after `.`, `!`, `?`, `;`, `:` or `…` followed by white space, or at a line
// break ("3.14" and "e.g.x" do not end one: the next character must be seen). A run with no
// end longer than `max_chars` is cut at its last space (or at max_chars on a code-point
// boundary when it has none), so a list without full stops is not held back whole.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace voxgate::speech {

class SentenceSplitter {
public:
    explicit SentenceSplitter(std::size_t max_chars = 200) : max_chars_(max_chars < 16 ? 16 : max_chars) {}

    // Appends to `out` the pieces `text` completes (trimmed, never empty).
    void feed(std::string_view text, std::vector<std::string>& out);
    // The rest, as the last piece; "" when nothing but white space is left.
    std::string flush();
    bool empty() const { return pending_.find_first_not_of(" \t\r\n") == std::string::npos; }

private:
    void emit(std::size_t end, std::vector<std::string>& out);  // pending_[0, end) is one piece

    std::size_t max_chars_;
    std::string pending_;
    std::size_t scanned_ = 0;  // pending_[0, scanned_) holds no end of a piece
};

}  // namespace voxgate::speech
