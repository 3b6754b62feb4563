#pragma once
// A client keys file (auth.keys_file) on disk for one test, removed at its end, and the
// entry of one key in it.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/key_digest.hpp"

namespace voxgate::test {

inline nlohmann::json key_entry(std::string_view name, std::string_view secret,
                                nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json entry = {{"name", name}, {"sha256", auth::to_hex(auth::sha256_of(secret))}};
    entry.update(extra);
    return entry;
}

class KeysFile {
public:
    explicit KeysFile(const std::vector<nlohmann::json>& keys) {
        char path[] = "/tmp/voxgate-keys-XXXXXX";
        ::close(::mkstemp(path));
        path_ = path;
        write(keys);
    }
    ~KeysFile() { std::filesystem::remove(path_); }
    KeysFile(const KeysFile&) = delete;
    KeysFile& operator=(const KeysFile&) = delete;
    void write(const std::vector<nlohmann::json>& keys) const {
        nlohmann::json document = nlohmann::json::object();
        document["keys"] = keys;
        std::ofstream(path_) << document.dump();
    }
    void write_text(const std::string& text) const { std::ofstream(path_) << text; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace voxgate::test
