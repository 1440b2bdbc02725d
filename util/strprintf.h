/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one vasprintf() wrapper: a formatted string in new memory, or NULL
 * when memory runs out (never an indeterminate pointer). Does not log. */
#pragma once

#include <stdarg.h>

#include "util/cleanup.h"

char *strdup_vprintf(const char *format, va_list ap) _printf_(1, 0);
char *strdup_printf(const char *format, ...) _printf_(1, 2);
