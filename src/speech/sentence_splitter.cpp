#include "speech/sentence_splitter.hpp"

namespace voxgate::speech {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool ends_sentence(char c) { return c == '.' || c == '!' || c == '?' || c == ';' || c == ':'; }

std::string trimmed(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(" \t\r\n");
    return std::string(text.substr(first, last - first + 1));
}

// The end of the code point that holds byte `at` of `text`, so a cut never splits UTF-8.
std::size_t code_point_boundary(std::string_view text, std::size_t at) {
    while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
    return at;
}

}  // namespace

void SentenceSplitter::emit(std::size_t end, std::vector<std::string>& out) {
    std::string piece = trimmed(std::string_view(pending_).substr(0, end));
    pending_.erase(0, end);
    scanned_ = 0;
    if (!piece.empty()) out.push_back(std::move(piece));
}

void SentenceSplitter::feed(std::string_view text, std::vector<std::string>& out) {
    pending_.append(text);
    std::size_t i = scanned_;
    while (i < pending_.size()) {
        const char c = pending_[i];
        if (c == '\n') {
            emit(i + 1, out);
            i = 0;
            continue;
        }
        // "…" is E2 80 A6 in UTF-8: its last byte ends a sentence like a full stop.
        const bool stop = ends_sentence(c) ||
                          (c == '\xA6' && i >= 2 && pending_[i - 1] == '\x80' && pending_[i - 2] == '\xE2');
        if (stop) {
            if (i + 1 == pending_.size()) break;  // the next character decides
            if (is_space(pending_[i + 1])) {
                emit(i + 1, out);
                i = 0;
                continue;
            }
        }
        ++i;
        if (i > max_chars_) {
            const auto space = pending_.find_last_of(" \t", max_chars_);
            const std::size_t cut = space != std::string::npos && space > 0 ? space : code_point_boundary(pending_, max_chars_);
            emit(cut, out);
            i = 0;
        }
    }
    scanned_ = i;
}

std::string SentenceSplitter::flush() {
    std::string rest = trimmed(pending_);
    pending_.clear();
    scanned_ = 0;
    return rest;
}

}  // namespace voxgate::speech
