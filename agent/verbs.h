/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The subcommands main.c dispatches to. Each takes the global options and
 * its own argv (argv[0] is the verb's name) and returns a sysexits status. */
#pragma once

#include <stdio.h>

#include "agent/app.h"
#include "agent/state.h"

/* `hvmap print [--watch]`: the guest mapping as JSON (agent/verb-print.c). */
int verb_print(const GlobalArgs *g, int argc, char *argv[]);
/* `hvmap register`, `unregister`, `report` (agent/verbs-server.c). */
int verb_register(const GlobalArgs *g, int argc, char *argv[]);
int verb_unregister(const GlobalArgs *g, int argc, char *argv[]);
int verb_report(const GlobalArgs *g, int argc, char *argv[]);
/* `hvmap status [--json]`, `hvmap config --check|--sample` (agent/verbs-local.c). */
int verb_status(const GlobalArgs *g, int argc, char *argv[]);
int verb_config(const GlobalArgs *g, int argc, char *argv[]);

/* What `hvmap status` shows, gathered (agent/verbs-local.c). */
typedef struct StatusView {
        const char *url; /* the configured server, NULL if none */
        const ProtoIdentity *id; /* NULL when not loaded */
        int id_r; /* proto_identity_load()'s result */
        const char *id_err; /* its reason, NULL if none */
        const State *state;
        bool running; /* state->pid is alive */
        bool own; /* hvmap's own identity, not subscription-manager's */
        uint64_t now_usec; /* CLOCK_REALTIME */
} StatusView;
/* `status --json`: the JSON text (caller frees); -ENOMEM. Pure. */
int status_format_json(const StatusView *v, char **ret);
/* `status`: the text to f, every string escaped onto its own line. 0 or
 * -ENOMEM. Writes nothing else. */
int status_print_text(const StatusView *v, FILE *f);
