/* threads.c: chooses and applies the compute thread count (TOOLCHAIN.md: spin-waiting
 * OpenMP threads collapse when the loader shares the cores, and small steps do not amortise
 * a parallel region). Only touches an OpenMP runtime that a plugin already loaded. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <unistd.h>

#include "dist.h"
#include "threads.h"

/* below this, a step is a few milliseconds of small primitives: measured on the Fashion-MNIST
 * MLP (60 MFLOP/batch), 1 thread trains 2x faster than 2 while the loader runs */
#define SMALL_MODEL_FLOPS 256000000ull

int nn_threads_auto(uint64_t flops)
{
    /* the processes a launcher started on this host share its cores */
    long cores = sysconf(_SC_NPROCESSORS_ONLN) / nn_dist_local_ranks();
    if (cores < 1)
        cores = 1;
    return flops < SMALL_MODEL_FLOPS ? 1 : (int)cores;
}

int nn_threads_apply(int n)
{
    static const char *const libs[] = {"libgomp.so.1", "libomp.so.5", "libiomp5.so"};
    for (unsigned i = 0; i < sizeof libs / sizeof *libs; i++) {
        void *h = dlopen(libs[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!h)
            continue;
        void *sym = dlsym(h, "omp_set_num_threads");
        if (sym) {
            void (*set)(int);
            /* -Wpedantic: object pointer to function pointer through memcpy */
            __builtin_memcpy(&set, &sym, sizeof set);
            set(n);
        }
        dlclose(h);
        return sym ? 0 : -1;
    }
    return -1;
}
