// See CMappedFileGuard.h. The table is lock-free: a slot goes free → writing → live under
// atomic compare-and-swap, and the handler only reads live slots.
#include "CMappedFileGuard.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

enum { SLOT_FREE = 0, SLOT_WRITING = 1, SLOT_LIVE = 2 };
enum { PATH_CAPACITY = 1024 };

struct slot {
    _Atomic int state;
    uintptr_t base;
    size_t length;
    char path[PATH_CAPACITY];
};

static struct slot slots[DLP_MAPPED_FILE_SLOTS];
static struct sigaction previous;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed;

static void write_all(const char *text, size_t length) {
    while (length > 0) {
        ssize_t written = write(STDERR_FILENO, text, length);
        if (written <= 0) return;
        text += written;
        length -= (size_t)written;
    }
}

static void write_text(const char *text) { write_all(text, strlen(text)); }

static void on_sigbus(int signal, siginfo_t *info, void *context) {
    (void)context;
    // Kernel-generated faults have si_code > 0; kill(2)/raise(3) give SI_USER/SI_TKILL (≤ 0).
    if (info != NULL && info->si_code > 0) {
        uintptr_t address = (uintptr_t)info->si_addr;
        for (int i = 0; i < DLP_MAPPED_FILE_SLOTS; i++) {
            if (atomic_load_explicit(&slots[i].state, memory_order_acquire) != SLOT_LIVE) continue;
            if (address - slots[i].base < slots[i].length) {
                write_text("dlp: ");
                write_text(slots[i].path);
                write_text(" was truncated by another process while being read; the data read from it is lost. "
                           "Wait until whatever rewrites the file has finished (or restore the file: copy or download "
                           "it again), then run the command again.\n");
                _exit(DLP_TRUNCATED_EXIT_STATUS);
            }
        }
    }
    // Not ours: the previous action takes over. A fault re-executes the instruction and faults
    // again under it; a sent signal is sent again.
    sigaction(signal, &previous, NULL);
    if (info == NULL || info->si_code <= 0) raise(signal);
}

static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    installed = sigaction(SIGBUS, &action, &previous) == 0;
}

int dlp_mapped_file_register(const void *base, size_t length, const char *path) {
    pthread_once(&install_once, install);
    if (!installed || base == NULL || length == 0) return 0;
    for (int i = 0; i < DLP_MAPPED_FILE_SLOTS; i++) {
        int expected = SLOT_FREE;
        if (!atomic_compare_exchange_strong(&slots[i].state, &expected, SLOT_WRITING)) continue;
        slots[i].base = (uintptr_t)base;
        slots[i].length = length;
        size_t n = strlen(path);
        if (n >= PATH_CAPACITY) n = PATH_CAPACITY - 1;
        memcpy(slots[i].path, path, n);
        slots[i].path[n] = 0;
        atomic_store_explicit(&slots[i].state, SLOT_LIVE, memory_order_release);
        return 1;
    }
    return 0;
}

void dlp_mapped_file_unregister(const void *base) {
    for (int i = 0; i < DLP_MAPPED_FILE_SLOTS; i++) {
        if (atomic_load_explicit(&slots[i].state, memory_order_acquire) != SLOT_LIVE || slots[i].base != (uintptr_t)base) continue;
        int expected = SLOT_LIVE;
        if (atomic_compare_exchange_strong(&slots[i].state, &expected, SLOT_WRITING)) {
            slots[i].base = 0;
            slots[i].length = 0;
            atomic_store_explicit(&slots[i].state, SLOT_FREE, memory_order_release);
        }
        return;
    }
}
