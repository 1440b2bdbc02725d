/* SPDX-License-Identifier: GPL-2.0-or-later */
/* LD_PRELOAD shim for the atomic-write tests: with
 * HVMAP_TEST_RENAME_FAULT=kill:NAME the process is SIGKILLed inside the
 * rename() whose target's file name is NAME — after the temporary file was
 * written and synced, before it replaces the old file, the worst moment for
 * a crash; with fail:NAME that rename() fails with EIO instead. Every other
 * rename() is passed through. */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rename(const char *oldpath, const char *newpath);

int rename(const char *oldpath, const char *newpath) {
        static int (*real_rename)(const char *, const char *) = NULL;
        const char *spec = getenv("HVMAP_TEST_RENAME_FAULT");
        const char *base = newpath ? strrchr(newpath, '/') : NULL, *colon;

        base = base ? base + 1 : newpath;
        colon = spec ? strchr(spec, ':') : NULL;
        if (colon && base && strcmp(colon + 1, base) == 0) {
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
