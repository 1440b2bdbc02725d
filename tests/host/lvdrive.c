/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hvmap-lvdrive: changes domains through the libvirt API from a process of
 * its own, one command per stdin line, for the cross-process tests. While it
 * runs it also holds the connection that keeps a private libvirtd's shared
 * test:///default alive.
 *
 * usage: hvmap-lvdrive URI
 * prints "READY" once connected, then per command one line:
 *   OK <start-ms> <end-ms>      (CLOCK_REALTIME, comparable across processes)
 *   ERR <libvirt's message>
 * commands:
 *   define NAME UUID | create NAME UUID (transient) | start UUID | suspend UUID
 *   resume UUID | destroy UUID | undefine UUID | shutdown UUID
 *   populate FILE   FILE lines "UUID NAME running|paused|shutoff [transient]"
 *   list            "DOM UUID NAME STATE" lines, then OK
 *   quit */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

static void quiet(void *opaque, virErrorPtr err) {
}

static const char *err(void) {
        const char *m = virGetLastErrorMessage();

        return m ? m : "unknown error";
}

static void domain_xml(char *buf, size_t n, const char *name, const char *uuid) {
        (void) snprintf(buf, n,
                        "<domain type='test'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory>"
                        "<vcpu>1</vcpu><os><type>hvm</type></os></domain>",
                        name, uuid);
}

/* One domain operation by UUID: 0 or -1 (libvirt's error is set). */
static int by_uuid(virConnectPtr c, const char *op, const char *uuid) {
        virDomainPtr d = virDomainLookupByUUIDString(c, uuid);
        int r;

        if (!d)
                return -1;
        if (strcmp(op, "start") == 0)
                r = virDomainCreate(d);
        else if (strcmp(op, "suspend") == 0)
                r = virDomainSuspend(d);
        else if (strcmp(op, "resume") == 0)
                r = virDomainResume(d);
        else if (strcmp(op, "destroy") == 0)
                r = virDomainDestroy(d);
        else if (strcmp(op, "undefine") == 0)
                r = virDomainUndefine(d);
        else
                r = virDomainShutdown(d);
        (void) virDomainFree(d);
        return r;
}

static int populate(virConnectPtr c, const char *file) {
        FILE *f = fopen(file, "re");
        char line[512], uuid[64], name[256], state[32], extra[32], xml[1024];
        int r = 0;

        if (!f)
                return -1;
        while (r == 0 && fgets(line, sizeof line, f)) {
                virDomainPtr d;

                extra[0] = '\0';
                if (sscanf(line, "%63s %255s %31s %31s", uuid, name, state, extra) < 3)
                        continue;
                domain_xml(xml, sizeof xml, name, uuid);
                if (strcmp(extra, "transient") == 0)
                        d = virDomainCreateXML(c, xml, 0);
                else {
                        d = virDomainDefineXML(c, xml);
                        if (d && strcmp(state, "shutoff") != 0 && virDomainCreate(d) < 0)
                                r = -1;
                }
                if (!d)
                        r = -1;
                else if (r == 0 && strcmp(state, "paused") == 0 && virDomainSuspend(d) < 0)
                        r = -1;
                if (d)
                        (void) virDomainFree(d);
        }
        (void) fclose(f);
        return r;
}

static int list(virConnectPtr c) {
        virDomainPtr *doms = NULL;
        int n = virConnectListAllDomains(c, &doms, 0);

        for (int i = 0; i < n; i++) {
                char uuid[VIR_UUID_STRING_BUFLEN];
                int st = 0, reason;

                (void) virDomainGetUUIDString(doms[i], uuid);
                (void) virDomainGetState(doms[i], &st, &reason, 0);
                (void) printf("DOM %s %s %d\n", uuid, virDomainGetName(doms[i]), st);
                (void) virDomainFree(doms[i]);
        }
        free(doms);
        return n < 0 ? -1 : 0;
}

int main(int argc, char *argv[]) {
        char line[1024], op[32], a[512], b[256], xml[1024];
        virConnectPtr c;

        if (argc != 2) {
                (void) fprintf(stderr, "usage: %s URI\n", argv[0]);
                return 2;
        }
        virSetErrorFunc(NULL, quiet);
        setvbuf(stdout, NULL, _IOLBF, 0);
        c = virConnectOpen(argv[1]);
        if (!c) {
                (void) printf("ERR %s\n", err());
                return 1;
        }
        (void) printf("READY\n");
        while (fgets(line, sizeof line, stdin)) {
                int n = sscanf(line, "%31s %511s %255s", op, a, b), r;
                double t0 = now_ms(), t1;

                if (n < 1)
                        continue;
                if (strcmp(op, "quit") == 0)
                        break;
                if ((strcmp(op, "define") == 0 || strcmp(op, "create") == 0) && n == 3) {
                        virDomainPtr d;

                        domain_xml(xml, sizeof xml, a, b);
                        t0 = now_ms();
                        d = op[0] == 'd' ? virDomainDefineXML(c, xml) : virDomainCreateXML(c, xml, 0);
                        r = d ? 0 : -1;
                        if (d)
                                (void) virDomainFree(d);
                } else if (strcmp(op, "populate") == 0 && n == 2)
                        r = populate(c, a);
                else if (strcmp(op, "list") == 0)
                        r = list(c);
                else if (n == 2 && (strcmp(op, "start") == 0 || strcmp(op, "suspend") == 0 ||
                                    strcmp(op, "resume") == 0 || strcmp(op, "destroy") == 0 ||
                                    strcmp(op, "undefine") == 0 || strcmp(op, "shutdown") == 0))
                        r = by_uuid(c, op, a);
                else {
                        (void) printf("ERR unknown command: %s", line);
                        continue;
                }
                t1 = now_ms();
                if (r < 0)
                        (void) printf("ERR %s\n", err());
                else
                        (void) printf("OK %.3f %.3f\n", t0, t1);
        }
        (void) virConnectClose(c);
        return 0;
}
