// libFuzzer's driver, for targets that start it from their own `main` (SwiftPM on Linux renames an
// executable's entry point, so the `main` in libFuzzer's runtime cannot be used; see Fuzz/Package.swift).
#ifndef COUNTERSIGN_FUZZER_DRIVER_H
#define COUNTERSIGN_FUZZER_DRIVER_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
