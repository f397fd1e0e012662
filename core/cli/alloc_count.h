/* alloc_count.h: the counting allocator of the nntrain executable (and of tests that link
 * alloc_count.c), which `plugins test` uses for its allocation and leak checks. */
#ifndef NN_ALLOC_COUNT_H
#define NN_ALLOC_COUNT_H

#include "plugtest/plugtest.h"

/* returns the counter, or NULL in a build where malloc cannot be interposed (AddressSanitizer
 * owns it) */
const nn_alloc_counter *nn_alloc_counter_get(void);

#endif
