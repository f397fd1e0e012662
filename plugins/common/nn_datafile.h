/* nn_datafile.h: how the stock data plugins find and read their files: a path resolved from
 * the model file's directory, a whole file read into memory, and its lines one at a time.
 * Part of libnn_datautil.a, a static helper linked into each plugin (never into libnncore);
 * it holds no state and never prints. */
#ifndef NN_DATAFILE_H
#define NN_DATAFILE_H

#include <stddef.h>
#include <stdio.h>

#include <nntrain/status.h>

/* Writes f resolved against base into buf: an absolute f (or a NULL base) as given, else
 * base/f. returns NN_OK, or NN_EINVAL naming the path when it does not fit in cap bytes. */
int nnd_resolve(char *buf, size_t cap, const char *base, const char *f, nn_error *err);

/* The same for file f of directory dir: an absolute f as given, an absolute dir (or a NULL
 * base) as dir/f, else base/dir/f. */
int nnd_join(char *buf, size_t cap, const char *base, const char *dir, const char *f,
             nn_error *err);

/* Opens path for reading with nn_file_open, so a FIFO, directory or device is refused at once
 * instead of blocking or reading forever. `what` names the file's role in messages ("training
 * file"); may be NULL. returns NN_OK with *f open (the caller fcloses it) or a negative status
 * with err naming the path and what it is. */
int nnd_fopen(const char *path, const char *what, FILE **f, nn_error *err);

/* Creates (or empties) the regular file path for writing, as nnd_fopen does for reading: a
 * symbolic link, FIFO, directory or device there is refused at once. returns NN_OK with *f
 * open for writing (the caller fcloses it) or a negative status with err naming the path. */
int nnd_fcreate(const char *path, const char *what, FILE **f, nn_error *err);

/* Reads the whole file at path into *out (malloc'd, freed by the caller), its size in *len,
 * followed by one NUL byte that *len does not count. Opened as nnd_fopen does. */
int nnd_read_all(const char *path, const char *what, char **out, size_t *len, nn_error *err);

/* Walks the lines of a buffer in place. A line ends at LF, CRLF or a lone CR; the last one
 * may lack an ending. buf[len] must be writable (nnd_read_all leaves that byte). A UTF-8 byte
 * order mark at the start of buf is skipped: text files from Windows tools begin with one. */
typedef struct nnd_lines {
    char *at, *end;
    int line; /* number of the line nnd_lines_next returned last, counted from 1 */
} nnd_lines;

void nnd_lines_init(nnd_lines *it, char *buf, size_t len);

/* returns the next line, NUL-terminated in place without its ending, with its length in *len
 * (a NUL byte inside the line is kept and counted: check with memchr when it matters), or
 * NULL after the last line. */
char *nnd_lines_next(nnd_lines *it, size_t *len);

#endif
