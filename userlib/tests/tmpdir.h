/*
 * A temporary directory for the Check tests: created by tmp_setup() under
 * $TMPDIR (or /tmp), removed with everything in it by tmp_teardown().
 */
#ifndef SPICE_TESTS_TMPDIR_H
#define SPICE_TESTS_TMPDIR_H

#include <limits.h>

/* The directory, once tmp_setup() ran. */
extern char tmp_dir[PATH_MAX];

/* Create it, named after @prefix; aborts on failure. */
void tmp_setup_named(const char *prefix);
/* Remove it and what it holds. */
void tmp_teardown(void);

#endif /* SPICE_TESTS_TMPDIR_H */
