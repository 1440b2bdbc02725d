/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hvmap's entry point: global options (before or after the command), the
 * command table, exit codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "agent/daemon.h"
#include "agent/verbs.h"
#include "config.h"
#include "util/log.h"

typedef struct Verb {
        const char *name;
        const char *summary;
        int (*run)(const GlobalArgs *g, int argc, char *argv[]);
} Verb;

static int run_daemon(const GlobalArgs *g, int argc, char *argv[]) {
        if (argc > 1) {
                (void) fprintf(stderr, "Usage: hvmap [OPTIONS] run\n");
                return strcmp(argv[1], "--help") == 0 ? EX_OK : EX_USAGE;
        }
        return daemon_run(g);
}

static const Verb verbs[] = {
        { "run", "run the daemon: follow the guests and keep the server's view current", run_daemon },
        { "register", "register this host with the subscription server as a hypervisor", verb_register },
        { "unregister", "delete this host's consumer on the server and forget the identity",
          verb_unregister },
        { "report", "send one report now; the exit status says whether the server accepted it",
          verb_report },
        { "print", "print this host's guest mapping as JSON (no server needed)", verb_print },
        { "status", "show identity, server, daemon, last accepted report and how healthy it is",
          verb_status },
        { "doctor", "check everything hvmap needs, as the service's user, and say what to fix",
          verb_doctor },
        { "config", "validate and print the effective configuration (config --check)", verb_config },
};

static void help(FILE *f) {
        (void) fprintf(f, "Usage: hvmap [OPTIONS] COMMAND [ARGS...]\n"
                          "\n"
                          "Reports this hypervisor's guests to a Candlepin-based subscription service\n"
                          "(Red Hat Subscription Management, Satellite 6, Candlepin).\n"
                          "\n"
                          "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                (void) fprintf(f, "  %-12s %s\n", verbs[i].name, verbs[i].summary);
        (void) fprintf(f,
                       "\n"
                       "Options (before or after the command):\n"
                       "  -h --help             show this help ('hvmap COMMAND --help' for a command)\n"
                       "     --version          show the version\n"
                       "     --config-dir DIR   configuration directory (default %s)\n"
                       "     --state-dir DIR    identity and state directory (default %s)\n"
                       "     --rhsm-conf FILE   the host's rhsm.conf (default %s; '' ignores it)\n"
                       "     --uri URI          libvirt connection URI (default: libvirt's)\n"
                       "     --debug            log debug messages\n"
                       "\n"
                       "Exit status: 0 ok, 64 usage, 69 unavailable, 75 temporary failure,\n"
                       "77 permission denied, 78 configuration error.\n",
                       HVMAP_CONFIG_DIR, HVMAP_STATE_DIR, HVMAP_RHSM_CONF);
}

static const Verb *verb_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i].name, name) == 0)
                        return &verbs[i];
        return NULL;
}

/* Takes a global option at argv[*i] (as "--opt VALUE" or "--opt=VALUE"):
 * 1 taken, 0 not a global option, -1 missing value. */
static int take_global(int argc, char *argv[], int *i, GlobalArgs *g) {
        static const struct {
                const char *name;
                size_t offset;
        } with_value[] = {
                { "--config-dir", offsetof(GlobalArgs, config_dir) },
                { "--state-dir", offsetof(GlobalArgs, state_dir) },
                { "--rhsm-conf", offsetof(GlobalArgs, rhsm_conf) },
                { "--uri", offsetof(GlobalArgs, uri) },
        };
        const char *a = argv[*i];

        if (strcmp(a, "--debug") == 0) {
                g->debug = true;
                return 1;
        }
        for (size_t k = 0; k < ELEMENTSOF(with_value); k++) {
                size_t n = strlen(with_value[k].name);
                const char **field = (const char **) (void *) ((char *) g + with_value[k].offset);

                if (strncmp(a, with_value[k].name, n) != 0)
                        continue;
                if (a[n] == '=') {
                        *field = a + n + 1;
                        return 1;
                }
                if (a[n] != '\0')
                        continue;
                if (*i + 1 >= argc)
                        return -1;
                *field = argv[++*i];
                return 1;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        GlobalArgs g = {};
        const Verb *verb = NULL;
        char **rest;
        int n = 0, r;

        /* Global options may stand anywhere before "--"; what is left is
         * the command and its own arguments. */
        rest = calloc((size_t) argc + 1, sizeof(char *));
        if (!rest)
                return EX_OSERR;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--") == 0) {
                        for (i++; i < argc; i++)
                                rest[n++] = argv[i];
                        break;
                }
                r = take_global(argc, argv, &i, &g);
                if (r < 0) {
                        (void) fprintf(stderr, "hvmap: option '%s' needs a value\n", argv[i]);
                        free(rest);
                        return EX_USAGE;
                }
                if (r > 0)
                        continue;
                if (n == 0 && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
                        help(stdout);
                        free(rest);
                        return EX_OK;
                }
                if (n == 0 && strcmp(argv[i], "--version") == 0) {
                        (void) printf("hvmap %s\n", HVMAP_VERSION);
                        free(rest);
                        return EX_OK;
                }
                if (n == 0 && argv[i][0] == '-') {
                        (void) fprintf(stderr, "hvmap: unknown option '%s'; see 'hvmap --help'.\n", argv[i]);
                        free(rest);
                        return EX_USAGE;
                }
                rest[n++] = argv[i];
        }
        if (n == 0) {
                help(stderr);
                free(rest);
                return EX_USAGE;
        }
        verb = verb_find(rest[0]);
        if (!verb) {
                (void) fprintf(stderr, "hvmap: unknown command '%s'; see 'hvmap --help' for the commands.\n",
                               rest[0]);
                free(rest);
                return EX_USAGE;
        }
        if (g.debug)
                log_set_max_level(LOG_DEBUG);
        r = verb->run(&g, n, rest);
        free(rest);
        log_secret_clear();
        return r;
}
