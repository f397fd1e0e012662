/* train_state.h: checks that decide whether a checkpoint may be loaded into a session, shared
 * by resume (train_state.c), eval and predict. */
#ifndef NN_TRAIN_STATE_H
#define NN_TRAIN_STATE_H

#include "checkpoint.h"
#include "session.h"

/* Every tensor of c must belong to the model (or, with_optim, to its optimizer; without,
 * optimizer slots are skipped), and, unless allow_nonfinite, hold only finite values. */
int nn_ckpt_check_tensors(const nn_checkpoint *c, const char *path, nn_session *s,
                          int with_optim, int allow_nonfinite, nn_error *err);
/* The samples the session's data gives must have the shape the checkpoint was trained on. */
int nn_ckpt_check_input(const nn_checkpoint *c, const char *path, nn_session *s,
                        nn_error *err);

/* Compares the model file a checkpoint was trained with (old_text) with the session's.
 * Changes that alter the trained function (layers, loss, transforms, dataset type,
 * optimizer type; batch size mid-epoch) are refused with the list of them; the others apply
 * and, when print is set, are printed as "changed on resume: optimizer.lr 0.1 -> 0.001". */
int nn_resume_config_diff(nn_session *s, const char *old_text, const char *path,
                          int64_t step_in_epoch, int print, nn_error *err);

/* eval --split val: refuses a session whose [data] keys (but the test split's) differ from
 * those of the model file the checkpoint at path was trained with (old_text): its validation
 * part would be another one, overlapping what the run trained on. */
int nn_val_split_diff(nn_session *s, const char *old_text, const char *path, nn_error *err);

/* The seed a training checkpoint was trained with: 1 and *seed when path (or, for "auto",
 * run_dir/last.safetensors) holds one, 0 when there is none to read (its errors are the
 * resume's own to report, with the whole checkpoint read). */
int nn_resume_seed(const char *resume, const char *run_dir, uint64_t *seed);
/* the same of a checkpoint already read: 1 and *seed, or 0 */
int nn_checkpoint_seed(const nn_checkpoint *c, uint64_t *seed);

#endif
