/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sd-event helpers for libsystemd 239 and later; see event-util.h. */
#include "util/event-util.h"

#include <errno.h>

static uint64_t add_saturating(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int event_add_time_relative(sd_event *e, sd_event_source **ret, clockid_t clock, uint64_t usec,
                            uint64_t accuracy, sd_event_time_handler_t callback, void *userdata) {
        uint64_t now;
        int r;

        r = sd_event_now(e, clock, &now);
        if (r < 0)
                return r;
        return sd_event_add_time(e, ret, clock, add_saturating(now, usec), accuracy, callback, userdata);
}

int event_source_set_time_relative(sd_event_source *s, uint64_t usec) {
        clockid_t clock;
        uint64_t now;
        int r;

        if (!s)
                return -EINVAL;
        r = sd_event_source_get_time_clock(s, &clock);
        if (r < 0)
                return r;
        r = sd_event_now(sd_event_source_get_event(s), clock, &now);
        if (r < 0)
                return r;
        return sd_event_source_set_time(s, add_saturating(now, usec));
}

sd_event_source *event_source_disable_unref(sd_event_source *s) {
        if (!s)
                return NULL;
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return sd_event_source_unref(s);
}
