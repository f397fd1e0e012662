/* cu_algo.h: the CUDA pack's cache of library algorithm choices. A choice (a cuDNN
 * convolution algorithm, a cuBLASLt matmul heuristic) is made once per problem shape and
 * found again by that shape, so plans of the same shapes (a training and an evaluation plan,
 * a second batch size that repeats) never search twice. Plain C; never touches the device. */
#ifndef NN_CU_ALGO_H
#define NN_CU_ALGO_H

#include <stddef.h>
#include <stdint.h>

#define CU_ALGO_KEY 24   /* integers that describe a problem */
#define CU_ALGO_VALUE 96 /* bytes of the choice (cublasLtMatmulAlgo_t is 64) */

typedef struct cu_algo_key {
    int32_t kind;               /* what is chosen: CU_ALGO_* of the caller */
    int32_t n;                  /* integers used in v */
    int64_t v[CU_ALGO_KEY];
} cu_algo_key;

typedef struct cu_algo_entry {
    cu_algo_key key;
    unsigned char value[CU_ALGO_VALUE];
    size_t workspace; /* bytes the choice needs */
} cu_algo_entry;

typedef struct cu_algo_cache {
    cu_algo_entry *e;
    int n, cap;
    uint64_t hits, misses;
} cu_algo_cache;

/* a key from up to CU_ALGO_KEY integers (more is a programming error: returns -1) */
int cu_algo_key_make(cu_algo_key *k, int kind, int n, const int64_t *v);
/* the cached choice for k, or NULL (counts a hit or a miss) */
const cu_algo_entry *cu_algo_find(cu_algo_cache *c, const cu_algo_key *k);
/* stores (or replaces) the choice for k; -1 when out of memory or value is too large */
int cu_algo_put(cu_algo_cache *c, const cu_algo_key *k, const void *value, size_t size,
                size_t workspace);
void cu_algo_free(cu_algo_cache *c);

#endif
