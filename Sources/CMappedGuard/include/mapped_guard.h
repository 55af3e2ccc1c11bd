/*
 * Reads from mapped files that survive the file shrinking underneath.
 *
 * A page of a shared file mapping that lies beyond the file's end raises SIGBUS when touched (the
 * file was truncated after it was mapped). While a thread guards a mapped range, the process's
 * SIGBUS handler replaces such a page with a page of zeros, notes the fault for that thread and lets
 * the read go on; the thread then learns at origo_guard_end() that what it read is not the file's.
 * A SIGBUS anywhere else goes to the handler that was installed before (Apache's, or the default
 * action), so crashes still crash.
 */
#ifndef ORIGO_MAPPED_GUARD_H
#define ORIGO_MAPPED_GUARD_H

#include <stddef.h>

/* Installs the SIGBUS handler (once per process; later calls do nothing). Returns 0, or an errno. */
int origo_guard_install(void);

/* Starts a guarded section on this thread: no ranges, no fault noted. */
void origo_guard_begin(void);

/* Guards [start, start + length) on this thread until origo_guard_end(). Returns 0, or -1 when
   the handler is not installed or the thread already guards the most ranges it can (the caller
   must then not read the range through the mapping). */
int origo_guard_add(const void *start, size_t length);

/* Ends the section. Returns 1 when a guarded page was beyond the end of its file (its bytes were
   read as zeros), else 0. */
int origo_guard_end(void);

#endif
