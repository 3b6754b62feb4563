#include "upstream/curl_error.hpp"

#include <string>

namespace voxgate::upstream {
namespace {

class CurlCategory final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "curl"; }
    std::string message(int ev) const override {
        if (ev == CURLE_PEER_FAILED_VERIFICATION) {
            // curl's own text ("SSL peer certificate or SSH remote key was not OK") does not
            // point at the usual cause.
            return "TLS certificate verification failed: the server's certificate is not trusted "
                   "by the configured CA bundle or does not match the host name";
        }
        return curl_easy_strerror(static_cast<CURLcode>(ev));
    }
};

class CurlMultiCategory final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "curl-multi"; }
    std::string message(int ev) const override { return curl_multi_strerror(static_cast<CURLMcode>(ev)); }
};

class TransferCategory final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "voxgate-transfer"; }
    std::string message(int ev) const override {
        switch (static_cast<transfer_errc>(ev)) {
        case transfer_errc::response_headers_too_large:
            return "upstream response headers exceed the size limit";
        case transfer_errc::not_started:
            return "the upstream transfer could not be set up";
        case transfer_errc::already_started:
            return "the upstream transfer was already started";
        case transfer_errc::internal_error:
            return "internal error while handling the upstream response";
        }
        return "unknown transfer error";
    }
};

}  // namespace

const boost::system::error_category& curl_category() noexcept {
    static const CurlCategory category;
    return category;
}

const boost::system::error_category& curl_multi_category() noexcept {
    static const CurlMultiCategory category;
    return category;
}

const boost::system::error_category& transfer_category() noexcept {
    static const TransferCategory category;
    return category;
}

error_code make_error_code(CURLcode code) noexcept { return {static_cast<int>(code), curl_category()}; }

error_code make_error_code(CURLMcode code) noexcept { return {static_cast<int>(code), curl_multi_category()}; }

error_code make_error_code(transfer_errc code) noexcept {
    return {static_cast<int>(code), transfer_category()};
}

bool is_tls_verification_failure(const error_code& ec) noexcept {
    return ec.category() == curl_category() && ec.value() == CURLE_PEER_FAILED_VERIFICATION;
}

bool is_connect_failure(const error_code& ec) noexcept {
    if (ec.category() != curl_category()) return false;
    switch (ec.value()) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    // Transfer never sets CURLOPT_TIMEOUT, so curl's only timeout is the connect timeout.
    case CURLE_OPERATION_TIMEDOUT:
        return true;
    default:
        return false;
    }
}

}  // namespace voxgate::upstream
