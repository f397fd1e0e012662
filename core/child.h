/* child.h: what the core's crash-isolating child processes share (the registry's load probe,
 * `plugins test`'s checks): dying of a deadly signal itself, and the sentence that names how
 * a child died. */
#ifndef NN_CHILD_H
#define NN_CHILD_H

#include <stddef.h>

/* In a fresh child: SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP back to their default,
 * so the parent sees the signal (a sanitizer's handler would turn a crash into exit(1), and a
 * host's handler could do anything). */
void nn_child_default_signals(void);

/* "crashed<when>: SIGSEGV (Segmentation fault)", "called exit(3)<when> (...)"; when is a
 * phrase such as " while loading", or "". */
void nn_child_describe(int wait_status, const char *when, char *buf, size_t cap);

#endif
