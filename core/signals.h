/* signals.h: SIGINT, SIGTERM and SIGHUP for the whole process (SIGPIPE is ignored). They are blocked in every thread and
 * taken by one watcher thread, so a signal never interrupts compute: oneDNN runs kernels on
 * stacks of its own that a signal frame overflowed, corrupting the heap (issue 10). */
#ifndef NN_SIGNALS_H
#define NN_SIGNALS_H

/* Blocks SIGINT/SIGTERM in the calling thread (so in every thread it creates later) and
 * starts the watcher. Call first in main(), before any other thread exists. returns 0, or -1
 * when the watcher cannot start (signals then keep their default action). */
int nn_signals_init(void);

/* What a first signal does. With a handler set, the watcher calls fn(arg, signum) and the
 * process goes on (the trainer finishes its step and writes a checkpoint); without one, it
 * prints one line and exits at once with 128 + signum (nothing is being written then).
 * A second signal exits at once with 128 + signum, unless a critical section is open: then
 * the exit waits for the section to end. Setting or clearing waits for a running fn. */
void nn_signals_set_handler(void (*fn)(void *arg, int signum), void *arg);

/* Brackets a write that must not be cut short (a checkpoint's temp file and rename). */
void nn_signals_critical_begin(void);
void nn_signals_critical_end(void);

/* "SIGINT", "SIGTERM" or "SIGHUP" */
const char *nn_signals_name(int signum);

/* the first signal received so far, or 0 */
int nn_signals_received(void);

/* The process is ending with exit code `code` after an error that was said already (by it or,
 * in a data-parallel run, by another process): a signal from now on ends it with that code,
 * without a line of its own (mpirun terminates the processes still running when one exits,
 * and "SIGTERM received" read as if something had interrupted the run). */
void nn_signals_quiet_exit(int code);

#endif
