/* OpenSSL's libcrypto (Debian's libssl-dev) for the engine's encryption: the EVP cipher API and SHA-256. */
#include <openssl/evp.h>
#include <openssl/sha.h>
