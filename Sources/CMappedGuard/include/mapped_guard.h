/*
 * Reads from mapped files that survive the file shrinking underneath.
 *
 * A page of a shared file mapping that lies beyond the file's end raises SIGBUS when touched (the
 * file was truncated after it was mapped). While a thread guards a mapped range, the process's
 * SIGBUS handler replaces the rest of that range, from the faulting page on, with zeros, marks the
 * range's poison flag (the mapping is shared: every later reader must learn that it no longer shows
 * the file) and lets the read go on; the thread learns at origo_guard_end() that what it read is not
 * the file's. A SIGBUS anywhere else goes to the handler that was installed before (Apache's, or
 * the default action), so crashes still crash.
 */
#ifndef ORIGO_MAPPED_GUARD_H
#define ORIGO_MAPPED_GUARD_H

#include <stddef.h>
#include <stdint.h>

/* Installs the SIGBUS handler (once per process; later calls do nothing). Returns 0, or an errno. */
int origo_guard_install(void);

/* Starts a guarded section on this thread: no ranges, no fault noted. */
void origo_guard_begin(void);

/* Guards [start, start + length) on this thread until origo_guard_end(); `poison` (the mapping's
   flag, shared by every thread that reads it) is set when a page of the range faults. Returns 0, or
   -1 when the handler is not installed or the thread already guards the most ranges it can (the
   caller must then not read the range through the mapping). */
int origo_guard_add(const void *start, size_t length, int *poison);

/* Ends the section. Returns 1 when a range it guarded faulted or has been poisoned by any thread
   (what was read may hold zeros instead of the file's bytes), else 0. */
int origo_guard_end(void);

/* Counts every fault the handler answers with zeros at `counter` (a relaxed atomic addition; the
   counter may be shared with other processes), or stops counting with NULL. */
void origo_guard_count_faults(uint64_t *counter);

/* Whether a mapping's poison flag is set. */
int origo_guard_poisoned(const int *poison);

#endif
