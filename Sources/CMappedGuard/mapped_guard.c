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

/* Hands a SIGBUS that is not ours to whoever had it before. */
static void pass_on(int sig, siginfo_t *info, void *context)
{
    if (previous.sa_flags & SA_SIGINFO) {
        previous.sa_sigaction(sig, info, context);
        return;
    }
    if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
        /* A fault cannot be ignored: restore the default action; returning re-runs the faulting
           instruction, which now ends the process as it would have without us. */
        signal(sig, SIG_DFL);
        return;
    }
    previous.sa_handler(sig);
}

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int i = 0; i < range_count; i++) {
        if (address >= ranges[i].start && address < ranges[i].end) {
            void *page = (void *)(address & ~(page_size - 1));
            /* mmap is a plain system call here; MAP_FIXED swaps the page atomically. */
            if (mmap(page, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
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

int origo_guard_add(const void *start, size_t length)
{
    if (!installed || range_count >= max_ranges)
        return -1;
    uintptr_t from = (uintptr_t)start;
    ranges[range_count].start = from;
    ranges[range_count].end = length > UINTPTR_MAX - from ? UINTPTR_MAX : from + length;
    /* The handler reads range_count: the range must be complete before it counts. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    range_count++;
    return 0;
}

int origo_guard_end(void)
{
    range_count = 0;
    int result = faulted ? 1 : 0;
    faulted = 0;
    return result;
}
