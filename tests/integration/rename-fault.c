/* SPDX-License-Identifier: GPL-2.0-or-later */
/* LD_PRELOAD shim for the atomic-write tests: with
 * HVMAP_TEST_RENAME_FAULT=kill:NAME the process is SIGKILLed inside the
 * rename() whose target's file name is NAME — after the temporary file was
 * written and synced, before it replaces the old file, the worst moment for
 * a crash; with fail:NAME that rename() fails with EIO instead. With
 * kill:#N (or fail:#N) it is the N-th rename() of the process instead,
 * whatever its target, not counting those whose target's file name is listed
 * in HVMAP_TEST_RENAME_IGNORE (comma separated, e.g. "state.json"), so a test
 * can crash a process at each of its renames in turn. Every other rename()
 * is passed through. */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rename(const char *oldpath, const char *newpath);

/* Whether name is one of the comma-separated names in list. */
static bool listed(const char *list, const char *name) {
        size_t n = strlen(name);

        for (const char *p = list; p && *p;) {
                size_t l = strcspn(p, ",");

                if (l == n && strncmp(p, name, n) == 0)
                        return true;
                p += l;
                p += *p == ',';
        }
        return false;
}

int rename(const char *oldpath, const char *newpath) {
        static int (*real_rename)(const char *, const char *) = NULL;
        static unsigned long counted = 0;
        const char *spec = getenv("HVMAP_TEST_RENAME_FAULT");
        const char *base = newpath ? strrchr(newpath, '/') : NULL, *colon;
        bool hit;

        base = base ? base + 1 : newpath;
        colon = spec ? strchr(spec, ':') : NULL;
        if (colon && colon[1] == '#') {
                hit = false;
                if (base && !listed(getenv("HVMAP_TEST_RENAME_IGNORE"), base))
                        hit = ++counted == strtoul(colon + 2, NULL, 10);
        } else
                hit = colon && base && strcmp(colon + 1, base) == 0;
        if (hit) {
                if (strncmp(spec, "kill:", 5) == 0)
                        (void) kill(getpid(), SIGKILL);
                if (strncmp(spec, "fail:", 5) == 0) {
                        errno = EIO;
                        return -1;
                }
        }
        if (!real_rename)
                real_rename = (int (*)(const char *, const char *)) dlsym(RTLD_NEXT, "rename");
        return real_rename(oldpath, newpath);
}
