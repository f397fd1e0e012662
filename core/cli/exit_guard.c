/* exit_guard.c: the executable's own _exit() and _Exit(). The dynamic linker looks in the
 * executable first, so a plugin's _exit() binds here: from inside a plugin call or plugin
 * file load it is reported (crash.c) and ends nntrain with NN_EXIT_PLUGIN_EXIT, as exit() is;
 * every other caller (nntrain's own _exit after a second SIGINT, a probe child) reaches the C
 * library's, or a sanitizer's, with its status unchanged. It must never allocate or lock. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"
#include "crash.h"

typedef void (*exit_fn)(int);
static exit_fn next_exit, next_Exit;

void nn_cli_exit_guard_init(void)
{
    /* looked up once, here: dlsym may lock, which a forked child must never need */
    *(void **)&next_exit = dlsym(RTLD_NEXT, "_exit"); /* POSIX's way to a function */
    *(void **)&next_Exit = dlsym(RTLD_NEXT, "_Exit");
}

static _Noreturn void leave(exit_fn next, int status)
{
    if (next)
        next(status);
    for (;;)
        syscall(SYS_exit_group, status);
}

void _exit(int status)
{
    leave(next_exit, nn_crash_quick_exit_status("_exit()", status));
}

void _Exit(int status)
{
    leave(next_Exit, nn_crash_quick_exit_status("_Exit()", status));
}
