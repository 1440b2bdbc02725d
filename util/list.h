/* SPDX-License-Identifier: GPL-2.0-or-later */
/* An intrusive doubly-linked list, after systemd's list.h: a struct that
 * embeds LIST_FIELDS(Type, name) can sit in one list called name; the head is
 * a plain Type pointer. O(1) prepend and remove, no allocation. */
#pragma once

#include <stddef.h>

#define LIST_FIELDS(t, name) t *name##_next, *name##_prev

/* Puts item at the front of the list whose head is *head. */
#define LIST_PREPEND(name, head, item)                                 \
        do {                                                           \
                __typeof__(*(head)) **_head_ = &(head), *_i_ = (item); \
                _i_->name##_prev = NULL;                               \
                _i_->name##_next = *_head_;                            \
                if (*_head_)                                           \
                        (*_head_)->name##_prev = _i_;                  \
                *_head_ = _i_;                                         \
        } while (0)

/* Takes item out of the list whose head is *head; a no-op for an item that
 * is in no list (both links NULL and not the head). */
#define LIST_REMOVE(name, head, item)                                     \
        do {                                                              \
                __typeof__(*(head)) **_head_ = &(head), *_i_ = (item);    \
                if (_i_->name##_next)                                     \
                        _i_->name##_next->name##_prev = _i_->name##_prev; \
                if (_i_->name##_prev)                                     \
                        _i_->name##_prev->name##_next = _i_->name##_next; \
                else if (*_head_ == _i_)                                  \
                        *_head_ = _i_->name##_next;                       \
                _i_->name##_next = _i_->name##_prev = NULL;               \
        } while (0)

#define LIST_FOREACH(name, i, head) for ((i) = (head); (i); (i) = (i)->name##_next)
