/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proto_classify(): every HTTP outcome → the typed result and its one line. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <string.h>

#include "proto/proto-internal.h"
#include "util/cleanup.h"

#define UUID "0f3e7c1a-1111-4222-8333-444455556666"
#define URL "https://cp.example.com/candlepin/consumers/" UUID

typedef struct Case {
        ProtoCall call;
        long status;
        int curl_code;
        bool too_large;
        int local_error;
        const char *body;
        const char *content_type;
        const char *retry_after;
        const char *location;
        ProtoResultKind want;
        uint64_t want_retry;
        const char *want_in_message;
} Case;

static const Case cases[] = {
        { PROTO_CALL_UPDATE_GUESTS, 204, .want = PROTO_RESULT_OK },
        { PROTO_CALL_UPDATE_GUESTS, 200, .body = "{\"content\":\"Facts successfully updated.\"}",
          .want = PROTO_RESULT_OK },
        { PROTO_CALL_UPDATE_GUESTS, 429, .body = "{}", .retry_after = "3", .want = PROTO_RESULT_RETRY_AFTER,
          .want_retry = 3, .want_in_message = "retry after 3 s" },
        { PROTO_CALL_UPDATE_GUESTS, 429, .want = PROTO_RESULT_RETRY_AFTER,
          .want_retry = PROTO_RETRY_AFTER_DEFAULT_SEC, .want_in_message = "no usable Retry-After" },
        { PROTO_CALL_UPDATE_GUESTS, 429, .retry_after = "soon", .want = PROTO_RESULT_RETRY_AFTER,
          .want_retry = PROTO_RETRY_AFTER_DEFAULT_SEC },
        { PROTO_CALL_UPDATE_GUESTS, 429, .retry_after = "99999999", .want = PROTO_RESULT_RETRY_AFTER,
          .want_retry = PROTO_RETRY_AFTER_MAX_SEC },
        /* Issue 16: past 2^64 is still more than a day, not "unusable". */
        { PROTO_CALL_UPDATE_GUESTS, 429, .retry_after = "18446744073709551616",
          .want = PROTO_RESULT_RETRY_AFTER, .want_retry = PROTO_RETRY_AFTER_MAX_SEC,
          .want_in_message = "retry after 86400 s" },
        { PROTO_CALL_UPDATE_GUESTS, 301, .location = "https://sat.example.com/rhsm/consumers",
          .want = PROTO_RESULT_PERMANENT,
          .want_in_message = "redirected to https://sat.example.com/rhsm/consumers" },
        { PROTO_CALL_UPDATE_GUESTS, 429, .retry_after = "-5", .want = PROTO_RESULT_RETRY_AFTER,
          .want_retry = PROTO_RETRY_AFTER_DEFAULT_SEC },
        { PROTO_CALL_UPDATE_GUESTS, 503, .retry_after = "120", .want = PROTO_RESULT_RETRY_AFTER,
          .want_retry = 120 },
        { PROTO_CALL_UPDATE_GUESTS, 503, .body = "{\"displayMessage\":\"Candlepin is in suspend mode\"}",
          .want = PROTO_RESULT_TEMPORARY, .want_in_message = "HTTP 503: \"Candlepin is in suspend mode\"" },
        { PROTO_CALL_UPDATE_GUESTS, 500, .want = PROTO_RESULT_TEMPORARY },
        { PROTO_CALL_UPDATE_GUESTS, 502, .body = "<html><body>Bad Gateway</body></html>",
          .content_type = "text/html", .want = PROTO_RESULT_TEMPORARY, .want_in_message = "HTML page" },
        { PROTO_CALL_UPDATE_GUESTS, 401, .body = "{\"displayMessage\":\"Invalid Credentials\"}",
          .want = PROTO_RESULT_AUTH, .want_in_message = "HTTP 401: \"Invalid Credentials\"" },
        { PROTO_CALL_UPDATE_GUESTS, 403, .want = PROTO_RESULT_AUTH },
        { PROTO_CALL_UPDATE_GUESTS, 407, .want = PROTO_RESULT_AUTH, .want_in_message = "proxy" },
        { PROTO_CALL_UPDATE_GUESTS, 404,
          .body = "{\"displayMessage\":\"Consumer with ID x could not be found.\"}",
          .want = PROTO_RESULT_PERMANENT, .want_in_message = "could not be found" },
        { PROTO_CALL_UPDATE_GUESTS, 400, .want = PROTO_RESULT_PERMANENT },
        { PROTO_CALL_CHECKIN, 415, .want = PROTO_RESULT_PERMANENT },
        { PROTO_CALL_UPDATE_GUESTS, 301, .want = PROTO_RESULT_PERMANENT },
        { PROTO_CALL_UPDATE_GUESTS, 410,
          .body = "{\"displayMessage\":\"Unit " UUID " has been deleted\",\"deletedId\":\"" UUID "\"}",
          .want = PROTO_RESULT_GONE },
        { PROTO_CALL_UPDATE_GUESTS, 410,
          .body = "{\"deletedId\":\""
                  "0F3E7C1A-1111-4222-8333-444455556666"
                  "\"}",
          .want = PROTO_RESULT_GONE },
        { PROTO_CALL_UPDATE_GUESTS, 410, .body = "{\"displayMessage\":\"Gone\"}",
          .want = PROTO_RESULT_TEMPORARY, .want_in_message = "without deletedId" },
        { PROTO_CALL_UPDATE_GUESTS, 410, .body = "{\"deletedId\":\"someone-else\"}",
          .want = PROTO_RESULT_TEMPORARY, .want_in_message = "not our consumer" },
        { PROTO_CALL_UPDATE_GUESTS, 410, .body = "<html>gone</html>", .want = PROTO_RESULT_TEMPORARY },
        /* Unregister: only Candlepin's own word that our consumer is gone. */
        { PROTO_CALL_UNREGISTER, 410, .body = "{\"displayMessage\":\"gone\",\"deletedId\":\"" UUID "\"}",
          .want = PROTO_RESULT_OK },
        { PROTO_CALL_UNREGISTER, 404,
          .body = "{\"displayMessage\":\"Unit with ID '" UUID "' could not be found.\"}",
          .want = PROTO_RESULT_OK },
        { PROTO_CALL_UNREGISTER, 404, .body = "<html><body>404 Not Found</body></html>",
          .content_type = "text/html", .want = PROTO_RESULT_PERMANENT, .want_in_message = "HTML" },
        { PROTO_CALL_UNREGISTER, 404, .want = PROTO_RESULT_PERMANENT },
        { PROTO_CALL_UNREGISTER, 404,
          .body = "{\"displayMessage\":\"Unit with ID 'other' could not be found.\"}",
          .want = PROTO_RESULT_PERMANENT },
        { PROTO_CALL_UNREGISTER, 410, .want = PROTO_RESULT_TEMPORARY },
        { PROTO_CALL_UPDATE_GUESTS, 0, .curl_code = CURLE_OPERATION_TIMEDOUT, .want = PROTO_RESULT_TEMPORARY,
          .want_in_message = "curl error 28" },
        { PROTO_CALL_UPDATE_GUESTS, 0, .curl_code = CURLE_COULDNT_CONNECT, .want = PROTO_RESULT_TEMPORARY },
        { PROTO_CALL_UPDATE_GUESTS, 0, .curl_code = CURLE_PEER_FAILED_VERIFICATION,
          .want = PROTO_RESULT_TEMPORARY },
        { PROTO_CALL_UPDATE_GUESTS, 200, .curl_code = CURLE_PARTIAL_FILE, .want = PROTO_RESULT_TEMPORARY },
        { PROTO_CALL_UPDATE_GUESTS, 200, .curl_code = CURLE_WRITE_ERROR, .too_large = true,
          .want = PROTO_RESULT_TEMPORARY,
          .want_in_message = "response too large (more than 4194304 bytes)" },
        { PROTO_CALL_UPDATE_GUESTS, 0, .curl_code = CURLE_SSL_CERTPROBLEM, .want = PROTO_RESULT_LOCAL },
        { PROTO_CALL_UPDATE_GUESTS, 0, .local_error = -ENOENT, .want = PROTO_RESULT_LOCAL,
          .want_in_message = "local reason" },
};

Test(classify, table) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                ProtoHttpResponse r = {
                        .curl_code = c->curl_code,
                        .local_error = c->local_error,
                        .error_text = c->local_error ? "local reason" : "curl says no",
                        .too_large = c->too_large,
                        .status = c->status,
                        .body = c->body ? c->body : "",
                        .body_len = c->body ? strlen(c->body) : 0,
                        .request_uuid = "aaaa-bbbb",
                        .retry_after = c->retry_after,
                        .content_type = c->content_type,
                        .location = c->location,
                        .body_cap = PROTO_DEFAULT_MAX_BODY,
                };
                ProtoResult res = {};

                cr_assert_eq(
                        proto_classify(c->call, "PUT", URL "?activation_keys=SECRET", &r, UUID, 1000, &res),
                        0);
                cr_expect_eq(res.kind, c->want, "case %zu (HTTP %ld, curl %d): got %s, want %s", i,
                             c->status, c->curl_code, proto_result_kind_to_string(res.kind),
                             proto_result_kind_to_string(c->want));
                cr_expect_eq(res.kind == PROTO_RESULT_OK, res.error == 0, "case %zu: error %d", i,
                             res.error);
                if (c->want == PROTO_RESULT_RETRY_AFTER)
                        cr_expect_eq(res.retry_after_sec, c->want_retry, "case %zu: retry %" PRIu64, i,
                                     res.retry_after_sec);
                cr_assert_not_null(res.message);
                cr_expect_null(strchr(res.message, '\n'));
                cr_expect_null(strstr(res.message, "SECRET"), "case %zu: the query leaked: %s", i,
                               res.message);
                cr_expect_not_null(strstr(res.message, "PUT " URL ":"), "case %zu: %s", i, res.message);
                if (c->status && !c->curl_code)
                        cr_expect_not_null(strstr(res.message, "(request aaaa-bbbb)"), "case %zu: %s", i,
                                           res.message);
                if (c->want_in_message)
                        cr_expect_not_null(strstr(res.message, c->want_in_message),
                                           "case %zu: \"%s\" lacks \"%s\"", i, res.message,
                                           c->want_in_message);
                proto_result_done(&res);
        }
}

Test(classify, gone_needs_an_identity) {
        ProtoHttpResponse r = { .status = 410, .body = "{\"deletedId\":\"" UUID "\"}", .error_text = "" };
        ProtoResult res = {};

        r.body_len = strlen(r.body);
        cr_assert_eq(proto_classify(PROTO_CALL_GET_CONSUMER, "GET", URL, &r, NULL, 0, &res), 0);
        cr_expect_eq(res.kind, PROTO_RESULT_TEMPORARY);
        proto_result_done(&res);
}

Test(classify, retry_after_http_date) {
        ProtoHttpResponse r = { .status = 429,
                                .retry_after = "Wed, 21 Oct 2015 07:28:00 GMT",
                                .error_text = "" };
        ProtoResult res = {};
        time_t t = curl_getdate(r.retry_after, NULL);

        cr_assert_eq(proto_classify(PROTO_CALL_UPDATE_GUESTS, "PUT", URL, &r, UUID, t - 90, &res), 0);
        cr_expect_eq(res.kind, PROTO_RESULT_RETRY_AFTER);
        cr_expect_eq(res.retry_after_sec, 90);
        cr_expect(res.retry_after_from_server);
        proto_result_done(&res);
}

Test(result, kind_names) {
        for (int k = 0; k < _PROTO_RESULT_MAX; k++)
                cr_expect_str_neq(proto_result_kind_to_string((ProtoResultKind) k), "unknown");
}
