#include "support/test_tls.hpp"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace voxgate::test {
namespace {

struct KeyFree {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertFree {
    void operator()(X509* cert) const { X509_free(cert); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("test TLS: " + what); }

Key make_key() {
    Key key(EVP_EC_gen("P-256"));
    if (key == nullptr) fail("EC key generation failed");
    return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    if (extension == nullptr) fail(std::string("bad extension ") + value);
    X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
}

// A certificate for `key` named `common_name`, signed by issuer_key; `issuer` null means
// self-signed (a CA).
Cert make_certificate(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key) {
    Cert cert(X509_new());
    if (cert == nullptr) fail("X509_new failed");
    X509_set_version(cert.get(), 2);  // v3, for extensions
    unsigned char serial_bytes[16];
    RAND_bytes(serial_bytes, sizeof serial_bytes);
    serial_bytes[0] &= 0x7f;  // a positive serial
    BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr);
    BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()));
    BN_free(serial);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7L * 24 * 3600);
    X509_set_pubkey(cert.get(), key);

    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("voxgate tests"), -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name), -1,
                               -1, 0);
    const bool is_ca = issuer == nullptr;
    X509* signer = is_ca ? cert.get() : issuer;
    X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));

    add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
    if (is_ca) {
        add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
        add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
        add_extension(cert.get(), signer, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    }
    if (X509_sign(cert.get(), is_ca ? key : issuer_key, EVP_sha256()) == 0) fail("X509_sign failed");
    return cert;
}

void write_certificate(const std::filesystem::path& path, X509* cert) {
    FILE* file = std::fopen(path.c_str(), "w");
    if (file == nullptr) fail("cannot write " + path.string());
    const int ok = PEM_write_X509(file, cert);
    std::fclose(file);
    if (ok == 0) fail("PEM_write_X509 failed");
}

void write_key(const std::filesystem::path& path, EVP_PKEY* key) {
    FILE* file = std::fopen(path.c_str(), "w");
    if (file == nullptr) fail("cannot write " + path.string());
    const int ok = PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(file);
    if (ok == 0) fail("PEM_write_PrivateKey failed");
}

// Owns the temporary directory for the process's lifetime.
class GeneratedTls {
public:
    GeneratedTls() {
        std::string pattern = (std::filesystem::temp_directory_path() / "voxgate-tls-XXXXXX").string();
        std::vector<char> buffer(pattern.begin(), pattern.end());
        buffer.push_back('\0');
        if (::mkdtemp(buffer.data()) == nullptr) fail("mkdtemp failed");
        directory_ = buffer.data();

        const Key ca_key = make_key();
        const Cert ca = make_certificate(ca_key.get(), "voxgate test CA", nullptr, nullptr);
        const Key server_key = make_key();
        const Cert server = make_certificate(server_key.get(), "127.0.0.1", ca.get(), ca_key.get());
        const Key other_key = make_key();
        const Cert other_ca = make_certificate(other_key.get(), "voxgate unrelated CA", nullptr, nullptr);

        files_.ca_file = (directory_ / "ca.pem").string();
        files_.server_cert_file = (directory_ / "server.pem").string();
        files_.server_key_file = (directory_ / "server.key").string();
        files_.other_ca_file = (directory_ / "other-ca.pem").string();
        write_certificate(files_.ca_file, ca.get());
        write_certificate(files_.server_cert_file, server.get());
        write_key(files_.server_key_file, server_key.get());
        write_certificate(files_.other_ca_file, other_ca.get());
    }
    ~GeneratedTls() {
        std::error_code ignored;
        std::filesystem::remove_all(directory_, ignored);
    }
    GeneratedTls(const GeneratedTls&) = delete;
    GeneratedTls& operator=(const GeneratedTls&) = delete;

    const TestTls& files() const { return files_; }

private:
    std::filesystem::path directory_;
    TestTls files_;
};

}  // namespace

const TestTls& test_tls() {
    static const GeneratedTls generated;
    return generated.files();
}

}  // namespace voxgate::test
