/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest table: UUID → {state, active, persistence, name}, kept sorted by
 * UUID in one array (binary search; an insert moves at most the tail, ~1 ms
 * at 100 000 entries), with a change counter and a hard cap. Pure. */
#define HVMAP_HOST_INTERNAL
#include "host/host-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

struct GuestTable {
        GuestEntry *entries;
        size_t n, alloc, cap;
        uint64_t changes;
};

GuestTable *guest_table_new(size_t cap) {
        GuestTable *t = calloc(1, sizeof *t);

        if (!t)
                return NULL;
        t->cap = cap > 0 ? cap : HOST_GUEST_CAP_DEFAULT;
        return t;
}

static void entries_free(GuestEntry *e, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(e[i].name);
        free(e);
}

GuestTable *guest_table_free(GuestTable *t) {
        if (!t)
                return NULL;
        entries_free(t->entries, t->n);
        free(t);
        return NULL;
}

size_t guest_table_size(const GuestTable *t) {
        return t->n;
}

size_t guest_table_cap(const GuestTable *t) {
        return t->cap;
}

uint64_t guest_table_changes(const GuestTable *t) {
        return t->changes;
}

/* Index of uuid, or of where it would go; *found says which. */
static size_t table_find(const GuestTable *t, const uint8_t uuid[HOST_UUID_BYTES], bool *found) {
        size_t lo = 0, hi = t->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = memcmp(t->entries[mid].uuid, uuid, HOST_UUID_BYTES);

                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

const GuestEntry *guest_table_get(const GuestTable *t, const uint8_t uuid[HOST_UUID_BYTES]) {
        bool found;
        size_t i = table_find(t, uuid, &found);

        return found ? &t->entries[i] : NULL;
}

const GuestEntry *guest_table_at(const GuestTable *t, size_t i) {
        return i < t->n ? &t->entries[i] : NULL;
}

int guest_table_set(GuestTable *t, const uint8_t uuid[HOST_UUID_BYTES], int state, bool active,
                    GuestPersist persistent, const char *name) {
        bool found;
        size_t i = table_find(t, uuid, &found);
        char *copy = NULL;

        if (found) {
                GuestEntry *e = &t->entries[i];
                bool rename = name && !streq_ptr(e->name, name);

                if (e->state == state && e->active == active && e->persistent == persistent && !rename)
                        return 0;
                if (rename) {
                        copy = strdup(name);
                        if (!copy)
                                return -ENOMEM;
                        free(e->name);
                        e->name = copy;
                }
                e->state = state;
                e->active = active;
                e->persistent = persistent;
                t->changes++;
                return 1;
        }

        if (t->n >= t->cap)
                return -E2BIG;
        if (name) {
                copy = strdup(name);
                if (!copy)
                        return -ENOMEM;
        }
        if (t->n == t->alloc) {
                size_t na = t->alloc ? t->alloc * 2 : 64;
                GuestEntry *ne;

                if (na > t->cap)
                        na = t->cap;
                ne = reallocarray(t->entries, na, sizeof *ne);
                if (!ne) {
                        free(copy);
                        return -ENOMEM;
                }
                t->entries = ne;
                t->alloc = na;
        }
        memmove(&t->entries[i + 1], &t->entries[i], (t->n - i) * sizeof *t->entries);
        t->entries[i] =
                (GuestEntry){ .state = state, .active = active, .persistent = persistent, .name = copy };
        memcpy(t->entries[i].uuid, uuid, HOST_UUID_BYTES);
        t->n++;
        t->changes++;
        return 1;
}

int guest_table_remove(GuestTable *t, const uint8_t uuid[HOST_UUID_BYTES]) {
        bool found;
        size_t i = table_find(t, uuid, &found);

        if (!found)
                return 0;
        free(t->entries[i].name);
        memmove(&t->entries[i], &t->entries[i + 1], (t->n - i - 1) * sizeof *t->entries);
        t->n--;
        t->changes++;
        return 1;
}

static int entry_cmp(const void *a, const void *b) {
        const GuestEntry *x = a, *y = b;

        return memcmp(x->uuid, y->uuid, HOST_UUID_BYTES);
}

static bool entry_same(const GuestEntry *a, const GuestEntry *b) {
        return a->state == b->state && a->active == b->active && a->persistent == b->persistent &&
               streq_ptr(a->name, b->name);
}

static void diff_note(GuestTableDiff *d, const uint8_t uuid[HOST_UUID_BYTES]) {
        if (!d->have_example) {
                d->have_example = true;
                memcpy(d->example, uuid, HOST_UUID_BYTES);
        }
}

/* qsort is not stable: the input index breaks ties, so the last of equal
 * UUIDs is the one kept. */
typedef struct Ranked {
        GuestEntry *e;
        size_t idx;
} Ranked;

static int ranked_cmp(const void *a, const void *b) {
        const Ranked *x = a, *y = b;
        int c = entry_cmp(x->e, y->e);

        if (c != 0)
                return c;
        return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int guest_table_replace(GuestTable *t, GuestEntry *entries, size_t n, GuestTableDiff *diff) {
        GuestTableDiff d = {};
        Ranked *r = NULL;
        GuestEntry *ne = NULL;
        size_t m = 0, i, j;

        if (n > 0) {
                r = reallocarray(NULL, n, sizeof *r);
                if (!r)
                        return -ENOMEM;
                for (i = 0; i < n; i++)
                        r[i] = (Ranked){ &entries[i], i };
                qsort(r, n, sizeof *r, ranked_cmp);
                /* Distinct UUIDs, keeping the last of each run. */
                for (i = 0; i < n; i++)
                        if (i + 1 == n || memcmp(r[i].e->uuid, r[i + 1].e->uuid, HOST_UUID_BYTES) != 0)
                                r[m++] = r[i];
                if (m > t->cap) {
                        free(r);
                        return -E2BIG;
                }
                ne = reallocarray(NULL, m, sizeof *ne);
                if (!ne) {
                        free(r);
                        return -ENOMEM;
                }
        }

        /* Merge-walk old and new (both sorted) for the diff. */
        for (i = 0, j = 0; i < t->n || j < m;) {
                int c = i == t->n ? 1
                        : j == m  ? -1
                                  : memcmp(t->entries[i].uuid, r[j].e->uuid, HOST_UUID_BYTES);

                if (c < 0) {
                        d.removed++;
                        diff_note(&d, t->entries[i].uuid);
                        i++;
                } else if (c > 0) {
                        d.added++;
                        diff_note(&d, r[j].e->uuid);
                        j++;
                } else {
                        if (!entry_same(&t->entries[i], r[j].e)) {
                                d.changed++;
                                diff_note(&d, r[j].e->uuid);
                        }
                        i++;
                        j++;
                }
        }

        for (j = 0; j < m; j++) {
                ne[j] = *r[j].e;
                r[j].e->name = NULL;
        }
        free(r);
        entries_free(t->entries, t->n);
        t->entries = ne;
        t->n = t->alloc = m;
        if (d.added + d.removed + d.changed > 0)
                t->changes++;
        if (diff)
                *diff = d;
        return 0;
}
