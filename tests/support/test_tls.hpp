#pragma once
// Throwaway TLS material for tests: a test CA, a server certificate for 127.0.0.1 and
// localhost signed by it, and a second, unrelated CA (trusting only that one must fail
// verification). Generated with the OpenSSL C API into a temporary directory the first
// time it is asked for, reused for the rest of the process and removed at exit.
#include <string>

namespace voxgate::test {

struct TestTls {
    std::string ca_file;           // PEM: the CA that signed the server certificate
    std::string server_cert_file;  // PEM: server certificate (SAN IP:127.0.0.1, DNS:localhost)
    std::string server_key_file;   // PEM: the server's private key (unencrypted)
    std::string other_ca_file;     // PEM: an unrelated CA that signed nothing we serve
};

// Throws std::runtime_error if the files cannot be generated.
const TestTls& test_tls();

}  // namespace voxgate::test
