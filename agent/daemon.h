/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `hvmap run`: the daemon (agent/daemon.c). */
#pragma once

#include "agent/app.h"

/* Runs until SIGTERM/SIGINT; returns a sysexits status. Logs. */
int daemon_run(const GlobalArgs *g);
