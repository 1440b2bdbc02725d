/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging to stderr or the journal, with secret redaction. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include "util/log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "util/parse.h"

/* A message longer than this is cut; log lines are for people, and the
 * longest we write (a server's displayMessage plus context) is far shorter. */
#define LOG_MESSAGE_MAX 4096
/* Secrets a process holds at once: password, activation key(s), proxy
 * password. 16 leaves room without an allocation per message. */
#define LOG_SECRETS_MAX 16
#define LOG_REDACTED "********"

static atomic_int log_max_level = LOG_INFO;
static atomic_int log_target = LOG_TARGET_AUTO;
static atomic_bool log_timestamps = false;

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[LOG_SECRETS_MAX];

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "err",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log_set_max_level(int level) {
        if (level < LOG_EMERG)
                level = LOG_EMERG;
        if (level > LOG_DEBUG)
                level = LOG_DEBUG;
        atomic_store(&log_max_level, level);
}

int log_get_max_level(void) {
        return atomic_load(&log_max_level);
}

void log_set_target(LogTarget target) {
        atomic_store(&log_target, (int) target);
}

void log_set_timestamps(bool on) {
        atomic_store(&log_timestamps, on);
}

int log_level_from_string(const char *s) {
        uint32_t n;

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return (int) i;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        if (strcasecmp(s, "warn") == 0)
                return LOG_WARNING;
        if (parse_uint32(s, &n) >= 0 && n <= LOG_DEBUG)
                return (int) n;
        return -EINVAL;
}

const char *log_level_to_string(int level) {
        if (level < 0 || (size_t) level >= ELEMENTSOF(level_names))
                return "unknown";
        return level_names[level];
}

int log_secret_register(const char *secret) {
        int r = -ENOSPC;

        if (!secret || !*secret)
                return 0;
        pthread_mutex_lock(&secrets_lock);
        for (size_t i = 0; i < LOG_SECRETS_MAX; i++)
                if (secrets[i] && strcmp(secrets[i], secret) == 0) {
                        r = 0;
                        goto done;
                }
        for (size_t i = 0; i < LOG_SECRETS_MAX; i++)
                if (!secrets[i]) {
                        secrets[i] = strdup(secret);
                        r = secrets[i] ? 0 : -ENOMEM;
                        break;
                }
done:
        pthread_mutex_unlock(&secrets_lock);
        return r;
}

void log_secret_unregister(const char *secret) {
        if (!secret)
                return;
        pthread_mutex_lock(&secrets_lock);
        for (size_t i = 0; i < LOG_SECRETS_MAX; i++)
                if (secrets[i] && strcmp(secrets[i], secret) == 0)
                        secrets[i] = erase_and_free(secrets[i]);
        pthread_mutex_unlock(&secrets_lock);
}

void log_secret_clear(void) {
        pthread_mutex_lock(&secrets_lock);
        for (size_t i = 0; i < LOG_SECRETS_MAX; i++)
                secrets[i] = erase_and_free(secrets[i]);
        pthread_mutex_unlock(&secrets_lock);
}

/* Replaces every occurrence of needle in buf by LOG_REDACTED, in place,
 * never writing past bufsz (a cut message stays cut, but never shows a
 * prefix of the secret beyond what the redaction covers). */
static void redact_one(char *buf, size_t bufsz, const char *needle) {
        size_t nlen = strlen(needle), rlen = strlen(LOG_REDACTED);
        char *p = buf;

        while ((p = strstr(p, needle))) {
                size_t tail = strlen(p + nlen);
                size_t off = (size_t) (p - buf);

                if (off + rlen + tail + 1 > bufsz)
                        tail = bufsz > off + rlen + 1 ? bufsz - off - rlen - 1 : 0;
                if (off + rlen + 1 > bufsz) {
                        /* No room even for the marker: end the message here. */
                        *p = '\0';
                        return;
                }
                memmove(p + rlen, p + nlen, tail);
                memcpy(p, LOG_REDACTED, rlen);
                p[rlen + tail] = '\0';
                p += rlen;
        }
}

void log_scrub(char *buf, size_t bufsz) {
        pthread_mutex_lock(&secrets_lock);
        for (size_t i = 0; i < LOG_SECRETS_MAX; i++)
                if (secrets[i])
                        redact_one(buf, bufsz, secrets[i]);
        pthread_mutex_unlock(&secrets_lock);

        for (unsigned char *c = (unsigned char *) buf; *c; c++)
                if (*c < 0x20 || *c == 0x7f)
                        *c = ' ';
}

/* One pass of log_redact() with secrets_lock held: writes into out when
 * not NULL; returns the length of the result. */
static size_t redact_pass(const char *text, size_t len, char *out) {
        size_t rlen = strlen(LOG_REDACTED), o = 0;

        for (size_t i = 0; i < len;) {
                size_t best = 0;

                /* The longest secret that starts here wins. */
                for (size_t j = 0; j < LOG_SECRETS_MAX; j++)
                        if (secrets[j]) {
                                size_t n = strlen(secrets[j]);

                                if (n > best && strncmp(text + i, secrets[j], n) == 0)
                                        best = n;
                        }
                if (best > 0) {
                        if (out)
                                memcpy(out + o, LOG_REDACTED, rlen);
                        o += rlen;
                        i += best;
                } else {
                        if (out)
                                out[o] = text[i];
                        o++;
                        i++;
                }
        }
        return o;
}

char *log_redact(const char *text) {
        size_t len, n;
        char *out;

        if (!text)
                return NULL;
        len = strlen(text);
        pthread_mutex_lock(&secrets_lock);
        /* Measured first: the result is as long as it needs to be. */
        n = redact_pass(text, len, NULL);
        out = malloc(n + 1);
        if (out) {
                (void) redact_pass(text, len, out);
                out[n] = '\0';
        }
        pthread_mutex_unlock(&secrets_lock);
        return out;
}

bool log_has_secret(const char *text) {
        bool found = false;

        if (!text)
                return false;
        pthread_mutex_lock(&secrets_lock);
        for (size_t i = 0; i < LOG_SECRETS_MAX && !found; i++)
                found = secrets[i] && strstr(text, secrets[i]);
        pthread_mutex_unlock(&secrets_lock);
        return found;
}

static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

static int write_journal(int level, int error, const char *file, int line, const char *func,
                         const char *const *fields, const char *msg) {
        char prio[32], codeline[32], errbuf[32], msgfield[LOG_MESSAGE_MAX + 16];
        char codefile[512], codefunc[256];
        struct iovec iov[64];
        size_t n = 0;
        char scrubbed[32][512];
        size_t nf = 0;

        (void) snprintf(msgfield, sizeof msgfield, "MESSAGE=%s", msg);
        (void) snprintf(prio, sizeof prio, "PRIORITY=%d", level);
        (void) snprintf(codefile, sizeof codefile, "CODE_FILE=%s", file);
        (void) snprintf(codeline, sizeof codeline, "CODE_LINE=%d", line);
        (void) snprintf(codefunc, sizeof codefunc, "CODE_FUNC=%s", func);
        iov[n++] = (struct iovec){ msgfield, strlen(msgfield) };
        iov[n++] = (struct iovec){ prio, strlen(prio) };
        iov[n++] = (struct iovec){ codefile, strlen(codefile) };
        iov[n++] = (struct iovec){ codeline, strlen(codeline) };
        iov[n++] = (struct iovec){ codefunc, strlen(codefunc) };
        iov[n++] = (struct iovec){ (char *) "SYSLOG_IDENTIFIER=hvmap", strlen("SYSLOG_IDENTIFIER=hvmap") };
        if (error != 0) {
                (void) snprintf(errbuf, sizeof errbuf, "ERRNO=%d", error);
                iov[n++] = (struct iovec){ errbuf, strlen(errbuf) };
        }
        for (; fields && fields[nf] && nf < ELEMENTSOF(scrubbed); nf++) {
                (void) snprintf(scrubbed[nf], sizeof scrubbed[nf], "%s", fields[nf]);
                log_scrub(scrubbed[nf], sizeof scrubbed[nf]);
                iov[n++] = (struct iovec){ scrubbed[nf], strlen(scrubbed[nf]) };
        }
        return sd_journal_sendv(iov, (int) n);
}

static void write_stderr(int level, const char *msg) {
        char stamp[64] = "";

        if (atomic_load(&log_timestamps)) {
                struct timespec ts;
                struct tm tm;

                (void) clock_gettime(CLOCK_REALTIME, &ts);
                (void) gmtime_r(&ts.tv_sec, &tm);
                (void) snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                tm.tm_sec, ts.tv_nsec / 1000000L);
        }
        if (level <= LOG_WARNING)
                (void) fprintf(stderr, "%s%s: %s\n", stamp, level <= LOG_ERR ? "error" : "warning", msg);
        else
                (void) fprintf(stderr, "%s%s\n", stamp, msg);
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *const *fields, const char *format, ...) {
        char msg[LOG_MESSAGE_MAX];
        int saved_errno = errno;
        va_list ap;
        LogTarget target;

        error = abs(error);
        if (level > log_get_max_level())
                return -error;

        errno = error; /* so %m prints the error we were given */
        va_start(ap, format);
        (void) vsnprintf(msg, sizeof msg, format, ap);
        va_end(ap);
        log_scrub(msg, sizeof msg);

        target = (LogTarget) atomic_load(&log_target);
        if (target == LOG_TARGET_AUTO)
                target = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
        if (target != LOG_TARGET_JOURNAL || write_journal(level, error, file, line, func, fields, msg) < 0)
                write_stderr(level, msg);

        errno = saved_errno;
        return -error;
}
