// A SIGBUS handler for memory-mapped input files. Reading a page of a mapping whose file another
// process truncated raises SIGBUS; for an address inside a registered mapping the handler writes
//
//   dlp: <path> was truncated by another process while being read; ...
//
// to stderr (write(2) only: async-signal-safe) and exits with status 74 (EX_IOERR). A SIGBUS at
// any other address, or one sent by kill(2), gets the action that was installed before (the
// default: terminate with a core dump). The table holds DLP_MAPPED_FILE_SLOTS mappings at once;
// a mapping registered while it is full is not guarded (its SIGBUS stays a crash).
#ifndef CMAPPEDFILEGUARD_H
#define CMAPPEDFILEGUARD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The exit status after a SIGBUS inside a registered mapping (sysexits.h EX_IOERR).
#define DLP_TRUNCATED_EXIT_STATUS 74
/// How many mappings can be guarded at once.
#define DLP_MAPPED_FILE_SLOTS 256

/// Guards `length` bytes mapped at `base` from the file `path`; installs the handler on first use.
/// Returns 1 when registered, 0 when the table is full or the handler could not be installed.
int dlp_mapped_file_register(const void *base, size_t length, const char *path);

/// Stops guarding the mapping at `base` (call before munmap).
void dlp_mapped_file_unregister(const void *base);

#ifdef __cplusplus
}
#endif

#endif
