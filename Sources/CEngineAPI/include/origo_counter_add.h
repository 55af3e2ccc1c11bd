/*
 * The one operation the engine performs on the shared counters of origo_engine.h: a relaxed
 * atomic addition (a negative delta lowers a gauge; the sum wraps as unsigned arithmetic does).
 * Lock-free, so also safe in a signal handler. For the engine's Swift code, which has no atomics
 * on memory it does not own.
 */
#ifndef ORIGO_COUNTER_ADD_H
#define ORIGO_COUNTER_ADD_H

#include <stdint.h>

static inline void origo_counter_add(uint64_t *counter, int64_t delta)
{
    if (counter != 0) {
        __atomic_fetch_add(counter, (uint64_t)delta, __ATOMIC_RELAXED);
    }
}

#endif
