/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hvmap's entry point: global options, the subcommand table, exit codes. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "config.h"
#include "util/log.h"

typedef struct Verb {
        const char *name;
        const char *summary;
        int (*run)(int argc, char *argv[]); /* NULL: named in --help, not built yet */
} Verb;

static const Verb verbs[] = {
        { "run", "run the daemon: follow the guests and keep the server's view current", NULL },
        { "register", "register this host with the subscription server as a hypervisor", NULL },
        { "unregister", "delete this host's consumer on the server and forget the identity", NULL },
        { "report", "send one report now; the exit status says whether the server accepted it", NULL },
        { "print", "print this host's guest mapping as JSON (no server needed)", NULL },
        { "status", "show identity, server, last accepted report and last error", NULL },
        { "config", "validate and print the effective configuration (config --check)", NULL },
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
                       "Options:\n"
                       "  -h --help      show this help\n"
                       "     --version  show the version\n"
                       "\n"
                       "Defaults: config %s, state %s, rhsm.conf %s\n"
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

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        const Verb *verb;
        int c;

        /* Stop at the first non-option: what follows belongs to the verb. */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return EX_OK;
                case ARG_VERSION:
                        (void) printf("hvmap %s\n", HVMAP_VERSION);
                        return EX_OK;
                case '?':
                default:
                        (void) fprintf(stderr, "hvmap: unknown option '%s'; see 'hvmap --help'.\n",
                                       argv[optind - 1]);
                        return EX_USAGE;
                }

        if (optind >= argc) {
                help(stderr);
                return EX_USAGE;
        }
        verb = verb_find(argv[optind]);
        if (!verb) {
                (void) fprintf(stderr, "hvmap: unknown command '%s'; see 'hvmap --help' for the commands.\n",
                               argv[optind]);
                return EX_USAGE;
        }
        if (!verb->run) {
                (void) fprintf(stderr, "hvmap: '%s' is not part of this build of hvmap %s yet.\n",
                               verb->name, HVMAP_VERSION);
                return EX_UNAVAILABLE;
        }
        return verb->run(argc - optind, argv + optind);
}
