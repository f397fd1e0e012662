/* crash.h: which plugin call each thread is in, so that a plugin that crashes is named. The
 * core marks every call into a plugin with NN_PLUGIN_CALL; the executable installs the
 * fatal-signal handler once. The handler only reports: it never tries to recover. */
#ifndef NN_CRASH_H
#define NN_CRASH_H

#include <stddef.h>

#include "instance.h"

/* Marks the start and end of a call into inst's plugin on this thread (a few thread-local
 * stores; nests up to 8 deep). call names the vtable slot ("forward"). */
void nn_crash_enter(const nn_instance *inst, const char *call);
void nn_crash_leave(void);
/* Marks the loading of the plugin file at path (dlopen runs its ELF constructors; reading
 * its descriptors may fault): call says what, as "loading it (dlopen runs its constructors)".
 * path is borrowed until the matching nn_crash_leave(). */
void nn_crash_enter_file(const char *path, const char *call);
/* nn_crash_leave() and returns rc, so that a marked call stays one expression */
int nn_crash_leave_rc(int rc);

/* From now on, every thread also writes the slot name of the innermost plugin call in
 * progress ("setup") into buf, or "" between calls; NULL stops. For a crash-isolating child
 * (`plugins test`) whose buf is shared with the parent, which then names the call that died. */
void nn_crash_mirror(char *buf, size_t cap);

/* rc = NN_PLUGIN_CALL(&inst, "forward", vt->forward(inst.self, io, &lerr)); */
#define NN_PLUGIN_CALL(inst, call, expr) (nn_crash_enter((inst), (call)), nn_crash_leave_rc(expr))
/* the same for a slot that returns nothing (destroy) */
#define NN_PLUGIN_VOID(inst, call, expr) (nn_crash_enter((inst), (call)), (expr), nn_crash_leave())

/* Installs handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT that write (write(2)
 * only) which plugin, kind, file and call was running on the crashing thread, then restore
 * the default action and re-raise, so the exit status still shows the signal. Each thread
 * that enters a plugin call gets an alternate signal stack, so a stack overflow is reported
 * too. Call once, early, from the main thread. returns 0 or -1 (errno set). */
int nn_crash_install(void);

/* Registers an atexit handler: an exit() in this process before nn_crash_allow_exit() (a
 * plugin's, from any call or constructor) writes which plugin call or file load was running,
 * as the crash handler does, and ends the process with _exit(status) instead of the status
 * the plugin chose, so that nntrain never reports success it did not reach. A forked child's
 * exit() is left alone (its parent judges it). Call once, from main, after
 * nn_crash_install(). returns 0 or -1. */
int nn_crash_guard_exit(int status);
/* For the executable's exit(), before the C library's: an exit() the guard does not allow is
 * reported and ends the process here, before any atexit handler or library destructor (which
 * one on another thread may still be using) runs; an allowed one returns. */
void nn_crash_check_exit(void);
/* For the executable's _exit()/_Exit() (how names it): when the calling thread is in a
 * plugin call or file load of the guarded process, writes the report as for exit() and
 * returns the guard's status; otherwise (nntrain's own _exit, a forked child's) returns
 * status unchanged. */
int nn_crash_quick_exit_status(const char *how, int status);
/* From now on exit() is nntrain's own: main is returning its status. */
void nn_crash_allow_exit(void);

#endif
