#define _GNU_SOURCE
#include "mapped_guard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { max_ranges = 8 };

struct guarded_range {
    uintptr_t start;
    uintptr_t end;
    int *poison;
};

/* Per thread; the handler only reads what the faulting thread itself wrote before the fault.
   Initial-exec: the library is loaded with dlopen, where the default model would allocate a
   thread's block on its first access, which may be inside the handler (malloc in a signal
   handler); these few bytes come from the static TLS reserve instead. */
#define THREAD_LOCAL static __thread __attribute__((tls_model("initial-exec")))
THREAD_LOCAL struct guarded_range ranges[max_ranges];
THREAD_LOCAL int range_count;
THREAD_LOCAL volatile sig_atomic_t faulted;

static struct sigaction previous;
static uintptr_t page_size;
static int installed;
static int install_error;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
/* Where faults are counted (origo_guard_count_faults), or NULL. */
static uint64_t *fault_counter;

/* Hands a SIGBUS that is not ours to whoever had it before. */
static void pass_on(int sig, siginfo_t *info, void *context)
{
    /* sa_handler and sa_sigaction share storage: the default and ignore actions are told apart
       first, whatever the flags say. */
    if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
        /* A fault cannot be ignored: restore the default action; returning re-runs the faulting
           instruction, which now ends the process as it would have without us. */
        signal(sig, SIG_DFL);
        if (info->si_code <= 0)
            raise(sig);  /* sent, not a fault: nothing re-runs, so deliver it again */
        return;
    }
    if (previous.sa_flags & SA_SIGINFO)
        previous.sa_sigaction(sig, info, context);
    else
        previous.sa_handler(sig);
}

/* Maps zeros over [from, to), page-aligned; 0 on success. */
static int zero_fill(uintptr_t from, uintptr_t to)
{
    return mmap((void *)from, to - from, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED;
}

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
    /* Only a fault on memory (si_code > 0) has a meaningful address; a SIGBUS sent with kill()
       is not ours. */
    if (info->si_code > 0) {
        uintptr_t address = (uintptr_t)info->si_addr;
        for (int i = 0; i < range_count; i++) {
            if (address < ranges[i].start || address >= ranges[i].end)
                continue;
            /* Every page from here to the end of the range is past the file's end: one mapping
               of zeros for all of them (one signal per request, not one per page), else just
               this page. MAP_FIXED swaps the pages atomically; mmap is a plain system call. */
            uintptr_t page = address & ~(page_size - 1);
            uintptr_t end = (ranges[i].end + page_size - 1) & ~(page_size - 1);
            if (ranges[i].poison != NULL)
                __atomic_store_n(ranges[i].poison, 1, __ATOMIC_SEQ_CST);
            if (zero_fill(page, end) == 0 || zero_fill(page, page + page_size) == 0) {
                uint64_t *counter = __atomic_load_n(&fault_counter, __ATOMIC_RELAXED);
                if (counter != NULL)
                    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
                faulted = 1;
                return;
            }
            break;
        }
    }
    pass_on(sig, info, context);
}

static void install(void)
{
    long size = sysconf(_SC_PAGESIZE);
    if (size <= 0) {
        install_error = EINVAL;
        return;
    }
    page_size = (uintptr_t)size;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, &previous) != 0) {
        install_error = errno;
        return;
    }
    installed = 1;
}

int origo_guard_install(void)
{
    pthread_once(&install_once, install);
    return installed ? 0 : (install_error != 0 ? install_error : EINVAL);
}

void origo_guard_begin(void)
{
    range_count = 0;
    faulted = 0;
}

int origo_guard_add(const void *start, size_t length, int *poison)
{
    if (!installed || range_count >= max_ranges)
        return -1;
    uintptr_t from = (uintptr_t)start;
    ranges[range_count].start = from;
    ranges[range_count].end = length > UINTPTR_MAX - from ? UINTPTR_MAX : from + length;
    ranges[range_count].poison = poison;
    /* The handler reads range_count: the range must be complete before it counts. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    range_count++;
    return 0;
}

int origo_guard_end(void)
{
    int result = faulted ? 1 : 0;
    for (int i = 0; i < range_count; i++) {
        if (ranges[i].poison != NULL && __atomic_load_n(ranges[i].poison, __ATOMIC_SEQ_CST))
            result = 1;
    }
    range_count = 0;
    faulted = 0;
    return result;
}

int origo_guard_poisoned(const int *poison)
{
    return poison != NULL && __atomic_load_n(poison, __ATOMIC_SEQ_CST) ? 1 : 0;
}

void origo_guard_count_faults(uint64_t *counter)
{
    __atomic_store_n(&fault_counter, counter, __ATOMIC_RELAXED);
}
