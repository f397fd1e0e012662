/* hash.h: 64-bit FNV-1a, the one non-cryptographic hash of the core: layer seeds from layer
 * names (graph.c), replica and data checks between processes (train_dist.c), cv fold records
 * keyed by the model text (cli/cv.c). Its values are part of what a run reproduces: a layer's
 * initial weights depend on it, so it never changes. */
#ifndef NN_HASH_H
#define NN_HASH_H

#include <stddef.h>
#include <stdint.h>

#define NN_HASH_INIT 0xcbf29ce484222325ull

/* the hash of n bytes at p, chained through h (start with NN_HASH_INIT) */
static inline uint64_t nn_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#endif
