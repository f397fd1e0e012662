/* checkpoint.h: safetensors files: model tensors, optimizer slots and string metadata.
 * Writes are atomic (temp file, fsync, rename, directory fsync): a crash at any instant leaves
 * the previous file intact. The reader enforces the format's rules and trusts nothing; the
 * tensor bytes carry a checksum (NN_CKPT_CRC_KEY). */
#ifndef NN_CHECKPOINT_H
#define NN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "nntrain/status.h"
#include "nntrain/tensor.h"

#define NN_CKPT_MAX_HEADER 100000000u /* as the reference implementation */
/* the __metadata__ entry every file written here carries: the crc32 of its tensor bytes (8
 * hex digits), which the reader checks when present (files from elsewhere have none) */
#define NN_CKPT_CRC_KEY "data_crc32"

typedef struct nn_ckpt_entry {
    const char *name;
    const nn_tensor *t; /* contiguous */
} nn_ckpt_entry;

typedef struct nn_ckpt_meta {
    const char *key;
    const char *value;
} nn_ckpt_meta;

int nn_checkpoint_write(const char *path, const nn_ckpt_entry *tensors, int n,
                        const nn_ckpt_meta *meta, int n_meta, nn_error *err);
/* The same with file_replace.h's flags (NN_FILE_USER for a path the user named). */
int nn_checkpoint_write_to(const char *path, int flags, const nn_ckpt_entry *tensors, int n,
                           const nn_ckpt_meta *meta, int n_meta, nn_error *err);

typedef struct nn_checkpoint nn_checkpoint;

/* Reads and validates a whole file; err names the file and the rule broken. */
int nn_checkpoint_read(const char *path, nn_checkpoint **out, nn_error *err);
/* Same from memory (the fuzz target's entry); name is used in messages; buf is copied. */
int nn_checkpoint_parse(const uint8_t *buf, size_t len, const char *name, nn_checkpoint **out,
                        nn_error *err);
void nn_checkpoint_free(nn_checkpoint *c);
/* the file's bytes as read (borrowed): what a data-parallel run's rank 0 sends the others */
void nn_checkpoint_bytes(const nn_checkpoint *c, const uint8_t **buf, size_t *len);

/* returns the metadata value or NULL; borrowed */
const char *nn_checkpoint_meta(const nn_checkpoint *c, const char *key);
int nn_checkpoint_count(const nn_checkpoint *c);
const char *nn_checkpoint_name(const nn_checkpoint *c, int i);
/* a borrowed view of tensor `name` (data points into the loaded file and may be unaligned:
 * read it with memcpy or nn_checkpoint_load), or NULL */
const nn_tensor *nn_checkpoint_tensor(const nn_checkpoint *c, const char *name);
/* Copies tensor `name` into dst, which must have the same dtype and shape; err says which
 * differs. */
int nn_checkpoint_load(const nn_checkpoint *c, const char *name, nn_tensor *dst, nn_error *err);

#endif
