/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What agent/rhsm-conf.c needs of agent/conf.c beyond agent/conf.h. */
#pragma once

#include "agent/conf.h"

/* Parses value for key k into c (as hvmap.conf would); on failure a negative
 * errno and a message (caller frees) naming the key, the value and what is
 * accepted; the field is untouched. */
int config_key_set_value(Config *c, const ConfigKey *k, const char *value, char **ret_msg);

/* Records where key k's value came from. */
void config_key_set_origin(Config *c, const ConfigKey *k, ConfigOriginKind kind, const char *file,
                           unsigned line);
