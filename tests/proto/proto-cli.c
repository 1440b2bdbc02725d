/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test driver for proto/: runs an sd-event loop, makes one Candlepin call
 * (or a benchmark of guest updates) and prints the typed result as one JSON
 * line on stdout. Secrets come from the environment, never argv:
 * HVMAP_TEST_PASSWORD, HVMAP_TEST_ACTIVATION_KEYS. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "proto/proto.h"
#include "util/event-util.h"
#include "util/cleanup.h"
#include "util/cleanup-libs.h"
#include "util/log.h"
#include "util/parse.h"

#if !__GLIBC_PREREQ(2, 32)
/* strerrorname_np() is glibc 2.32 (RHEL 8 has 2.28, Debian 11 2.31): the
 * errnos proto/ and util/ return and their neighbours, else the number. */
static const char *strerrorname_np(int e) {
        static const struct {
                int e;
                const char *name;
        } names[] = {
                { E2BIG, "E2BIG" },
                { EACCES, "EACCES" },
                { EAGAIN, "EAGAIN" },
                { EBADMSG, "EBADMSG" },
                { EBUSY, "EBUSY" },
                { ECANCELED, "ECANCELED" },
                { ECONNREFUSED, "ECONNREFUSED" },
                { ECONNRESET, "ECONNRESET" },
                { EEXIST, "EEXIST" },
                { EFBIG, "EFBIG" },
                { EHOSTUNREACH, "EHOSTUNREACH" },
                { EIDRM, "EIDRM" },
                { EINTR, "EINTR" },
                { EINVAL, "EINVAL" },
                { EIO, "EIO" },
                { EISDIR, "EISDIR" },
                { EKEYEXPIRED, "EKEYEXPIRED" },
                { EKEYREJECTED, "EKEYREJECTED" },
                { EKEYREVOKED, "EKEYREVOKED" },
                { ELOOP, "ELOOP" },
                { EMSGSIZE, "EMSGSIZE" },
                { ENETUNREACH, "ENETUNREACH" },
                { ENODATA, "ENODATA" },
                { ENOENT, "ENOENT" },
                { ENOKEY, "ENOKEY" },
                { ENOMEM, "ENOMEM" },
                { ENOSPC, "ENOSPC" },
                { ENOTDIR, "ENOTDIR" },
                { EOPNOTSUPP, "EOPNOTSUPP" },
                { EPERM, "EPERM" },
                { EPROTO, "EPROTO" },
                { ERANGE, "ERANGE" },
                { EREMOTEIO, "EREMOTEIO" },
                { ETIMEDOUT, "ETIMEDOUT" },
        };
        static char buf[32];

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i].e == e)
                        return names[i].name;
        (void) snprintf(buf, sizeof(buf), "errno %d", e);
        return buf;
}
#endif

typedef struct Cli {
        sd_event *event;
        ProtoClient *client;
        ProtoIdentity *identity;
        const char *identity_dir;
        const char *base_url;
        const char *call;
        cJSON *out;
        int exit_code;
        /* bench */
        unsigned bench_left, bench_done, bench_parallel;
        uint64_t bench_start;
        ProtoMapping *mapping;
        char *body; /* the request body, built once, as the agent does */
        size_t body_len;
        unsigned bench_failed;
} Cli;

static uint64_t now_usec(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void add_str(cJSON *o, const char *k, const char *v) {
        if (v)
                (void) cJSON_AddStringToObject(o, k, v);
        else
                (void) cJSON_AddNullToObject(o, k);
}

static void result_to_json(Cli *cli, const ProtoResult *r) {
        cJSON *o = cli->out;

        add_str(o, "kind", proto_result_kind_to_string(r->kind));
        (void) cJSON_AddNumberToObject(o, "http_status", (double) r->http_status);
        (void) cJSON_AddNumberToObject(o, "retry_after", (double) r->retry_after_sec);
        (void) cJSON_AddBoolToObject(o, "retry_after_from_server", r->retry_after_from_server);
        (void) cJSON_AddNumberToObject(o, "error", r->error);
        add_str(o, "error_name", r->error ? strerrorname_np(-r->error) : NULL);
        add_str(o, "message", r->message);
        add_str(o, "request_uuid", r->request_uuid);
        (void) cJSON_AddBoolToObject(o, "cert_changed", r->cert_changed);
        (void) cJSON_AddBoolToObject(o, "maybe_applied", r->maybe_applied);
        if (r->consumer) {
                cJSON *c = cJSON_AddObjectToObject(o, "consumer");
                add_str(c, "uuid", r->consumer->uuid);
                add_str(c, "owner", r->consumer->owner_key);
                add_str(c, "name", r->consumer->name);
                add_str(c, "type", r->consumer->type_label);
                add_str(c, "hypervisor_id", r->consumer->hypervisor_id);
                add_str(c, "serial", r->consumer->serial);
                (void) cJSON_AddBoolToObject(c, "has_cert", r->consumer->cert_pem != NULL);
                (void) cJSON_AddBoolToObject(c, "has_key", r->consumer->key_pem != NULL);
        }
        if (r->status) {
                cJSON *s = cJSON_AddObjectToObject(o, "status"), *caps;
                add_str(s, "mode", r->status->mode);
                add_str(s, "version", r->status->version);
                (void) cJSON_AddBoolToObject(s, "result", r->status->result);
                caps = cJSON_AddArrayToObject(s, "capabilities");
                for (char **p = r->status->capabilities; p && *p; p++)
                        (void) cJSON_AddItemToArray(caps, cJSON_CreateString(*p));
        }
        if (r->job) {
                cJSON *j = cJSON_AddObjectToObject(o, "job");
                add_str(j, "id", r->job->id);
                add_str(j, "state", r->job->state_text);
                (void) cJSON_AddBoolToObject(j, "terminal", proto_job_state_is_terminal(r->job->state));
                add_str(j, "result_text", r->job->result_text);
                (void) cJSON_AddBoolToObject(j, "has_result_object", r->job->has_result_object);
                (void) cJSON_AddNumberToObject(j, "created", (double) r->job->n_created);
                (void) cJSON_AddNumberToObject(j, "updated", (double) r->job->n_updated);
                (void) cJSON_AddNumberToObject(j, "unchanged", (double) r->job->n_unchanged);
                (void) cJSON_AddNumberToObject(j, "failed", (double) r->job->n_failed);
        }
}

static void on_result(ProtoClient *c, const ProtoResult *r, void *userdata) {
        Cli *cli = userdata;

        result_to_json(cli, r);
        if (r->kind == PROTO_RESULT_OK && streq_ptr(cli->call, "register") && cli->identity_dir) {
                _cleanup_free_ char *err = NULL;
                int k = proto_identity_save(cli->identity_dir, r->consumer, cli->base_url, NULL, &err);
                (void) cJSON_AddBoolToObject(cli->out, "saved", k >= 0);
                if (k < 0)
                        add_str(cli->out, "save_error", err);
        }
        if (r->kind == PROTO_RESULT_OK && streq_ptr(cli->call, "unregister") && cli->identity_dir)
                (void) cJSON_AddBoolToObject(cli->out, "removed",
                                             proto_identity_remove(cli->identity_dir) >= 0);
        if (cli->identity && (streq_ptr(cli->call, "refresh") || streq_ptr(cli->call, "regenerate"))) {
                bool renewed = false;

                /* What the agent does with a renewal: store it, reload it. */
                if (r->kind == PROTO_RESULT_OK && r->cert_changed) {
                        _cleanup_free_ char *err = NULL;
                        ProtoIdentity *fresh = NULL;

                        if (proto_identity_save(cli->identity->dir, r->consumer, cli->identity->server_url,
                                                &fresh, &err) >= 0) {
                                proto_identity_free(cli->identity);
                                cli->identity = fresh;
                                renewed = true;
                        } else
                                add_str(cli->out, "save_error", err);
                }
                (void) cJSON_AddBoolToObject(cli->out, "identity_renewed", renewed);
                add_str(cli->out, "local_serial", cli->identity->serial);
        }
        (void) sd_event_exit(cli->event, 0);
}

static void on_bench(ProtoClient *c, const ProtoResult *r, void *userdata) {
        Cli *cli = userdata;

        cli->bench_done++;
        if (r->kind != PROTO_RESULT_OK) {
                cli->bench_failed++;
                if (cli->bench_failed == 1)
                        add_str(cli->out, "first_failure", r->message);
        }
        if (cli->bench_left > 0) {
                cli->bench_left--;
                if (proto_client_start(c,
                                       &(ProtoRequest){ .call = PROTO_CALL_UPDATE_GUESTS,
                                                        .identity = cli->identity,
                                                        .body = cli->body,
                                                        .body_len = cli->body_len },
                                       on_bench, cli) < 0) {
                        (void) sd_event_exit(cli->event, 1);
                        return;
                }
        }
        if (proto_client_pending(c) == 0 || (cli->bench_left == 0 && proto_client_pending(c) == 0))
                (void) sd_event_exit(cli->event, 0);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        Cli *cli = userdata;

        add_str(cli->out, "kind", "cli-deadline");
        cli->exit_code = 3;
        return sd_event_exit(cli->event, 3);
}

static void usage(void) {
        fprintf(stderr,
                "usage: proto-cli --url URL [--ca-dir DIR] [--insecure] [--identity DIR] [--timeout-ms N]\n"
                "        [--connect-timeout-ms N] [--max-body N] [--resolve H:P:A] [--deadline-ms N]\n"
                "        [--org ORG] [--user USER] [--name NAME] [--hypervisor-id ID] [--reporter ID]\n"
                "        [--guest UUID[:0|1]]... [--guests N] [--count N] [--parallel N]\n"
                "        status|register|update|checkin|job JOB|heartbeat|get-consumer|refresh|regenerate|\n"
                "        unregister|bench-update|identity\n");
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "url", required_argument, NULL, 'u' },
                { "ca-dir", required_argument, NULL, 'c' },
                { "insecure", no_argument, NULL, 'k' },
                { "identity", required_argument, NULL, 'i' },
                { "timeout-ms", required_argument, NULL, 't' },
                { "connect-timeout-ms", required_argument, NULL, 'T' },
                { "max-body", required_argument, NULL, 'm' },
                { "resolve", required_argument, NULL, 'R' },
                { "deadline-ms", required_argument, NULL, 'D' },
                { "org", required_argument, NULL, 'o' },
                { "user", required_argument, NULL, 'U' },
                { "name", required_argument, NULL, 'n' },
                { "hypervisor-id", required_argument, NULL, 'h' },
                { "reporter", required_argument, NULL, 'r' },
                { "guest", required_argument, NULL, 'g' },
                { "guests", required_argument, NULL, 'G' },
                { "count", required_argument, NULL, 'N' },
                { "parallel", required_argument, NULL, 'P' },
                {},
        };
        _cleanup_free_ ProtoGuest *guests = NULL;
        _cleanup_strv_free_ char **gen = NULL;
        _cleanup_(cJSON_Deletep) cJSON *out = cJSON_CreateObject();
        const char *resolve[2] = {};
        ProtoServerConfig cfg = {};
        ProtoCredentials cred = {};
        ProtoMapping m = { .hypervisor_id = "hv-0001", .name = "hv-0001.example.com" };
        ProtoFact facts[] = {
                { "hypervisor.type", "QEMU" },
                { "hypervisor.version", "7.2.0" },
                { "cpu.cpu_socket(s)", "2" },
        };
        Cli cli = { .exit_code = 0 };
        uint64_t deadline_ms = 60000, n_gen = 0, count = 100, parallel = 1, v;
        size_t n_guests = 0;
        const char *reporter = NULL;
        char *end;
        int c, r;

        log_set_target(LOG_TARGET_STDERR);
        log_set_max_level(LOG_DEBUG);
        m.facts = facts;
        m.n_facts = ELEMENTSOF(facts);
        guests = calloc((size_t) argc, sizeof(ProtoGuest));
        if (!guests || !out)
                return 1;
        cli.out = out;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'u':
                        cfg.base_url = optarg;
                        break;
                case 'c':
                        cfg.ca_dir = optarg;
                        break;
                case 'k':
                        cfg.insecure = true;
                        break;
                case 'i':
                        cli.identity_dir = optarg;
                        break;
                case 't':
                case 'T':
                case 'm':
                case 'D':
                case 'G':
                case 'N':
                case 'P':
                        if (parse_uint64(optarg, &v) < 0) {
                                usage();
                                return 2;
                        }
                        if (c == 't')
                                cfg.timeout_usec = v * USEC_PER_MSEC;
                        else if (c == 'T')
                                cfg.connect_timeout_usec = v * USEC_PER_MSEC;
                        else if (c == 'm')
                                cfg.max_body = v;
                        else if (c == 'D')
                                deadline_ms = v;
                        else if (c == 'G')
                                n_gen = v;
                        else if (c == 'N')
                                count = v;
                        else
                                parallel = v ?: 1;
                        break;
                case 'R':
                        resolve[0] = optarg;
                        cfg.resolve = resolve;
                        break;
                case 'o':
                        cred.org = optarg;
                        break;
                case 'U':
                        cred.user = optarg;
                        break;
                case 'n':
                        m.name = optarg;
                        break;
                case 'h':
                        m.hypervisor_id = optarg;
                        break;
                case 'r':
                        reporter = optarg;
                        break;
                case 'g':
                        end = strchr(optarg, ':');
                        guests[n_guests].uuid = optarg;
                        guests[n_guests].active = !end || end[1] != '0';
                        guests[n_guests].state = guests[n_guests].active ? 1 : 5;
                        if (end)
                                *end = 0;
                        n_guests++;
                        break;
                default:
                        usage();
                        return 2;
                }
        }
        {
                if (optind >= argc || !cfg.base_url) {
                        usage();
                        return 2;
                }
                cli.call = argv[optind];
                cli.base_url = cfg.base_url;
                (void) cJSON_AddStringToObject(out, "call", cli.call);

                if (n_gen > 0) {
                        ProtoGuest *g = reallocarray(NULL, n_gen, sizeof(ProtoGuest));
                        gen = calloc(n_gen + 1, sizeof(char *));
                        if (!g || !gen)
                                return 1;
                        for (uint64_t i = 0; i < n_gen; i++) {
                                if (asprintf(&gen[i], "%08llx-1111-4222-8333-%012llx",
                                             (unsigned long long) i, (unsigned long long) (i * 7919)) < 0)
                                        return 1;
                                g[i] = (ProtoGuest){ .uuid = gen[i], .state = 1, .active = (i % 5) != 0 };
                        }
                        free(guests);
                        guests = g;
                        n_guests = n_gen;
                }
                m.guests = guests;
                m.n_guests = n_guests;
                cli.mapping = &m;
                cred.activation_keys = getenv("HVMAP_TEST_ACTIVATION_KEYS");
                cred.password = getenv("HVMAP_TEST_PASSWORD");

                r = sd_event_new(&cli.event);
                if (r < 0)
                        return 1;
                r = event_add_time_relative(cli.event, NULL, CLOCK_MONOTONIC, deadline_ms * USEC_PER_MSEC,
                                            USEC_PER_MSEC, on_deadline, &cli);
                if (r < 0)
                        return 1;

                if (cli.identity_dir && !streq_ptr(cli.call, "register")) {
                        _cleanup_free_ char *err = NULL;
                        r = proto_identity_load(cli.identity_dir, &cli.identity, &err);
                        if (streq_ptr(cli.call, "identity")) {
                                (void) cJSON_AddNumberToObject(out, "error", r);
                                add_str(out, "error_name", r < 0 ? strerrorname_np(-r) : NULL);
                                add_str(out, "message", err);
                                if (r >= 0) {
                                        add_str(out, "uuid", cli.identity->uuid);
                                        add_str(out, "owner", cli.identity->owner);
                                        add_str(out, "serial", cli.identity->serial);
                                        (void) cJSON_AddNumberToObject(out, "not_after",
                                                                       (double) cli.identity->not_after);
                                }
                                goto print;
                        }
                        if (r < 0) {
                                add_str(out, "kind", "identity-error");
                                add_str(out, "message", err);
                                (void) cJSON_AddNumberToObject(out, "error", r);
                                cli.exit_code = 1;
                                goto print;
                        }
                }

                r = proto_client_new(cli.event, &cfg, &cli.client);
                if (r < 0) {
                        add_str(out, "kind", "client-error");
                        (void) cJSON_AddNumberToObject(out, "error", r);
                        cli.exit_code = 1;
                        goto print;
                }
                add_str(out, "correlation_id", proto_client_correlation_id(cli.client));

                {
                        ProtoRequest req = { .identity = cli.identity, .reporter_id = reporter };
                        char err[PROTO_ERROR_MAX] = "";

                        r = 0;
                        if (streq_ptr(cli.call, "status"))
                                req.call = PROTO_CALL_STATUS;
                        else if (streq_ptr(cli.call, "register")) {
                                req.call = PROTO_CALL_REGISTER;
                                req.cred = &cred;
                                r = proto_build_register(&m, &cli.body, &cli.body_len, err, sizeof err);
                        } else if (streq_ptr(cli.call, "update") || streq_ptr(cli.call, "bench-update")) {
                                req.call = PROTO_CALL_UPDATE_GUESTS;
                                r = proto_build_guest_update(&m, &cli.body, &cli.body_len, err, sizeof err);
                        } else if (streq_ptr(cli.call, "checkin")) {
                                req.call = PROTO_CALL_CHECKIN;
                                r = proto_build_checkin(&m, 1, &cli.body, &cli.body_len, err, sizeof err);
                        } else if (streq_ptr(cli.call, "job")) {
                                req.call = PROTO_CALL_JOB;
                                req.job_id = optind + 1 < argc ? argv[optind + 1] : NULL;
                        } else if (streq_ptr(cli.call, "heartbeat"))
                                req.call = PROTO_CALL_HEARTBEAT;
                        else if (streq_ptr(cli.call, "get-consumer") || streq_ptr(cli.call, "refresh"))
                                req.call = PROTO_CALL_GET_CONSUMER;
                        else if (streq_ptr(cli.call, "regenerate"))
                                req.call = PROTO_CALL_REGENERATE;
                        else if (streq_ptr(cli.call, "unregister"))
                                req.call = PROTO_CALL_UNREGISTER;
                        else {
                                usage();
                                return 2;
                        }
                        req.body = cli.body;
                        req.body_len = cli.body_len;
                        if (r < 0)
                                add_str(out, "build_error", err);
                        else if (streq_ptr(cli.call, "bench-update")) {
                                cli.bench_left = (unsigned) count;
                                cli.bench_start = now_usec();
                                for (uint64_t i = 0; i < parallel && cli.bench_left > 0 && r >= 0; i++) {
                                        cli.bench_left--;
                                        r = proto_client_start(cli.client, &req, on_bench, &cli);
                                }
                        } else
                                r = proto_client_start(cli.client, &req, on_result, &cli);
                }
                if (r < 0) {
                        add_str(out, "kind", "start-error");
                        (void) cJSON_AddNumberToObject(out, "error", r);
                        cli.exit_code = 1;
                        goto print;
                }
                r = sd_event_loop(cli.event);
                if (streq_ptr(cli.call, "bench-update")) {
                        double sec = (double) (now_usec() - cli.bench_start) / 1e6;
                        (void) cJSON_AddNumberToObject(out, "requests", cli.bench_done);
                        (void) cJSON_AddNumberToObject(out, "failed", cli.bench_failed);
                        (void) cJSON_AddNumberToObject(out, "seconds", sec);
                        (void) cJSON_AddNumberToObject(out, "requests_per_second", cli.bench_done / sec);
                        (void) cJSON_AddNumberToObject(out, "guests", (double) n_guests);
                        (void) cJSON_AddNumberToObject(out, "body_bytes", (double) cli.body_len);
                        (void) cJSON_AddNumberToObject(out, "bytes_per_guest",
                                                       n_guests ? (double) cli.body_len / (double) n_guests
                                                                : 0);
                }
        }
print : {
        _cleanup_free_ char *s = cJSON_PrintUnformatted(out);
        if (s)
                printf("%s\n", s);
}
        proto_client_free(cli.client);
        free(cli.body);
        proto_identity_free(cli.identity);
        sd_event_unref(cli.event);
        return cli.exit_code;
}
