/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The cleanup macros run their destructors exactly once, and TAKE_* hands
 * ownership out. Leaks would show in the ASan and valgrind runs. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <openssl/bio.h>
#include <openssl/evp.h>

#include "util/cleanup-libs.h"

static int freed;

static void counted_free(int *p) {
        freed++;
        free(p);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(int *, counted_free, counted_freep)

static bool fd_is_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

Test(cleanup, runs_once_and_take_ptr_skips) {
        int *kept;

        freed = 0;
        {
                _cleanup_(counted_freep) int *a = malloc(sizeof(int));
                _cleanup_(counted_freep) int *b = NULL;
                (void) a;
                (void) b;
        }
        cr_expect_eq(freed, 1, "NULL is not passed to the destructor");
        {
                _cleanup_(counted_freep) int *c = malloc(sizeof(int));
                kept = TAKE_PTR(c);
                cr_expect_null(c);
        }
        cr_expect_eq(freed, 1, "taken pointer is not freed");
        free(kept);
}

Test(cleanup, fds) {
        int fd_seen, kept;

        {
                _cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                cr_assert_geq(fd, 0);
                fd_seen = fd;
        }
        cr_expect(!fd_is_open(fd_seen));
        {
                _cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                kept = TAKE_FD(fd);
                cr_expect_eq(fd, -1);
        }
        cr_expect(fd_is_open(kept));
        errno = EXDEV;
        kept = safe_close(kept);
        cr_expect_eq(kept, -1);
        cr_expect_eq(errno, EXDEV, "safe_close keeps errno");
        {
                _cleanup_fclose_ FILE *f = fopen("/dev/null", "re");
                cr_assert_not_null(f);
        }
}

Test(cleanup, strv_and_erase) {
        _cleanup_strv_free_ char **l = calloc(3, sizeof(char *));
        _cleanup_erase_ char *pw = strdup("hunter2");

        cr_assert_not_null(l);
        l[0] = strdup("a");
        l[1] = strdup("b");
        cr_expect_null(strv_free(NULL));
        cr_expect_null(erase_and_free(NULL));
        cr_expect_str_eq(pw, "hunter2");
}

static void silent(void *ud, virErrorPtr e) {
        (void) ud;
        (void) e;
}

Test(cleanup, library_handles) {
        virSetErrorFunc(NULL, silent);
        {
                _cleanup_(virConnectClosep) virConnectPtr c = virConnectOpenReadOnly("test:///default");
                cr_assert_not_null(c);
                _cleanup_(virDomainFreep) virDomainPtr d = virDomainLookupByName(c, "test");
                cr_assert_not_null(d);
                _cleanup_(virDomainFreep) virDomainPtr none = NULL;
                (void) none;
        }
        {
                _cleanup_(curl_easy_cleanupp) CURL *h = curl_easy_init();
                _cleanup_(curl_slist_free_allp) struct curl_slist *l = curl_slist_append(NULL, "Accept: x");
                cr_assert_not_null(h);
                cr_assert_not_null(l);
        }
        {
                _cleanup_(cJSON_Deletep) cJSON *j = cJSON_Parse("{\"a\":[1,2,3]}");
                cr_assert_not_null(j);
        }
        {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = EVP_PKEY_new();
                _cleanup_(BIO_free_allp) BIO *b = BIO_new(BIO_s_mem());
                cr_assert_not_null(k);
                cr_assert_not_null(b);
        }
}
