/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes the identity store loader end to end: proto_identity_load() on a
 * state dir whose consumer.json, cert.pem and key.pem come from the input,
 * split at "\n--8<--\n" in that order (missing parts are empty files). The
 * dir is private to this process and removed at exit. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/proto.h"
#include "tests/fuzz/fuzz.h"
#include "util/cleanup.h"

#define SEP "\n--8<--\n"

static char dir[] = "/tmp/hvmap-fuzz-identity.XXXXXX";
static const char *const names[] = { "consumer.json", "cert.pem", "key.pem" };

static void cleanup_dir(void) {
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", dir, names[i]) >= 0)
                        (void) unlink(p);
        }
        (void) rmdir(dir);
}

static int write_plain(const char *path, const char *data, size_t len) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

        if (fd < 0)
                return -errno;
        while (len > 0) {
                ssize_t k = write(fd, data, len);
                if (k < 0)
                        return -errno;
                data += k;
                len -= (size_t) k;
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool have_dir = false;
        ProtoIdentity *id = NULL;
        _cleanup_free_ char *err = NULL;
        const char *p = (const char *) data, *end = p + size;

        if (!have_dir) {
                if (!mkdtemp(dir))
                        fuzz_fail("mkdtemp: %m");
                (void) atexit(cleanup_dir);
                have_dir = true;
        }
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *path = NULL;
                const char *sep = p < end ? memmem(p, (size_t) (end - p), SEP, strlen(SEP)) : NULL;
                const char *stop = sep ? sep : end;

                if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
                        return 0;
                /* Plain writes: write_file_atomic()'s fsyncs would cost 40 ms an input. */
                if (write_plain(path, p, (size_t) (stop - p)) < 0)
                        fuzz_fail("cannot write %s: %m", path);
                p = sep ? sep + strlen(SEP) : end;
        }
        if (proto_identity_load(dir, &id, &err) >= 0) {
                fuzz_assert(id && id->uuid && id->cert_path && id->key_path);
                fuzz_assert(!err);
        } else
                fuzz_assert(!id);
        (void) proto_identity_free(id);
        return 0;
}
