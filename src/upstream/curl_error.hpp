#pragma once
// libcurl results as error_code, so upstream failures travel like every other I/O
// error (docs/style.md, "libcurl on Asio"). Three categories:
//   curl_category()       CURLcode from an easy transfer (connect, TLS, receive...)
//   curl_multi_category() CURLMcode from the multi interface (programming errors mostly)
//   transfer_category()   failures our own Transfer detects (transfer_errc)
#include <curl/curl.h>

#include <boost/system/error_category.hpp>

#include "voxgate/net.hpp"

namespace voxgate::upstream {

const boost::system::error_category& curl_category() noexcept;
const boost::system::error_category& curl_multi_category() noexcept;
const boost::system::error_category& transfer_category() noexcept;

// Failures found by Transfer itself rather than by libcurl.
enum class transfer_errc {
    response_headers_too_large = 1,  // the peer sent more header bytes than we keep
    not_started,                     // the easy handle could not be created or configured
    already_started,                 // a Transfer runs once
    internal_error,                  // our own code threw inside a curl callback
};

error_code make_error_code(CURLcode code) noexcept;
error_code make_error_code(CURLMcode code) noexcept;
error_code make_error_code(transfer_errc code) noexcept;

// The peer's certificate did not verify against the trusted CAs, or its name did not
// match the host: never retry these, and say so clearly (a wrong ca_file is the usual cause).
bool is_tls_verification_failure(const error_code& ec) noexcept;

// Failed before any request byte could reach the server (DNS, TCP connect, connect
// timeout, TLS handshake): safe to retry or fall back without duplicating work.
bool is_connect_failure(const error_code& ec) noexcept;

}  // namespace voxgate::upstream
