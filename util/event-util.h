/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sd-event helpers that libsystemd 239 (RHEL 8) lacks: relative timers and
 * disable+unref. Built on sd_event_now() and absolute times, which every
 * supported libsystemd has, so both code paths behave the same. None logs. */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

/* Like sd_event_add_time_relative() (libsystemd 247): a one-shot timer usec
 * from the loop's current notion of now on clock. Returns 0 or -errno. */
int event_add_time_relative(sd_event *e, sd_event_source **ret, clockid_t clock, uint64_t usec,
                            uint64_t accuracy, sd_event_time_handler_t callback, void *userdata);

/* Like sd_event_source_set_time_relative() (libsystemd 247): sets s's
 * expiry to usec from now on s's clock; its enabled state is not touched.
 * Returns 0 or -errno. */
int event_source_set_time_relative(sd_event_source *s, uint64_t usec);

/* Like sd_event_source_disable_unref() (libsystemd 243): turns s off, so a
 * reference held elsewhere cannot fire it again, and drops ours. Accepts
 * NULL; returns NULL. */
sd_event_source *event_source_disable_unref(sd_event_source *s);
