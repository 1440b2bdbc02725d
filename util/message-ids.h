/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The journal's MESSAGE_ID of each event an operator alerts on, defined
 * once for every module (host/ logs the libvirt one, agent/ the others).
 * 128-bit ids made once with `systemd-id128 new`; they never change, so
 * `journalctl MESSAGE_ID=...` and alert rules keep working across releases.
 * hvmap(8) JOURNAL FIELDS lists them; tests/system/test_host.py reads them
 * back through a real journal. Each macro is a whole journal field. */
#pragma once

/* Registered with the server (HVMAP_CONSUMER, HVMAP_SERVER). */
#define HVMAP_MESSAGE_REGISTERED "MESSAGE_ID=23a51c39ecf14ad08657479eaa8d97f4"
/* A report was accepted (HVMAP_GUESTS, HVMAP_CONSUMER, HVMAP_SERVER,
 * HVMAP_HTTP_STATUS). */
#define HVMAP_MESSAGE_REPORT_ACCEPTED "MESSAGE_ID=0b507acf87784cd7ba2cddeb0a88a76b"
/* The server says an administrator deleted our consumer (410 with our
 * deletedId): reporting stops. */
#define HVMAP_MESSAGE_CONSUMER_DELETED "MESSAGE_ID=4570479acd914a0f885d5bfc22abbc66"
/* The server refused our credentials (401, 403, 407). */
#define HVMAP_MESSAGE_AUTH_FAILED "MESSAGE_ID=8f2245083a7f4185960603987fb4a672"
/* The connection to libvirt was lost, or libvirt stopped answering. */
#define HVMAP_MESSAGE_LIBVIRT_LOST "MESSAGE_ID=18b54a7f206e4d13bc63f41b4fbd7354"
/* Every report (or registration) has failed for an hour; logged once per
 * run of failures. */
#define HVMAP_MESSAGE_REPORT_FAILING "MESSAGE_ID=0b631ce7d1324be48e19bc88afa3bff6"
