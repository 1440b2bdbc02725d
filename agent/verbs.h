/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The subcommands main.c dispatches to. Each takes the global options and
 * its own argv (argv[0] is the verb's name) and returns a sysexits status. */
#pragma once

#include "agent/app.h"
#include "agent/status.h"

/* `hvmap print [--watch]`: the guest mapping as JSON (agent/verb-print.c). */
int verb_print(const GlobalArgs *g, int argc, char *argv[]);
/* `hvmap register`, `unregister`, `report` (agent/verbs-server.c). */
int verb_register(const GlobalArgs *g, int argc, char *argv[]);
int verb_unregister(const GlobalArgs *g, int argc, char *argv[]);
int verb_report(const GlobalArgs *g, int argc, char *argv[]);
/* `hvmap status [--json|--format=...|--check]` (agent/verb-status.c). */
int verb_status(const GlobalArgs *g, int argc, char *argv[]);
/* `hvmap config --check|--sample` (agent/verbs-local.c). */
int verb_config(const GlobalArgs *g, int argc, char *argv[]);
/* `hvmap doctor`: every check a support engineer asks for (agent/verb-doctor.c). */
int verb_doctor(const GlobalArgs *g, int argc, char *argv[]);
