/* threads.h: the compute thread count. The core links no OpenMP, but the oneDNN plugins do;
 * when an OpenMP runtime is loaded, this sets the calling (compute) thread's team size. */
#ifndef NN_THREADS_H
#define NN_THREADS_H

#include <stdint.h>

/* The count the trainer picks when the user gave none: one thread for models too small to
 * amortise a parallel region (the loader shares the cores), every core otherwise. */
int nn_threads_auto(uint64_t forward_flops_per_batch);

/* Applies n to the OpenMP runtime already loaded in the process; returns 0, or -1 when no
 * runtime is loaded (then nothing needs it). */
int nn_threads_apply(int n);

#endif
