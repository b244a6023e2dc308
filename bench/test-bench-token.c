/* Unit test of HS256 signing against the well-known jwt.io example token, and of the claims we sign. */
#include <stdio.h>
#include <string.h>

#include "bench-token.h"
#include "test-check.h"

int main(void) {
        static const char secret[] = "your-256-bit-secret";
        static const char expected[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                                       "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
                                       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        char buf[512];
        int r = token_sign_raw(secret, strlen(secret), "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                               "{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}", buf, sizeof(buf));
        CHECK(r == 0, "sign: expected 0, got %d", r);
        CHECK(strcmp(buf, expected) == 0, "jwt.io example:\n  expected %s\n  got      %s", expected, buf);

        r = token_sign_raw(secret, strlen(secret), "{}", "{}", buf, 20);
        CHECK(r < 0, "a 20-byte buffer: expected an error, got %d (%s)", r, buf);

        r = token_sign("k", 1, "owner_st_1", "store", "st_1", 1700000000, 60, buf, sizeof(buf));
        CHECK(r == 0, "token_sign: expected 0, got %d", r);
        /* {"sub":"owner_st_1","role":"store","iat":1700000000,"exp":1700000060,"store_id":"st_1"} */
        const char *payload = strchr(buf, '.');
        static const char want_payload[] = ".eyJzdWIiOiJvd25lcl9zdF8xIiwicm9sZSI6InN0b3JlIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAi"
                                           "OjE3MDAwMDAwNjAsInN0b3JlX2lkIjoic3RfMSJ9.";
        CHECK(payload && strncmp(payload, want_payload, strlen(want_payload)) == 0,
              "claims:\n  expected %s...\n  got      %s", want_payload, payload ? payload : "(no '.')");

        printf("%s\n", failures ? "FAILED" : "ok");
        return failures ? 1 : 0;
}
