/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `hvmap config`: needs neither libvirt nor the server (`hvmap status`,
 * the other such command, is agent/verb-status.c). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "agent/app.h"
#include "agent/report-io.h"
#include "agent/state.h"
#include "agent/verbs.h"
#include "util/cleanup-libs.h"
#include "util/log.h"
#include "util/parse.h"

int verb_config(const GlobalArgs *g, int argc, char *argv[]) {
        GlobalArgs ga = *g;
        bool check = false, sample = false;
        Config c;
        int r;

        for (int i = 1; i < argc; i++) {
                if (streq_ptr(argv[i], "--check"))
                        check = true;
                else if (streq_ptr(argv[i], "--sample"))
                        sample = true;
                else if (streq_ptr(argv[i], "--config-file") && i + 1 < argc)
                        ga.config_file = argv[++i];
                else if (strncmp(argv[i], "--config-file=", 14) == 0 && argv[i][14])
                        ga.config_file = argv[i] + 14;
                else {
                        (void) fprintf(stderr,
                                       "Usage: hvmap config --check [--config-file FILE] | --sample\n"
                                       "  --check   validate the configuration and print the effective "
                                       "values and where each came from\n"
                                       "  --config-file FILE\n"
                                       "            with --check: FILE in place of CONFIG_DIR/hvmap.conf, "
                                       "with the drop-ins and\n"
                                       "            rhsm.conf it would live with (a candidate before it is "
                                       "installed)\n"
                                       "  --sample  print a sample hvmap.conf listing every key\n");
                        return streq_ptr(argv[i], "--help") ? EX_OK : EX_USAGE;
                }
        }
        if (sample == check || (sample && ga.config_file)) {
                (void) fprintf(stderr, "hvmap config: give exactly one of --check (optionally with "
                                       "--config-file) or --sample\n");
                return EX_USAGE;
        }
        if (sample) {
                config_write_sample(stdout);
                return EX_OK;
        }
        r = app_load_config(&ga, true, &c);
        if (r != 0)
                return r;
        config_dump(&c, stdout);
        config_free(&c);
        return EX_OK;
}
