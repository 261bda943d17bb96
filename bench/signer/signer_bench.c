/* Signer throughput on one core: what one signer replica can sustain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/base/time.h"
#include "lib/crypto/crypto.h"
#include "lib/receipt/receipt.h"

static struct receipt *sample(void)
{
        static char *command[] = { "python3", "-c", "print('ok')", NULL };
        struct receipt *r;

        if (receipt_new(&r) < 0)
                exit(1);
        r->invocation.mode = RECEIPT_MODE_RUN;
        r->invocation.run.n_command = 3;
        r->invocation.run.command = calloc(4, sizeof(char *));
        for (int i = 0; i < 3; i++)
                r->invocation.run.command[i] = strdup(command[i]);
        r->invocation.run.image = strdup("python:3.12-alpine");
        r->invocation.run.profile = strdup("moderate");
        if (receipt_outcome_from_output(0, "ok\n", 3, NULL, &r->outcome) < 0 || receipt_stamp(r) < 0)
                exit(1);
        return r;
}

int main(int argc, char **argv)
{
        double seconds = 2, t0, t;
        struct crypto_ed25519_key *key;
        uint8_t sig[64], digest[32];
        char *payload, *json;
        size_t plen, jlen;
        long n;
        int r;

        if (argc == 3 && strcmp(argv[1], "--seconds") == 0)
                seconds = atof(argv[2]);
        r = crypto_ed25519_key_generate(&key);
        if (r < 0) {
                fprintf(stderr, "%s\n", crypto_init_error_message(r));
                return 1;
        }
        struct receipt *rc = sample();
        if (receipt_payload(rc, &payload, &plen) < 0)
                return 1;
        printf("payload: %zu bytes\n", plen);

        for (n = 0, t0 = ((double)ak_mono_ns() / 1e9); (t = ((double)ak_mono_ns() / 1e9)) - t0 < seconds; n++)
                crypto_ed25519_sign(key, payload, plen, sig);
        printf("ed25519 sign:        %10.0f /s\n", n / (t - t0));

        for (n = 0, t0 = ((double)ak_mono_ns() / 1e9); (t = ((double)ak_mono_ns() / 1e9)) - t0 < seconds; n++)
                if (crypto_ed25519_verify(crypto_ed25519_key_public(key), payload, plen, sig) < 0)
                        return 1;
        printf("ed25519 verify:      %10.0f /s\n", n / (t - t0));

        size_t big = 1 << 20;
        char *buf = calloc(1, big);
        struct crypto_sha256 *h;
        if (!buf || crypto_sha256_new(&h) < 0)
                return 1;
        for (n = 0, t0 = ((double)ak_mono_ns() / 1e9); (t = ((double)ak_mono_ns() / 1e9)) - t0 < seconds; n++)
                crypto_sha256_update(h, buf, big);
        crypto_sha256_final(h, digest);
        printf("sha256 (1 MiB):      %10.0f MiB/s\n", n / (t - t0));
        for (n = 0, t0 = ((double)ak_mono_ns() / 1e9); (t = ((double)ak_mono_ns() / 1e9)) - t0 < seconds; n++)
                crypto_sha256(payload, plen, digest);
        printf("sha256 (payload):    %10.0f /s\n", n / (t - t0));

        for (n = 0, t0 = ((double)ak_mono_ns() / 1e9); (t = ((double)ak_mono_ns() / 1e9)) - t0 < seconds; n++)
                if (receipt_seal(rc, key) < 0)
                        return 1;
        printf("receipt seal:        %10.0f /s  (payload + hash + sign)\n", n / (t - t0));

        if (receipt_to_json(rc, true, &json, &jlen) < 0)
                return 1;
        for (n = 0, t0 = ((double)ak_mono_ns() / 1e9); (t = ((double)ak_mono_ns() / 1e9)) - t0 < seconds; n++) {
                struct receipt *p;
                if (receipt_from_json(json, jlen, &p, NULL) < 0 || receipt_verify(p, false, NULL) < 0)
                        return 1;
                receipt_free(p);
        }
        printf("receipt parse+verify:%10.0f /s\n", n / (t - t0));

        free(json);
        free(buf);
        free(payload);
        crypto_sha256_free(h);
        receipt_free(rc);
        crypto_ed25519_key_free(key);
        return 0;
}
